"""Account changes in SQL: ``account_tariffs`` and ``phone_changes``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, select

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date
from gridpay.adapters.sql.settlement_repo import last_settled_days
from gridpay.domain.account_changes import (
    OwnerChange,
    PhoneChange,
    PhoneChangeStatus,
    TariffChange,
)
from gridpay.domain.registry import Language


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite gives instants back naive; they were stored in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _tariff_change(row: Any) -> TariffChange:
    day = as_date(row.from_day)
    assert day is not None
    return TariffChange(
        account_id=int(row.account_id),
        tariff_code=row.tariff_code,
        from_day=day,
        changed_by=row.changed_by,
        reason=row.reason,
        changed_at=_utc(row.changed_at),
    )


def _phone_change(row: Any) -> PhoneChange:
    return PhoneChange(
        id=int(row.id),
        account_id=int(row.account_id),
        old_phone=row.old_phone,
        new_phone=row.new_phone,
        code_hash=row.code_hash,
        expires_at=_utc(row.expires_at),
        attempts=int(row.attempts),
        status=PhoneChangeStatus(row.status),
        requested_by=row.requested_by,
        reason=row.reason,
        requested_at=_utc(row.requested_at),
        confirmed_at=_utc(row.confirmed_at) if row.confirmed_at is not None else None,
    )


def _owner_change(row: Any) -> OwnerChange:
    day = as_date(row.from_day)
    assert day is not None
    return OwnerChange(
        account_id=int(row.account_id),
        from_day=day,
        old_enrolment_id=int(row.old_enrolment_id),
        new_enrolment_id=int(row.new_enrolment_id),
        old_name=row.old_name,
        old_phone=row.old_phone,
        new_name=row.new_name,
        new_phone=row.new_phone,
        final_balance_fen=int(row.final_balance_fen),
        refund_transfer_id=row.refund_transfer_id,
        changed_by=row.changed_by,
        reason=row.reason,
        changed_at=_utc(row.changed_at),
    )


class SqlAccountChangesRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- tariffs ---------------------------------------------------------------------------
    def add_tariff_change(self, change: TariffChange) -> None:
        self.conn.execute(
            schema.account_tariffs.insert().values(
                account_id=change.account_id,
                tariff_code=change.tariff_code,
                from_day=change.from_day,
                changed_by=change.changed_by,
                reason=change.reason,
                changed_at=change.changed_at,
            )
        )

    def tariff_change_on(self, account_id: int, from_day: dt.date) -> TariffChange | None:
        t = schema.account_tariffs
        row = self.conn.execute(
            t.select().where(t.c.account_id == account_id, t.c.from_day == from_day)
        ).first()
        return _tariff_change(row) if row is not None else None

    def tariff_changes(self, account_id: int) -> list[TariffChange]:
        t = schema.account_tariffs
        rows = self.conn.execute(
            t.select().where(t.c.account_id == account_id).order_by(t.c.from_day)
        )
        return [_tariff_change(r) for r in rows]

    def tariff_on(self, account_id: int, day: dt.date) -> str | None:
        t, a = schema.account_tariffs, schema.accounts
        changed = self.conn.execute(
            select(t.c.tariff_code)
            .where(t.c.account_id == account_id, t.c.from_day <= day)
            .order_by(t.c.from_day.desc())
            .limit(1)
        ).scalar()
        if changed is not None:
            return str(changed)
        registered = self.conn.execute(select(a.c.tariff_code).where(a.c.id == account_id)).scalar()
        return str(registered) if registered is not None else None

    def last_settled_day(self, account_id: int) -> dt.date | None:
        return last_settled_days(self.conn, [account_id]).get(account_id)

    def settled_on_a_real_reading(self, account_id: int, day: dt.date) -> bool:
        u, t = schema.daily_usage, schema.pending_trueups
        estimated = self.conn.execute(
            select(u.c.estimated).where(u.c.day == day, u.c.account_id == account_id)
        ).scalar()
        waiting = self.conn.execute(
            select(t.c.account_id).where(t.c.account_id == account_id).limit(1)
        ).first()
        return estimated is not None and not estimated and waiting is None

    # --- phones ----------------------------------------------------------------------------
    def add_phone_change(
        self,
        account_id: int,
        old_phone: str | None,
        new_phone: str,
        code_hash: str,
        expires_at: dt.datetime,
        requested_by: str,
        reason: str,
        at: dt.datetime,
    ) -> int:
        p = schema.phone_changes
        self.conn.execute(
            p.update()
            .where(p.c.account_id == account_id, p.c.status == PhoneChangeStatus.PENDING.value)
            .values(status=PhoneChangeStatus.SUPERSEDED.value)
        )
        result = self.conn.execute(
            p.insert()
            .values(
                account_id=account_id,
                old_phone=old_phone,
                new_phone=new_phone,
                code_hash=code_hash,
                expires_at=expires_at,
                requested_by=requested_by,
                reason=reason,
                requested_at=at,
            )
            .returning(p.c.id)
        )
        return int(result.scalar_one())

    def pending_phone_change(self, account_id: int) -> PhoneChange | None:
        p = schema.phone_changes
        row = self.conn.execute(
            p.select()
            .where(p.c.account_id == account_id, p.c.status == PhoneChangeStatus.PENDING.value)
            .order_by(p.c.id.desc())
            .limit(1)
            .with_for_update()
        ).first()
        return _phone_change(row) if row is not None else None

    def count_wrong_code(self, change_id: int, lock: bool) -> None:
        p = schema.phone_changes
        values: dict[str, Any] = {"attempts": p.c.attempts + 1}
        if lock:
            values["status"] = PhoneChangeStatus.LOCKED.value
        self.conn.execute(p.update().where(p.c.id == change_id).values(values))

    def finish_phone_change(
        self, change_id: int, status: PhoneChangeStatus, at: dt.datetime | None
    ) -> None:
        p = schema.phone_changes
        self.conn.execute(
            p.update()
            .where(p.c.id == change_id, p.c.status == PhoneChangeStatus.PENDING.value)
            .values(status=status.value, confirmed_at=at)
        )

    def phone_changes(self, account_id: int) -> list[PhoneChange]:
        p = schema.phone_changes
        rows = self.conn.execute(
            p.select().where(p.c.account_id == account_id).order_by(p.c.id.desc())
        )
        return [_phone_change(r) for r in rows]

    def set_customer_phone(self, account_id: int, old_phone: str | None, new_phone: str) -> None:
        a, c = schema.accounts, schema.contacts
        self.conn.execute(a.update().where(a.c.id == account_id).values(phone=new_phone))
        if old_phone is not None:
            self.conn.execute(
                c.update()
                .where(
                    and_(
                        c.c.account_id == account_id,
                        c.c.role == "customer",
                        c.c.phone == old_phone,
                    )
                )
                .values(phone=new_phone)
            )

    # --- owners ----------------------------------------------------------------------------
    def set_owner(
        self, account_id: int, name: str, phone: str, language: Language, at: dt.datetime
    ) -> None:
        a, c, p = schema.accounts, schema.contacts, schema.phone_changes
        self.conn.execute(
            a.update()
            .where(a.c.id == account_id)
            .values(name=name, phone=phone, language=language.value)
        )
        self.conn.execute(c.delete().where(c.c.account_id == account_id))
        self.conn.execute(
            c.insert().values(
                account_id=account_id,
                phone=phone,
                role="customer",
                language=language.value,
                name=name,
                added_at=at,
            )
        )
        self.conn.execute(
            p.update()
            .where(p.c.account_id == account_id, p.c.status == PhoneChangeStatus.PENDING.value)
            .values(status=PhoneChangeStatus.SUPERSEDED.value)
        )

    def add_owner_change(self, change: OwnerChange) -> None:
        self.conn.execute(
            schema.owner_changes.insert().values(
                account_id=change.account_id,
                from_day=change.from_day,
                old_enrolment_id=change.old_enrolment_id,
                new_enrolment_id=change.new_enrolment_id,
                old_name=change.old_name,
                old_phone=change.old_phone,
                new_name=change.new_name,
                new_phone=change.new_phone,
                final_balance_fen=change.final_balance_fen,
                refund_transfer_id=change.refund_transfer_id,
                changed_by=change.changed_by,
                reason=change.reason,
                changed_at=change.changed_at,
            )
        )

    def owner_changes(self, account_id: int) -> list[OwnerChange]:
        o = schema.owner_changes
        rows = self.conn.execute(o.select().where(o.c.account_id == account_id).order_by(o.c.id))
        return [_owner_change(r) for r in rows]
