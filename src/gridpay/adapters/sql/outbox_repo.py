"""SQL: the message outbox."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlOutboxRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
