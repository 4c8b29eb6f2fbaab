"""Migration 0007: stray charges reversed, non-direct prepaid accounts ended, the checks added."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore
from gridpay.config import DEFAULT_OFFICES
from gridpay.domain.ledger import REVENUE_ID
from gridpay.services.audit import LEDGER_CHECKS, audit
from tests.helpers_accounts import add_accounts, settle_day_by_hand

ENROLLED_ON = dt.date(2026, 12, 7)


def _rows(store: SqlStore, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _charge(store: SqlStore, account_id: int, day: dt.date, fen: int, ytd_fen: int) -> None:
    settle_day_by_hand(
        store,
        account_id,
        day,
        energy_wh=1_000,
        charge_fen=fen,
        ytd_wh=1_000,
        ytd_charged_fen=ytd_fen,
    )


def _books_at_0004(db_url: str) -> SqlStore:
    store = SqlStore(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    with store.unit_of_work() as uow:
        uow.ledger.ensure_system_accounts()
        uow.registry.ensure_offices(list(DEFAULT_OFFICES))
        uow.commit()
    # 1: enrolled on 7 December, charged on the 5th (stray) and the 7th; 2: registered as
    # prepaid though not direct supply, charged on the 3rd; 3: prepaid before agreements were
    # recorded, charged on the 1st.
    add_accounts(store, [1, 2, 3])
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET supply_type = 'non_direct' WHERE id = 2"))
        conn.execute(
            text(
                "INSERT INTO enrolments (account_id, enrolled_on, enrolled_at, channel, office_id)"
                " VALUES (1, :day, :at, 'office', 1)"
            ),
            {"day": ENROLLED_ON, "at": dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC)},
        )
    _charge(store, 1, dt.date(2026, 12, 5), 280, 280)
    _charge(store, 1, ENROLLED_ON, 300, 580)
    _charge(store, 2, dt.date(2026, 12, 3), 500, 500)
    _charge(store, 3, dt.date(2026, 12, 1), 700, 700)
    return store


def test_the_migration_reverses_charges_outside_agreements_and_ends_non_direct_prepaid(
    db_url: str,
) -> None:
    store = _books_at_0004(db_url)
    try:
        store.migrate()

        reversals = _rows(
            store,
            "SELECT id, debit_account_id, credit_account_id, amount_fen, reverses_id "
            "FROM transfers WHERE kind = 'reversal' ORDER BY id",
        )
        assert reversals == [
            (
                "reversal/charge/2026-12-03/0000000002",
                REVENUE_ID,
                2,
                500,
                "charge/2026-12-03/0000000002",
            ),
            (
                "reversal/charge/2026-12-05/0000000001",
                REVENUE_ID,
                1,
                280,
                "charge/2026-12-05/0000000001",
            ),
        ]
        balances = _rows(
            store,
            "SELECT id, credits_posted_fen - debits_posted_fen FROM ledger_accounts "
            "WHERE id IN (1, 2, 3) ORDER BY id",
        )
        assert balances == [(1, -300), (2, 0), (3, -700)]
        modes = _rows(store, "SELECT id, billing_mode FROM accounts ORDER BY id")
        assert modes == [(1, "prepaid"), (2, "postpaid"), (3, "prepaid")]
        # Nothing edited or deleted: every charge and usage row is still there.
        assert _rows(store, "SELECT count(*) FROM transfers WHERE kind = 'charge'") == [(4,)]
        assert _rows(store, "SELECT count(*) FROM daily_usage") == [(4,)]
        report = audit(store, LEDGER_CHECKS)
        assert report.ok, [c for c in report.checks if not c.ok]

        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(text("UPDATE accounts SET supply_type = 'non_direct' WHERE id = 1"))
        with store.engine.begin() as conn:  # an agreement recorded by an accounts file
            conn.execute(
                text(
                    "INSERT INTO enrolments (account_id, enrolled_on, enrolled_at, channel) "
                    "VALUES (3, :day, :at, 'import')"
                ),
                {"day": ENROLLED_ON, "at": dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC)},
            )
    finally:
        store.dispose()
