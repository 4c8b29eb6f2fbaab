"""Migration 0018: a pushed receipt finds its message through an index, up and down."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore


def _indexes(store: SqlStore) -> set[str]:
    with store.engine.connect() as conn:
        return {str(i["name"]) for i in inspect(conn).get_indexes("messages")}


def test_the_provider_ref_index_comes_and_goes_with_the_migration(db_url: str) -> None:
    store = SqlStore(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        for target, present in (("0018", True), ("0017", False), ("0018", True)):
            with store.engine.begin() as conn:
                config.attributes["connection"] = conn
                if target == "0017":
                    command.downgrade(config, target)
                else:
                    command.upgrade(config, target)
            assert ("ix_messages_provider_ref" in _indexes(store)) is present
    finally:
        store.dispose()
