"""Bulk writes keyed by a unique column: insert the new rows only, or upsert whole rows.

Rows are staged in a temporary table by the engine's fastest path (``db.bulk_insert``: COPY on
PostgreSQL, ``executemany`` on SQLite) and moved with one ``INSERT ... SELECT ... ON CONFLICT``,
so tens of thousands of outbox messages, decisions or credit states cost one statement, and the
number of rows really inserted comes back from the database itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection, text

from gridpay.adapters.sql.db import bulk_insert

# Fewer rows than this go in one statement each instead of through a staging table.
STAGE_ROWS_MIN = 50


def insert_new(conn: Connection, table: str, frame: pl.DataFrame, key: Sequence[str]) -> int:
    """Insert the rows whose key is not stored yet (the first of any repeated in ``frame``).

    Returns the rows inserted."""
    if frame.height == 0:
        return 0
    rows = frame.unique(list(key), keep="first", maintain_order=True)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
    if rows.height <= STAGE_ROWS_MIN:
        return _row_by_row(conn, table, rows, conflict)
    stage = _stage(conn, table, rows)
    columns = ", ".join(rows.columns)
    result = conn.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} WHERE true {conflict}"
    )
    _drop(conn, stage)
    return int(result.rowcount)


def upsert(conn: Connection, table: str, frame: pl.DataFrame, key: Sequence[str]) -> int:
    """Insert or replace whole rows (every column of ``frame`` but the key is overwritten)."""
    if frame.height == 0:
        return 0
    rows = frame.unique(list(key), keep="last", maintain_order=True)
    updates = ", ".join(f"{c} = excluded.{c}" for c in rows.columns if c not in key)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    if rows.height <= STAGE_ROWS_MIN:
        _row_by_row(conn, table, rows, conflict)
        return rows.height
    stage = _stage(conn, table, rows)
    columns = ", ".join(rows.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} WHERE true {conflict}"
    )
    _drop(conn, stage)
    return rows.height


def _row_by_row(conn: Connection, table: str, rows: pl.DataFrame, conflict: str) -> int:
    """A few rows (one payment's outcome): plain statements beat creating a staging table."""
    columns = ", ".join(rows.columns)
    values = ", ".join(f":{c}" for c in rows.columns)
    statement = text(f"INSERT INTO {table} ({columns}) VALUES ({values}) {conflict}")
    inserted = 0
    for row in rows.iter_rows(named=True):
        params = {name: _param(value) for name, value in row.items()}
        inserted += int(conn.execute(statement, params).rowcount)
    return inserted


def _param(value: object) -> object:
    """An instant as the UTC text both engines store and parse (as ``bulk_insert`` writes it);
    a naive instant is UTC already."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _stage(conn: Connection, table: str, frame: pl.DataFrame) -> str:
    """A temporary table shaped like ``table``'s columns in ``frame``, holding ``frame``."""
    stage = f"stage_{table}"
    _drop(conn, stage)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {stage} AS SELECT {', '.join(frame.columns)} FROM {table} WHERE 1 = 0"
    )
    bulk_insert(conn, stage, frame)
    return stage


def _drop(conn: Connection, stage: str) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
