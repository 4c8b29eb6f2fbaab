"""The bulk paths of ``adapters/sql/db.py`` give back exactly what was written, on both engines."""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.adapters.sql.db import bulk_insert, fetch_frame, fetch_frame_bulk
from tests.integration.settle_helpers import add_city

AWKWARD = ["plain", "a, comma", 'a "quote"', "two\nlines", "", "它's 中文", None]
QUARANTINE_SCHEMA = {
    "id": pl.Int64,
    "meter_no": pl.String,
    "day": pl.Date,
    "total_wh": pl.Int64,
    "reason_code": pl.String,
    "reason": pl.String,
    "source": pl.String,
    "row_no": pl.Int64,
}


def _quarantine_rows(source: str) -> pl.DataFrame:
    n = len(AWKWARD)
    return pl.DataFrame(
        {
            "id": list(range(1, n + 1)),
            "meter_no": AWKWARD,
            "day": [dt.date(2026, 10, 1), None, *[dt.date(2026, 10, 2)] * (n - 2)],
            "total_wh": [1, None, -3, 2**40, 0, 5, 6],
            "reason_code": ["x"] * n,  # the same in every row: written into the statement once
            "reason": [r if r is not None else "none" for r in AWKWARD],
            "source": [source] * n,
            "row_no": pl.Series([None] * n, dtype=pl.Int64),  # null in every row
            "received_at": [dt.datetime(2026, 10, 3)] * n,
        }
    )


def test_bulk_insert_and_bulk_fetch_keep_awkward_text_nulls_dates_and_constants(store):
    written = _quarantine_rows('it\'s one file, "quoted"')
    with store.unit_of_work() as uow:
        assert bulk_insert(uow.conn, "reading_quarantine", written) == written.height
        uow.commit()
    sql = f"SELECT {', '.join(QUARANTINE_SCHEMA)} FROM reading_quarantine WHERE id > :after"
    with store.reader() as reading:
        bulk = fetch_frame_bulk(reading.conn, sql, {"after": 0}, QUARANTINE_SCHEMA).sort("id")
        rows = fetch_frame(reading.conn, sql + " ORDER BY id", {"after": 0}, QUARANTINE_SCHEMA)
        empty = fetch_frame_bulk(reading.conn, sql, {"after": 99}, QUARANTINE_SCHEMA)
    expected = written.select(*QUARANTINE_SCHEMA)
    assert bulk.equals(expected)
    assert rows.equals(expected)
    assert empty.schema == pl.Schema(QUARANTINE_SCHEMA) and empty.height == 0


def test_bulk_fetch_reads_booleans(store):
    add_city(store, 3)
    with store.reader() as reading:
        meters = fetch_frame_bulk(
            reading.conn,
            "SELECT account_id, has_tou, has_switch FROM meters",
            {},
            {"account_id": pl.Int64, "has_tou": pl.Boolean, "has_switch": pl.Boolean},
        ).sort("account_id")
    assert meters.rows() == [(1, False, True), (2, False, True), (3, False, True)]
