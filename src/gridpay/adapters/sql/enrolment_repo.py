"""SQL: agreements, contacts and protected customers."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlEnrolmentRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
