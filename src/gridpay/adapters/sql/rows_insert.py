"""Multi-row ``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING ...``, built once
per row count: a group-committed batch writes its rows of a table in one statement.

A Core ``insert().values([...])`` is rebuilt and re-coerced on every call, which costs more than
running it for the few rows of a batch; this text statement is built once per (table, row
count) and typed as the table's columns (SQLite keeps dates and instants as text: the column
types convert them, as for any Core statement).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, text
from sqlalchemy.sql.elements import TextClause


@functools.lru_cache(maxsize=512)
def _statement(
    table: Table, columns: tuple[str, ...], rows: int, conflict: str, returning: str
) -> TextClause:
    values = ", ".join("(" + ", ".join(f":{c}_{n}" for c in columns) + ")" for n in range(rows))
    statement = text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values} "
        f"ON CONFLICT {conflict} DO NOTHING RETURNING {returning}"
    )
    return statement.bindparams(
        *(
            bindparam(f"{c}_{n}", type_=table.c[c].type)
            for n in range(rows)
            for c in columns
            if c in table.c
        )
    )


def insert_new_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: str,
    returning: str,
) -> list[Any]:
    """Insert the rows (all with the same columns) that do not conflict; the ``returning``
    columns of those inserted. ``conflict``: ``(key columns)``, or ``""`` for any."""
    if not rows:
        return []
    columns = tuple(rows[0])
    statement = _statement(table, columns, len(rows), conflict, returning)
    params = {f"{c}_{n}": row[c] for n, row in enumerate(rows) for c in columns}
    return list(conn.execute(statement, params))
