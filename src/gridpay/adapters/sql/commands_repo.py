"""SQL: remote meter commands."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlCommandsRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
