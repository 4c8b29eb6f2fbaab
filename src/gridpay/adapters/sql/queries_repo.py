"""Read-only per-account views in SQL, each on an index.

- ``daily_usage`` by ``day IN (each day of the range) AND account_id = :a``: one seek of the
  primary key (day, account_id) per day (a range on ``day`` would read everyone's rows); the
  newest settled day through ``last_settled_days`` (a few seeks).
- ``transfers`` by ``account_id = :a``: index ix_transfers_account_id_seq, newest first by seq.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, case, func, or_, select

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.settlement_repo import days_between, last_settled_days

USAGE_SCHEMA: dict[str, Any] = {
    "day": pl.Date,
    "energy_wh": pl.Int64,
    "charge_fen": pl.Int64,
    "ytd_wh": pl.Int64,
    "ytd_charged_fen": pl.Int64,
    "estimated": pl.Boolean,
    "tariff_code": pl.String,
}

TRANSFER_LINE_SCHEMA: dict[str, Any] = {
    "seq": pl.Int64,
    "id": pl.String,
    "kind": pl.String,
    "day": pl.Date,
    "amount_fen": pl.Int64,
    "channel": pl.String,
    "ref": pl.String,
    "office_id": pl.Int64,
    "reverses_id": pl.String,
    "note": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}


class SqlQueriesRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def usage_between(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        u = schema.daily_usage
        stmt = self._usage_select(account_id, first_day, last_day).order_by(u.c.day)
        return self._frame(stmt, USAGE_SCHEMA)

    def latest_usage(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        before = last_day + dt.timedelta(days=1)
        newest = last_settled_days(self.conn, [account_id], before).get(account_id)
        if newest is None or newest < first_day:
            return pl.DataFrame(schema=USAGE_SCHEMA)
        return self._frame(self._usage_select(account_id, newest, newest), USAGE_SCHEMA)

    def recent_transfers(self, account_id: int, limit: int) -> pl.DataFrame:
        t = schema.transfers
        stmt = self._transfer_select(account_id).order_by(t.c.seq.desc()).limit(limit)
        return self._frame(stmt, TRANSFER_LINE_SCHEMA)

    def transfers_between(
        self, account_id: int, first_day: dt.date, last_day: dt.date
    ) -> pl.DataFrame:
        t = schema.transfers
        stmt = (
            self._transfer_select(account_id)
            .where(t.c.day >= first_day, t.c.day <= last_day)
            .order_by(t.c.day, t.c.seq)
        )
        return self._frame(stmt, TRANSFER_LINE_SCHEMA)

    def net_before(self, account_id: int, day: dt.date) -> int:
        t = schema.transfers
        stmt = select(func.coalesce(func.sum(_signed_amount(account_id)), 0)).where(
            *_touches(account_id), t.c.day < day
        )
        return int(self.conn.execute(stmt).scalar_one())

    # --- plumbing --------------------------------------------------------------------------

    def _usage_select(self, account_id: int, first_day: dt.date, last_day: dt.date) -> Select:
        u = schema.daily_usage
        return select(
            u.c.day,
            u.c.energy_wh,
            u.c.charge_fen,
            u.c.ytd_wh,
            u.c.ytd_charged_fen,
            u.c.estimated,
            u.c.tariff_code,
        ).where(u.c.day.in_(days_between(first_day, last_day)), u.c.account_id == account_id)

    def _transfer_select(self, account_id: int) -> Select:
        t = schema.transfers
        return select(
            t.c.seq,
            t.c.id,
            t.c.kind,
            t.c.day,
            _signed_amount(account_id).label("amount_fen"),
            t.c.channel,
            t.c.ref,
            t.c.office_id,
            t.c.reverses_id,
            t.c.note,
            t.c.created_at,
        ).where(*_touches(account_id))

    def _frame(self, stmt: Select, frame_schema: dict[str, Any]) -> pl.DataFrame:
        rows = self.conn.execute(stmt).all()
        data = [_utc_row(tuple(r)) for r in rows]
        return pl.DataFrame(data, schema=frame_schema, orient="row")


def _touches(account_id: int) -> tuple[Any, ...]:
    """The account's transfers: found by the indexed account_id, kept only if they move it."""
    t = schema.transfers
    return (
        t.c.account_id == account_id,
        or_(t.c.debit_account_id == account_id, t.c.credit_account_id == account_id),
    )


def _signed_amount(account_id: int) -> Any:
    """+amount when the transfer credits the customer (pays in), -amount when it debits."""
    t = schema.transfers
    return case((t.c.credit_account_id == account_id, t.c.amount_fen), else_=-t.c.amount_fen)


def _utc_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite hands back naive datetimes (stored as UTC); make every instant aware."""
    return tuple(
        v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None else v
        for v in row
    )
