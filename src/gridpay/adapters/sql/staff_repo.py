"""Staff, sessions, failed sign-ins and shift closes in SQL; the append-only audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, or_, select, update

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_utc
from gridpay.domain.actors import Role
from gridpay.domain.audit_trail import AuditEntry, AuditQuery
from gridpay.domain.ledger import Channel, TransferKind
from gridpay.ports.staff import CashTaken, ShiftClose, StaffMember

# The audit actions whose transfers are the cash a clerk takes at the counter.
CASH_ACTIONS = ("payment.take", "payment.reverse")
# Every write appends one entry: the statement is built once (a Core insert built per call,
# then hashed for the compiled cache, cost more than running it).
_AUDIT_COLUMNS = (
    "at",
    "actor_kind",
    "actor_id",
    "actor_role",
    "actor_office_id",
    "action",
    "account_id",
    "subject",
    "amount_fen",
    "reason",
    "detail",
)
_RECORD = insert(schema.audit_log).values(
    {c: bindparam(c, type_=schema.audit_log.c[c].type) for c in _AUDIT_COLUMNS}
)


def _utc(at: dt.datetime) -> dt.datetime:
    value = as_utc(at)
    assert value is not None
    return value


def _entry_values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": _utc(entry.at),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "actor_office_id": entry.actor_office_id,
        "action": entry.action,
        "account_id": entry.account_id,
        "subject": entry.subject,
        "amount_fen": entry.amount_fen,
        "reason": entry.reason,
        "detail": entry.detail,
    }


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _member(row: Any) -> StaffMember:
    return StaffMember(
        id=int(row.id),
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        office_id=row.office_id,
        active=bool(row.active),
        password_hash=row.password_hash,
        created_at=_utc(row.created_at),
    )


def _close(row: Any) -> ShiftClose:
    return ShiftClose(
        id=int(row.id),
        staff_id=int(row.staff_id),
        username=row.username,
        office_id=int(row.office_id),
        closed_at=_utc(row.closed_at),
        last_audit_id=int(row.last_audit_id),
        payments=int(row.payments),
        ledger_fen=int(row.ledger_fen),
        counted_fen=int(row.counted_fen),
        note=row.note,
        explained_by=row.explained_by,
        explanation=row.explanation,
        explained_at=as_utc(row.explained_at),
    )


class SqlStaffRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_staff(
        self,
        username: str,
        display_name: str,
        password_hash: str,
        role: Role,
        office_id: int | None,
        now: dt.datetime,
    ) -> int | None:
        s = schema.staff
        if self.conn.execute(select(s.c.id).where(s.c.username == username)).first():
            return None
        result = self.conn.execute(
            insert(s).values(
                username=username,
                display_name=display_name,
                password_hash=password_hash,
                role=role.value,
                office_id=office_id,
                active=True,
                created_at=_utc(now),
                password_changed_at=_utc(now),
            )
        )
        return _new_id(result)

    def staff_by_username(self, username: str) -> StaffMember | None:
        s = schema.staff
        row = self.conn.execute(select(s).where(s.c.username == username)).first()
        return _member(row) if row is not None else None

    def staff_by_id(self, staff_id: int) -> StaffMember | None:
        s = schema.staff
        row = self.conn.execute(select(s).where(s.c.id == staff_id)).first()
        return _member(row) if row is not None else None

    def list_staff(self) -> list[StaffMember]:
        s = schema.staff
        return [_member(r) for r in self.conn.execute(select(s).order_by(s.c.username))]

    def set_active(self, staff_id: int, active: bool) -> None:
        s = schema.staff
        self.conn.execute(update(s).where(s.c.id == staff_id).values(active=active))

    def set_password_hash(self, staff_id: int, password_hash: str, now: dt.datetime) -> None:
        s = schema.staff
        self.conn.execute(
            update(s)
            .where(s.c.id == staff_id)
            .values(password_hash=password_hash, password_changed_at=_utc(now))
        )

    def end_sessions(self, staff_id: int, now: dt.datetime) -> int:
        t = schema.staff_sessions
        result = self.conn.execute(
            update(t)
            .where(t.c.staff_id == staff_id, t.c.ended_at.is_(None))
            .values(ended_at=_utc(now))
        )
        return int(result.rowcount)

    def add_session(
        self, token_hash: str, staff_id: int, now: dt.datetime, expires_at: dt.datetime
    ) -> None:
        self.conn.execute(
            insert(schema.staff_sessions).values(
                token_hash=token_hash,
                staff_id=staff_id,
                created_at=_utc(now),
                expires_at=_utc(expires_at),
            )
        )

    def session_staff(self, token_hash: str, now: dt.datetime) -> StaffMember | None:
        t, s = schema.staff_sessions, schema.staff
        row = self.conn.execute(
            select(s)
            .join(t, t.c.staff_id == s.c.id)
            .where(
                t.c.token_hash == token_hash,
                t.c.ended_at.is_(None),
                t.c.expires_at > _utc(now),
                s.c.active.is_(True),
            )
        ).first()
        return _member(row) if row is not None else None

    def end_session(self, token_hash: str, now: dt.datetime) -> None:
        t = schema.staff_sessions
        self.conn.execute(
            update(t)
            .where(t.c.token_hash == token_hash, t.c.ended_at.is_(None))
            .values(ended_at=_utc(now))
        )

    def add_signin_failure(self, username: str, client: str, now: dt.datetime) -> None:
        self.conn.execute(
            insert(schema.staff_signin_failures).values(
                username=username[:64], client=client[:64], at=_utc(now)
            )
        )

    def signin_failures(self, username: str, client: str, since: dt.datetime) -> int:
        f = schema.staff_signin_failures
        counts = []
        for column, value in ((f.c.username, username[:64]), (f.c.client, client[:64])):
            n = self.conn.execute(
                select(func.count()).where(column == value, f.c.at > _utc(since))
            ).scalar_one()
            counts.append(int(n))
        return max(counts)

    def last_shift_close(self, staff_id: int) -> ShiftClose | None:
        rows = self._closes(schema.shift_closes.c.staff_id == staff_id, 1)
        return rows[0] if rows else None

    def cash_taken(self, actor_id: str, after_audit_id: int) -> CashTaken:
        a, t = schema.audit_log, schema.transfers
        signed = case(
            (t.c.kind == TransferKind.REVERSAL.value, -t.c.amount_fen), else_=t.c.amount_fen
        )
        row = self.conn.execute(
            select(
                func.count(case((t.c.kind == TransferKind.PAYMENT.value, 1))).label("payments"),
                func.coalesce(func.sum(signed), 0).label("amount_fen"),
                func.max(a.c.id).label("last_id"),
            )
            .select_from(a.join(t, t.c.id == a.c.subject))
            .where(
                a.c.actor_kind == "staff",
                a.c.actor_id == actor_id,
                a.c.action.in_(CASH_ACTIONS),
                a.c.id > after_audit_id,
                t.c.channel == Channel.COUNTER.value,
            )
        ).one()
        return CashTaken(
            payments=int(row.payments),
            amount_fen=int(row.amount_fen),
            last_audit_id=int(row.last_id) if row.last_id is not None else after_audit_id,
        )

    def add_shift_close(
        self,
        staff_id: int,
        office_id: int,
        now: dt.datetime,
        taken: CashTaken,
        counted_fen: int,
        note: str | None,
    ) -> int:
        result = self.conn.execute(
            insert(schema.shift_closes).values(
                staff_id=staff_id,
                office_id=office_id,
                closed_at=_utc(now),
                last_audit_id=taken.last_audit_id,
                payments=taken.payments,
                ledger_fen=taken.amount_fen,
                counted_fen=counted_fen,
                note=note,
            )
        )
        return _new_id(result)

    def shift_close(self, close_id: int) -> ShiftClose | None:
        rows = self._closes(schema.shift_closes.c.id == close_id, 1)
        return rows[0] if rows else None

    def shift_closes(self, office_id: int | None, limit: int) -> list[ShiftClose]:
        c = schema.shift_closes
        where = c.c.office_id == office_id if office_id is not None else c.c.id.is_not(None)
        return self._closes(where, limit)

    def _closes(self, where: Any, limit: int) -> list[ShiftClose]:
        c, s = schema.shift_closes, schema.staff
        rows = self.conn.execute(
            select(c, s.c.username)
            .join(s, s.c.id == c.c.staff_id)
            .where(where)
            .order_by(c.c.id.desc())
            .limit(limit)
        )
        return [_close(r) for r in rows]

    def explain_shift_close(
        self, close_id: int, supervisor: str, explanation: str, now: dt.datetime
    ) -> bool:
        c = schema.shift_closes
        result = self.conn.execute(
            update(c)
            .where(c.c.id == close_id, c.c.explained_at.is_(None))
            .values(explained_by=supervisor, explanation=explanation, explained_at=_utc(now))
        )
        return int(result.rowcount) == 1


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=int(row.id),
        at=_utc(row.at),
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        actor_office_id=row.actor_office_id,
        action=row.action,
        account_id=int(row.account_id) if row.account_id is not None else None,
        subject=row.subject,
        amount_fen=int(row.amount_fen) if row.amount_fen is not None else None,
        reason=row.reason,
        detail=row.detail,
    )


class SqlAuditLogRepo:
    """Appends and reads only: there is deliberately no update or delete here (and the
    database's triggers refuse them)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(self, entry: AuditEntry) -> int:
        assert entry.id is None, entry
        result = self.conn.execute(_RECORD, _entry_values(entry))
        return _new_id(result)

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        """Append several entries in one executemany (their ids are not needed)."""
        assert all(e.id is None for e in entries), entries
        if entries:
            self.conn.execute(_RECORD, [_entry_values(e) for e in entries])

    def search(self, query: AuditQuery) -> list[AuditEntry]:
        a = schema.audit_log
        stmt = select(a).order_by(a.c.id.desc()).limit(query.limit)
        if query.account_id is not None:
            stmt = stmt.where(a.c.account_id == query.account_id)
        if query.actor_id is not None:
            stmt = stmt.where(
                or_(
                    a.c.actor_id == query.actor_id,
                    (a.c.actor_kind + ":" + a.c.actor_id) == query.actor_id,
                )
            )
        if query.action is not None:
            if query.action.endswith("."):
                stmt = stmt.where(a.c.action.startswith(query.action, autoescape=True))
            else:
                stmt = stmt.where(a.c.action == query.action)
        if query.subject is not None:
            stmt = stmt.where(a.c.subject == query.subject)
        if query.entry_id is not None:
            stmt = stmt.where(a.c.id == query.entry_id)
        if query.since is not None:
            stmt = stmt.where(a.c.at >= _utc(query.since))
        return [_entry(r) for r in self.conn.execute(stmt)]
