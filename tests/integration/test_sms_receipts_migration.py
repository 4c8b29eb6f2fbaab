"""Migration 0013: messages sent before receipts existed count as accepted (delivered then)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from gridpay.adapters.sql.db import as_utc
from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore

AT = dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC)


def _rows(store: SqlStore, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_a_notice_sent_before_the_upgrade_still_allows_its_cut(db_url: str) -> None:
    store = SqlStore(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
        conn.execute(
            text(
                "INSERT INTO messages (dedupe_key, account_id, phone, language, kind, body,"
                " created_at, status, attempts, sent_at) VALUES"
                " ('arrears/0000000001/0/139', 1, '139', 'zh', 'arrears', 'b', :at, 'sent', 1,"
                " :at), ('warning/0000000002/0/139', 2, '139', 'zh', 'warning', 'b', :at,"
                " 'pending', 0, NULL)"
            ),
            {"at": AT},
        )
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    rows = _rows(store, "SELECT account_id, receipt, delivered_at, params FROM messages ORDER BY 1")
    assert [(a, r, d is not None, p) for a, r, d, p in rows] == [
        (1, "accepted", True, None),
        (2, None, False, None),
    ]
    delivered_at = rows[0][2]
    assert (
        as_utc(
            delivered_at
            if isinstance(delivered_at, dt.datetime)
            else dt.datetime.fromisoformat(delivered_at)
        )
        == AT
    )
    store.dispose()
