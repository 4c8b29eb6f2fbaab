"""Raw readings and the quarantine in SQL."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlReadingsRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
