"""SQL: the credit policy's state, decisions and the staff queue."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlCreditRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
