"""The few-rows path of ``adapters/sql/bulk_keyed.py`` stores what the staged path stores.

A payment's outcome (one state, one decision, one SMS) goes row by row as Python tuples; a
night's judgement goes through a staging table. Both must leave the same rows, in the same
order, and count them alike, on both engines.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from sqlalchemy import text

from gridpay import limits
from gridpay.adapters.sql import bulk_keyed
from gridpay.adapters.sql.outbox_repo import SqlOutboxRepo
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.credit_policy import DECISION_SCHEMA, STATE_SCHEMA
from tests.integration.test_outbox_repo import outbox_rows

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)


def _states() -> pl.DataFrame:
    """Account 2 twice (the last one wins), nulls, a date and instants in another zone."""
    rows = [
        (1, "arrears", 3, None, T0, dt.date(2026, 12, 8), None, "on", T0),
        (2, "warned", 1, T0, None, None, None, "on", T0),
        (3, "disconnected", 0, None, T0, dt.date(2026, 12, 8), T0, "off", T0),
        (2, "normal", 2, None, None, None, None, "on", T0 + dt.timedelta(seconds=1)),
    ]
    return pl.DataFrame(rows, schema=STATE_SCHEMA, orient="row")


def _decisions() -> pl.DataFrame:
    """Key "b" twice (the first one is kept) and key "s" stored already."""
    rows = [
        ("b", 2, T0, "warn", "low", "first b"),
        ("a", 1, T0, "notice", "arrears", "a"),
        ("s", 9, T0, "warn", "low", "stored already: skipped"),
        ("b", 2, T0, "warn", "low", "second b: skipped"),
    ]
    return pl.DataFrame(rows, schema=DECISION_SCHEMA, orient="row")


def _written(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, staged: bool, write: Any, table: str
) -> tuple[int, list[tuple[Any, ...]]]:
    """What ``write(conn)`` returns and leaves in ``table`` (rolled back afterwards)."""
    with monkeypatch.context() as patch:
        if staged:
            patch.setattr(limits, "bulk_keyed_stage_rows_min", 0)
        with store.unit_of_work() as uow:
            returned = write(uow.conn)
            order = "id" if table != "credit_state" else "account_id"
            stored = uow.conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}")).all()
    # ids come from a sequence that PostgreSQL does not roll back: their order is what counts
    return returned, [tuple(r._mapping[c] for c in r._mapping if c != "id") for r in stored]


def test_upserting_a_few_states_row_by_row_stores_what_staging_stores(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = [(3, "arrears", 0, None, T0, dt.date(2026, 12, 1), None, "on", T0)]
    with store.unit_of_work() as uow:  # account 3 has a state already: it is replaced
        uow.credit.save_states(pl.DataFrame(stored, schema=STATE_SCHEMA, orient="row"))
        uow.commit()

    def write(conn: Any) -> int:
        return bulk_keyed.upsert(
            conn, "credit_state", _states(), ["account_id"], list(STATE_SCHEMA)
        )

    by_rows = _written(store, monkeypatch, False, write, "credit_state")
    staged = _written(store, monkeypatch, True, write, "credit_state")
    assert by_rows == staged
    assert by_rows[0] == 3
    assert [(r[0], r[1]) for r in by_rows[1]] == [
        (1, "arrears"),
        (2, "normal"),
        (3, "disconnected"),
    ]


def test_inserting_a_few_decisions_row_by_row_stores_what_staging_stores(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.unit_of_work() as uow:
        uow.credit.add_decisions(_decisions().filter(pl.col("key") == "s"))
        uow.commit()

    def write(conn: Any) -> int:
        return bulk_keyed.insert_new(conn, "credit_decisions", _decisions(), ["key"])

    by_rows = _written(store, monkeypatch, False, write, "credit_decisions")
    staged = _written(store, monkeypatch, True, write, "credit_decisions")
    assert by_rows == staged
    assert by_rows[0] == 2
    assert [r[0] for r in by_rows[1]] == ["s", "b", "a"]
    assert by_rows[1][1][-1] == "first b"


@pytest.mark.parametrize("zone", [None, SHANGHAI], ids=["naive", "shanghai"])
def test_a_few_messages_are_stored_as_a_large_batch_stores_them(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, zone: dt.tzinfo | None
) -> None:
    created_at = T0.replace(tzinfo=None) if zone is None else T0
    messages = outbox_rows([5, 4, 5], created_at=created_at)
    by_rows = _written(store, monkeypatch, False, lambda c: _add(c, messages), "messages")
    staged = _written(store, monkeypatch, True, lambda c: _add(c, messages), "messages")
    assert by_rows == staged
    assert by_rows[0] == 2


def _add(conn: Any, messages: pl.DataFrame) -> int:
    return SqlOutboxRepo(conn).add(messages)
