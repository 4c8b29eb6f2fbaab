"""The benches' city made inside the database is a consistent ledger: the audit's ledger checks
hold on it and its statements add up, so the reads measured on it are the real ones."""

from __future__ import annotations

import datetime as dt

from gridpay.adapters.sql.store import SqlStore
from gridpay.services import audit
from gridpay.services.queries import account_show, account_statement
from gridpay.simulation.reads_city import open_reads_city, statement_month
from tests.fakes import FakeClock
from tests.helpers_accounts import small_reads_city

NEWEST = dt.date(2026, 11, 26)


def test_a_city_built_in_the_database_is_a_consistent_ledger_and_can_be_opened_again(
    db_url: str, clock: FakeClock
) -> None:
    store = SqlStore(db_url)
    try:
        city = small_reads_city(store, clock, 60, 400)
        assert city.oldest_day == dt.date(2025, 10, 23)
        with store.reader() as uow:
            for check in (
                audit.transfers_balanced,
                audit.cached_totals_balanced,
                audit.cached_balances_match_transfers,
                audit.usage_rows_match_charges,
                audit.charge_transfers_well_formed,
                audit.ytd_charged_is_cumulative,
            ):
                result = check(uow)
                assert result.ok, result
        clock.set(dt.datetime.combine(NEWEST + dt.timedelta(days=1), dt.time(2), dt.UTC))
        for account_id in city.account_ids[:10]:
            account_no = f"{account_id:010d}"
            for month in ("2025-10", "2025-12", "2026-01", statement_month(city), "2026-11"):
                statement = account_statement(store, account_no, month)  # asserts it adds up
                if month != "2025-10":
                    assert any(line.kind == "payment" for line in statement.lines), month
            view = account_show(store, clock, account_no)
            assert view.last_settled_day == NEWEST
            assert view.balance_fen == statement.closing_balance_fen
        assert open_reads_city(store) == city.__class__(
            city.accounts,
            400,
            NEWEST,
            3,
            open_reads_city(store).build_s,
            city.account_ids,  # type: ignore[union-attr]
        )
    finally:
        store.dispose()


def test_an_empty_database_holds_no_city(store: SqlStore) -> None:
    assert open_reads_city(store) is None
