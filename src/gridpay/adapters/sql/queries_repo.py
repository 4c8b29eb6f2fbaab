"""Queries queries in SQL."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlQueriesRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
