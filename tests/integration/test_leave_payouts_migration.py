"""Migration 0009: leavings for agreements that ended before it, the new system accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore
from gridpay.config import DEFAULT_OFFICES
from gridpay.domain.ledger import PAYOUT_IDS, RECEIVABLES_ID
from gridpay.services.audit import LEDGER_CHECKS, audit
from tests.helpers_accounts import add_accounts

AT = dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC)


def _rows(store: SqlStore, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_agreements_that_ended_before_get_a_closed_leaving_and_the_ledger_its_new_accounts(
    db_url: str,
) -> None:
    store = SqlStore(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
    with store.unit_of_work() as uow:
        uow.ledger.ensure_system_accounts()
        uow.registry.ensure_offices(list(DEFAULT_OFFICES))
        uow.commit()
    new_ids = [RECEIVABLES_ID, *PAYOUT_IDS.values()]
    add_accounts(store, [1, 2])
    with store.engine.begin() as conn:
        # A database made before them lacks the new system accounts.
        conn.execute(text(f"DELETE FROM ledger_accounts WHERE id IN {tuple(new_ids)}"))
        conn.execute(
            text(
                "INSERT INTO enrolments (account_id, enrolled_on, enrolled_at, channel, office_id,"
                " left_on, left_at) VALUES (1, '2026-12-01', :at, 'office', 1, '2026-12-05', :at),"
                " (2, '2026-12-01', :at, 'office', 1, NULL, NULL)"
            ),
            {"at": AT},
        )

    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    leavings = _rows(store, "SELECT account_id, left_on, closed_at, balance_fen FROM leavings")
    assert [(a, str(d), c is not None, b) for a, d, c, b in leavings] == [
        (1, "2026-12-05", True, None)
    ]
    codes = _rows(store, f"SELECT code FROM ledger_accounts WHERE id IN {tuple(new_ids)}")
    assert sorted(c for (c,) in codes) == [
        "payouts:bank",
        "payouts:counter",
        "receivables:monthly-billing",
    ]
    assert audit(store, LEDGER_CHECKS).ok
    store.engine.dispose()
