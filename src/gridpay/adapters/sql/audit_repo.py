"""Audit queries in SQL."""

from __future__ import annotations

from sqlalchemy import Connection


class SqlAuditRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
