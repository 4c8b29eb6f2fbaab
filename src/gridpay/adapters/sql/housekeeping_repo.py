"""Housekeeping in SQL: dead rows deleted by key, a bounded batch per statement.

``DELETE ... WHERE key IN (SELECT key ... LIMIT n)`` is the portable bounded delete (neither
engine's DELETE takes a LIMIT in every build); a composite key is matched as a row value.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Connection, Table, delete, or_, select, tuple_

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_utc
from gridpay.ports.housekeeping import Cutoffs


def _utc(at: dt.datetime) -> dt.datetime:
    value = as_utc(at)
    assert value is not None
    return value


class SqlHousekeepingRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def delete_household_codes(self, cutoffs: Cutoffs, rows_max: int) -> int:
        c = schema.household_codes
        dead = (c.c.requested_at < _utc(cutoffs.codes_requested_before)) & (
            c.c.expires_at <= _utc(cutoffs.now)
        )
        return self._delete(c, [c.c.id], dead, rows_max)

    def delete_household_sessions(self, cutoffs: Cutoffs, rows_max: int) -> int:
        s = schema.household_sessions
        dead = or_(
            s.c.expires_at <= _utc(cutoffs.now),
            s.c.ended_at.is_not(None),
            s.c.last_seen_at <= _utc(cutoffs.household_idle_before),
        )
        return self._delete(s, [s.c.token_hash], dead, rows_max)

    def delete_staff_sessions(self, cutoffs: Cutoffs, rows_max: int) -> int:
        s = schema.staff_sessions
        dead = or_(s.c.expires_at <= _utc(cutoffs.now), s.c.ended_at.is_not(None))
        return self._delete(s, [s.c.token_hash], dead, rows_max)

    def delete_staff_signin_failures(self, cutoffs: Cutoffs, rows_max: int) -> int:
        f = schema.staff_signin_failures
        dead = f.c.at < _utc(cutoffs.signin_failures_before)
        return self._delete(f, [f.c.id], dead, rows_max)

    def delete_partner_nonces(self, cutoffs: Cutoffs, rows_max: int) -> int:
        n = schema.partner_nonces
        dead = n.c.seen_at < _utc(cutoffs.nonces_seen_before)
        return self._delete(n, [n.c.partner_code, n.c.nonce], dead, rows_max)

    def _delete(
        self,
        table: Table,
        key: list[ColumnElement[object]],
        dead: ColumnElement[bool],
        rows_max: int,
    ) -> int:
        batch = select(*key).where(dead).limit(rows_max)
        matched = key[0].in_(batch) if len(key) == 1 else tuple_(*key).in_(batch)
        return int(self.conn.execute(delete(table).where(matched)).rowcount)
