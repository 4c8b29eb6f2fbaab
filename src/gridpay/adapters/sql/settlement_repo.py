"""Settlement state, usage rows and run records in SQL."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlSettlementRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
