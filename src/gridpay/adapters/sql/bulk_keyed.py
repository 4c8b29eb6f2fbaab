"""Bulk writes keyed by a unique column: insert the new rows only, or upsert whole rows.

Rows are staged in a temporary table by the engine's fastest path (``db.bulk_insert``: COPY on
PostgreSQL, ``executemany`` on SQLite) and moved with one ``INSERT ... SELECT ... ON CONFLICT``,
so tens of thousands of outbox messages, decisions or credit states cost one statement, and the
number of rows really inserted comes back from the database itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import polars as pl
from sqlalchemy import Connection, TextClause, text

from gridpay import limits
from gridpay.adapters.sql.db import bulk_insert

Row = tuple[Any, ...]


def insert_new(
    conn: Connection,
    table: str,
    frame: pl.DataFrame,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
) -> int:
    """Insert the rows whose key is not stored yet (the first of any repeated in ``frame``).

    ``columns``: those of ``frame`` to write (default: all). Returns the rows inserted."""
    if frame.height == 0:
        return 0
    columns = list(columns or frame.columns)
    if frame.height <= limits.bulk_keyed_stage_rows_min:
        return insert_new_rows(conn, table, columns, _rows(frame, columns), key)
    if columns != frame.columns:
        frame = frame.select(columns)
    rows = frame.unique(list(key), keep="first", maintain_order=True)
    stage = _stage(conn, table, rows)
    names = ", ".join(columns)
    result = conn.exec_driver_sql(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} WHERE true "
        f"{_do_nothing(tuple(key))}"
    )
    _drop(conn, stage)
    return int(result.rowcount)


def upsert(
    conn: Connection,
    table: str,
    frame: pl.DataFrame,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
) -> int:
    """Insert or replace whole rows (every written column but the key is overwritten).

    ``columns``: those of ``frame`` to write (default: all). Returns the rows written."""
    if frame.height == 0:
        return 0
    columns = list(columns or frame.columns)
    if frame.height <= limits.bulk_keyed_stage_rows_min:
        return upsert_rows(conn, table, columns, _rows(frame, columns), key)
    if columns != frame.columns:
        frame = frame.select(columns)
    rows = frame.unique(list(key), keep="last", maintain_order=True)
    stage = _stage(conn, table, rows)
    names = ", ".join(columns)
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} WHERE true "
        f"{_do_update(tuple(columns), tuple(key))}"
    )
    _drop(conn, stage)
    return rows.height


def insert_new_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Row], key: Sequence[str]
) -> int:
    """``insert_new`` for a few rows already in Python (tuples in ``columns`` order)."""
    at = [columns.index(k) for k in key]
    first: dict[Row, Row] = {}
    for row in rows:
        first.setdefault(tuple(row[i] for i in at), row)
    return _row_by_row(conn, table, tuple(columns), first.values(), _do_nothing(tuple(key)))


def upsert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Row], key: Sequence[str]
) -> int:
    """``upsert`` for a few rows already in Python (tuples in ``columns`` order)."""
    at = [columns.index(k) for k in key]
    last: dict[Row, Row] = {}
    for row in rows:  # the last of a repeated key, where it last appears (as Polars keeps it)
        row_key = tuple(row[i] for i in at)
        last.pop(row_key, None)
        last[row_key] = row
    conflict = _do_update(tuple(columns), tuple(key))
    _row_by_row(conn, table, tuple(columns), last.values(), conflict)
    return len(last)


def _rows(frame: pl.DataFrame, columns: Sequence[str]) -> list[Row]:
    if list(columns) == frame.columns:
        return frame.rows()
    return [tuple(row[c] for c in columns) for row in frame.iter_rows(named=True)]


@lru_cache(maxsize=64)
def _do_nothing(key: tuple[str, ...]) -> str:
    return f"ON CONFLICT ({', '.join(key)}) DO NOTHING"


@lru_cache(maxsize=64)
def _do_update(columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


@lru_cache(maxsize=64)
def _insert_one(table: str, columns: tuple[str, ...], conflict: str) -> TextClause:
    values = ", ".join(f":{c}" for c in columns)
    return text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) {conflict}")


def _row_by_row(
    conn: Connection, table: str, columns: tuple[str, ...], rows: Iterable[Row], conflict: str
) -> int:
    """A few rows (one payment's outcome): plain statements beat creating a staging table."""
    statement = _insert_one(table, columns, conflict)
    inserted = 0
    for row in rows:
        params = {name: _param(value) for name, value in zip(columns, row, strict=True)}
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
