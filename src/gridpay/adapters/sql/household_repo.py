"""Households signing in, and the home page's usage read, in SQL.

The usage read seeks ``daily_usage``'s primary key (day, account_id) once per day of the range,
as ``queries_repo`` does: a range on ``day`` would read every account's rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.settlement_repo import days_between
from gridpay.domain.household import (
    CodeStatus,
    HomeFacts,
    NewestDecision,
    Role,
    Session,
    SignInCode,
    UsageRow,
)


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class SqlHouseholdRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- codes -----------------------------------------------------------------------------

    def add_code(
        self,
        *,
        challenge_hash: str,
        account_id: int,
        phone: str,
        role: Role,
        code_hash: str,
        client_key: str,
        requested_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> int:
        c = schema.household_codes
        self.conn.execute(
            update(c)
            .where(c.c.account_id == account_id, c.c.phone == phone, c.c.status == "pending")
            .values(status=CodeStatus.SUPERSEDED.value)
        )
        result = self.conn.execute(
            c.insert().values(
                challenge_hash=challenge_hash,
                account_id=account_id,
                phone=phone,
                role=role.value,
                code_hash=code_hash,
                client_key=client_key,
                requested_at=requested_at,
                expires_at=expires_at,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def code_by_challenge(self, challenge_hash: str) -> SignInCode | None:
        c = schema.household_codes
        row = self.conn.execute(
            select(
                c.c.id,
                c.c.account_id,
                c.c.phone,
                c.c.role,
                c.c.code_hash,
                c.c.expires_at,
                c.c.attempts,
                c.c.status,
            ).where(c.c.challenge_hash == challenge_hash)
        ).first()
        if row is None:
            return None
        return SignInCode(
            id=row.id,
            account_id=row.account_id,
            phone=row.phone,
            role=Role(row.role),
            code_hash=row.code_hash,
            expires_at=_utc(row.expires_at),
            attempts=row.attempts,
            status=CodeStatus(row.status),
        )

    def codes_since(
        self,
        since: dt.datetime,
        *,
        account_id: int | None = None,
        phone: str | None = None,
        client_key: str | None = None,
    ) -> int:
        c = schema.household_codes
        keys = [
            column == value
            for column, value in (
                (c.c.account_id, account_id),
                (c.c.phone, phone),
                (c.c.client_key, client_key),
            )
            if value is not None
        ]
        assert len(keys) == 1, "one rate-limit key at a time (each has its own index)"
        stmt = select(func.count()).where(keys[0], c.c.requested_at > since)
        return int(self.conn.execute(stmt).scalar_one())

    def count_attempt(self, code_id: int, status: CodeStatus, at: dt.datetime) -> None:
        c = schema.household_codes
        values: dict[str, Any] = {"attempts": c.c.attempts + 1, "status": status.value}
        if status is CodeStatus.USED:
            values["used_at"] = at
        self.conn.execute(update(c).where(c.c.id == code_id).values(**values))

    # --- sessions --------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self.conn.execute(
            schema.household_sessions.insert().values(
                token_hash=session.token_hash,
                account_id=session.account_id,
                phone=session.phone,
                role=session.role.value,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
            )
        )

    def session(self, token_hash: str) -> Session | None:
        row = self.conn.execute(_SESSION, {"token_hash": token_hash}).first()
        if row is None:
            return None
        return Session(
            token_hash=row.token_hash,
            account_id=row.account_id,
            phone=row.phone,
            role=Role(row.role),
            created_at=_utc(row.created_at),
            last_seen_at=_utc(row.last_seen_at),
            expires_at=_utc(row.expires_at),
        )

    def touch_session(self, token_hash: str, at: dt.datetime) -> None:
        s = schema.household_sessions
        self.conn.execute(update(s).where(s.c.token_hash == token_hash).values(last_seen_at=at))

    def end_sessions(
        self,
        at: dt.datetime,
        *,
        token_hash: str | None = None,
        account_id: int | None = None,
        phone: str | None = None,
    ) -> int:
        s = schema.household_sessions
        where: list[ColumnElement[bool]] = [s.c.ended_at.is_(None)]
        if token_hash is not None:
            where.append(s.c.token_hash == token_hash)
        else:
            assert account_id is not None
            where.append(s.c.account_id == account_id)
            if phone is not None:
                where.append(s.c.phone == phone)
        result = self.conn.execute(update(s).where(and_(*where)).values(ended_at=at))
        return int(result.rowcount)

    # --- trusted contacts' access ----------------------------------------------------------

    def granted_phones(self, account_id: int) -> set[str]:
        a = schema.household_access
        rows = self.conn.execute(select(a.c.phone).where(a.c.account_id == account_id))
        return {r.phone for r in rows}

    def grant(self, account_id: int, phone: str, at: dt.datetime) -> bool:
        if phone in self.granted_phones(account_id):
            return False
        self.conn.execute(
            schema.household_access.insert().values(
                account_id=account_id, phone=phone, granted_at=at
            )
        )
        return True

    def revoke(self, account_id: int, phone: str) -> bool:
        a = schema.household_access
        result = self.conn.execute(
            a.delete().where(a.c.account_id == account_id, a.c.phone == phone)
        )
        return bool(result.rowcount)

    # --- usage -----------------------------------------------------------------------------

    def usage_with_registers(
        self, account_id: int, first_day: dt.date, last_day: dt.date
    ) -> list[UsageRow]:
        days = days_between(first_day, last_day)
        rows = self.conn.execute(_USAGE, {"account_id": account_id, "days": days})
        return [
            UsageRow(day, energy, charge, ytd, ytd_fen, bool(est), sharp, peak, flat, valley)
            for day, energy, charge, ytd, ytd_fen, est, sharp, peak, flat, valley in rows
        ]

    def home_facts(self, account_id: int, day: dt.date) -> HomeFacts | None:
        row = self.conn.execute(_HOME_FACTS, {"account_id": account_id, "day": day}).first()
        if row is None:
            return None
        decision = None
        if row.decided_at is not None:
            decision = NewestDecision(_utc(row.decided_at), row.action, row.reason)
        return HomeFacts(
            name=row.name,
            tariff_code=row.changed_code or row.tariff_code,
            balance_fen=int(row.balance_fen),
            state=row.state,
            pay_by=row.pay_by,
            supply=row.supply,
            decision=decision,
        )


# A session counts only while its phone still speaks for the account: the owner's phone is still
# the account's (a change of owner or of phone signs the old one out everywhere), a trusted
# contact still has the owner's leave.
_S, _ACCESS = schema.household_sessions, schema.household_access
_SESSION = select(
    _S.c.token_hash,
    _S.c.account_id,
    _S.c.phone,
    _S.c.role,
    _S.c.created_at,
    _S.c.last_seen_at,
    _S.c.expires_at,
).where(
    _S.c.token_hash == bindparam("token_hash"),
    _S.c.ended_at.is_(None),
    or_(
        and_(
            _S.c.role == Role.OWNER.value,
            exists().where(
                schema.accounts.c.id == _S.c.account_id, schema.accounts.c.phone == _S.c.phone
            ),
        ),
        and_(
            _S.c.role == Role.TRUSTED.value,
            exists().where(_ACCESS.c.account_id == _S.c.account_id, _ACCESS.c.phone == _S.c.phone),
        ),
    ),
)

# The home page's reads, built once: a page then only binds its values.
_U = schema.daily_usage
_USAGE = (
    select(
        _U.c.day,
        _U.c.energy_wh,
        _U.c.charge_fen,
        _U.c.ytd_wh,
        _U.c.ytd_charged_fen,
        _U.c.estimated,
        _U.c.sharp_wh,
        _U.c.peak_wh,
        _U.c.flat_wh,
        _U.c.valley_wh,
    )
    .where(
        _U.c.day.in_(bindparam("days", expanding=True)), _U.c.account_id == bindparam("account_id")
    )
    .order_by(_U.c.day)
)
_T, _A = schema.account_tariffs, schema.accounts
_D = schema.credit_decisions

# The home page's facts in one round trip (on PostgreSQL each query is one): scalar subqueries,
# each on an index, beside the account and its credit state by primary key.
_CS, _LA = schema.credit_state, schema.ledger_accounts
_ACCOUNT_ID: Any = bindparam("account_id")


def _newest_decision_column(column: Any) -> Any:
    return (
        select(column)
        .where(_D.c.account_id == _ACCOUNT_ID)
        .order_by(_D.c.at.desc(), _D.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_HOME_FACTS = (
    select(
        _A.c.name,
        _A.c.tariff_code,
        select(_T.c.tariff_code)
        .where(_T.c.account_id == _ACCOUNT_ID, _T.c.from_day <= bindparam("day"))
        .order_by(_T.c.from_day.desc())
        .limit(1)
        .scalar_subquery()
        .label("changed_code"),
        select(_LA.c.credits_posted_fen - _LA.c.debits_posted_fen)
        .where(_LA.c.id == _ACCOUNT_ID)
        .scalar_subquery()
        .label("balance_fen"),
        _CS.c.state,
        _CS.c.pay_by,
        _CS.c.supply,
        _newest_decision_column(_D.c.at).label("decided_at"),
        _newest_decision_column(_D.c.action).label("action"),
        _newest_decision_column(_D.c.reason).label("reason"),
    )
    .select_from(_A.outerjoin(_CS, _CS.c.account_id == _A.c.id))
    .where(_A.c.id == _ACCOUNT_ID)
)
