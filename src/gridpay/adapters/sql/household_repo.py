"""Households signing in, and the home page's usage read, in SQL.

The usage read seeks ``daily_usage``'s primary key (day, account_id) once per day of the range,
as ``queries_repo`` does: a range on ``day`` would read every account's rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Connection, and_, func, select, update

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.settlement_repo import days_between
from gridpay.domain.household import CodeStatus, Role, Session, SignInCode

USAGE_REGISTERS_SCHEMA: dict[str, Any] = {
    "day": pl.Date,
    "energy_wh": pl.Int64,
    "charge_fen": pl.Int64,
    "ytd_wh": pl.Int64,
    "ytd_charged_fen": pl.Int64,
    "estimated": pl.Boolean,
    "sharp_wh": pl.Int64,
    "peak_wh": pl.Int64,
    "flat_wh": pl.Int64,
    "valley_wh": pl.Int64,
}


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
        s = schema.household_sessions
        row = self.conn.execute(
            select(
                s.c.token_hash,
                s.c.account_id,
                s.c.phone,
                s.c.role,
                s.c.created_at,
                s.c.last_seen_at,
                s.c.expires_at,
            ).where(s.c.token_hash == token_hash, s.c.ended_at.is_(None))
        ).first()
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
    ) -> pl.DataFrame:
        u = schema.daily_usage
        stmt = (
            select(
                u.c.day,
                u.c.energy_wh,
                u.c.charge_fen,
                u.c.ytd_wh,
                u.c.ytd_charged_fen,
                u.c.estimated,
                u.c.sharp_wh,
                u.c.peak_wh,
                u.c.flat_wh,
                u.c.valley_wh,
            )
            .where(u.c.day.in_(days_between(first_day, last_day)), u.c.account_id == account_id)
            .order_by(u.c.day)
        )
        rows = [tuple(r) for r in self.conn.execute(stmt).all()]
        return pl.DataFrame(rows, schema=USAGE_REGISTERS_SCHEMA, orient="row")
