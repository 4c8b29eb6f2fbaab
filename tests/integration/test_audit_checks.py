"""The audit proves the books, and catches each kind of corruption put there on purpose."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.ledger import CLEARING_IDS, REVENUE_ID, SYSTEM_ACCOUNTS, Channel
from gridpay.domain.payments import Refund, Reverse, TakePayment
from gridpay.errors import AuditFailed
from gridpay.ports.store import UnitOfWork
from gridpay.services.audit import LEDGER_CHECKS, AuditReport, CheckResult, audit
from gridpay.services.payments import refund, reverse, take_payment
from gridpay.services.settlement import settle_range
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, execute, scalar, settle_day_by_hand
from tests.integration.settle_helpers import (
    add_city,
    add_readings,
    queue_late_readings,
    register_wh,
)

D0 = dt.date(2026, 10, 31)
D1 = dt.date(2026, 11, 1)
D2 = dt.date(2026, 11, 2)
CHECK_NAMES = [
    "transfers_balanced",
    "cached_totals_balanced",
    "cached_balances_match_transfers",
    "customer_transfers_name_their_account",
    "usage_rows_match_charges",
    "charge_transfers_well_formed",
    "ytd_charged_is_cumulative",
    "no_charge_outside_an_agreement",
    "only_direct_supply_is_prepaid",
    "accounts_that_left_are_settled_up",
    "archived_files_intact",
]


@pytest.fixture
def books(store: SqlStore, clock: FakeClock) -> SqlStore:
    """Three accounts with two settled days, payments, a refund and a reversal: all correct."""
    add_accounts(store, [1, 2, 3])
    for account_id in (1, 2, 3):
        settle_day_by_hand(
            store,
            account_id,
            D1,
            energy_wh=5_000,
            charge_fen=280,
            ytd_wh=5_000,
            ytd_charged_fen=280,
        )
        settle_day_by_hand(
            store,
            account_id,
            D2,
            energy_wh=7_000,
            charge_fen=392,
            ytd_wh=12_000,
            ytd_charged_fen=672,
        )
    settings = Settings()
    for account_no, ref in (("0000000001", "A"), ("0000000002", "B"), ("0000000003", "C")):
        take_payment(store, clock, settings, TakePayment(account_no, "100", "bank", ref))
    refund(store, clock, settings, Refund("0000000002", "10", "R1"))
    reverse(store, clock, Reverse("pay/bank/C"))
    return store


def failed(report: AuditReport) -> dict[str, tuple[str, ...]]:
    return {c.name: c.accounts for c in report.checks if not c.ok}


def test_correct_books_pass_every_check(books: SqlStore) -> None:
    report = audit(books, LEDGER_CHECKS)
    assert report.ok, failed(report)
    assert [c.name for c in report.checks] == CHECK_NAMES
    by_name = {c.name: c for c in report.checks}
    assert by_name["cached_balances_match_transfers"].checked == 3 + len(
        SYSTEM_ACCOUNTS
    )  # customers + system
    assert by_name["usage_rows_match_charges"].checked == 6
    assert by_name["transfers_balanced"].checked == 6 + 3 + 1 + 1
    report.raise_if_failed()  # does not raise


def test_a_cached_balance_changed_behind_the_ledger_is_caught_and_named(books: SqlStore) -> None:
    execute(
        books, "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen + 1 WHERE id = 2"
    )
    report = audit(books, LEDGER_CHECKS)
    assert failed(report) == {
        "cached_totals_balanced": (),
        "cached_balances_match_transfers": ("0000000002",),
    }
    with pytest.raises(
        AuditFailed, match="cached_balances_match_transfers — 1 failing: 0000000002"
    ):
        report.raise_if_failed()


def test_a_system_account_out_of_step_is_named_by_its_code(books: SqlStore) -> None:
    execute(
        books,
        "UPDATE ledger_accounts SET debits_posted_fen = 0 WHERE id = :id",
        id=CLEARING_IDS[Channel.BANK],
    )
    assert failed(audit(books, LEDGER_CHECKS))["cached_balances_match_transfers"] == (
        "clearing:bank",
    )


def test_a_transfer_inserted_without_moving_balances_is_caught(books: SqlStore) -> None:
    execute(
        books,
        "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen, kind, "
        "account_id, day, created_at) VALUES ('pay/app/FORGED', :clearing, 3, 5000, 'payment', 3, "
        ":day, :at)",
        clearing=CLEARING_IDS[Channel.APP],
        day=D2,
        at=dt.datetime(2026, 11, 3),
    )
    report = audit(books, LEDGER_CHECKS)
    assert failed(report) == {
        "cached_totals_balanced": (),
        "cached_balances_match_transfers": ("0000000003", "clearing:app"),
    }
    detail = {c.name: c.detail for c in report.checks}["cached_totals_balanced"]
    assert "Σ transfers" in detail and "Σ cached debits" in detail


def test_an_unbalanced_transfer_to_no_ledger_account_is_caught(books: SqlStore) -> None:
    # One leg lands on a ledger account that does not exist: Σ debits ≠ Σ credits as booked.
    execute(
        books,
        "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen, kind, "
        "account_id, day, created_at) VALUES ('adj/x', 99999999999, 1, 700, 'adjustment', 1, "
        ":day, :at)",
        day=D2,
        at=dt.datetime(2026, 11, 3),
    )
    execute(
        books,
        "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen + 700 WHERE id = 1",
    )
    report = audit(books, LEDGER_CHECKS)
    assert failed(report) == {
        "transfers_balanced": ("ledger:99999999999",),
        "cached_totals_balanced": (),
    }


def test_a_customer_transfer_without_its_account_id_is_caught(books: SqlStore) -> None:
    execute(books, "UPDATE transfers SET account_id = NULL WHERE id = 'pay/bank/A'")
    assert failed(audit(books, LEDGER_CHECKS)) == {
        "customer_transfers_name_their_account": ("0000000001",)
    }


def test_a_usage_row_that_disagrees_with_its_charge_is_caught(books: SqlStore) -> None:
    execute(
        books,
        "UPDATE daily_usage SET charge_fen = 281, ytd_charged_fen = 281 "
        "WHERE account_id = 2 AND day = :d",
        d=D1,
    )
    execute(
        books,
        "UPDATE daily_usage SET ytd_charged_fen = 673 WHERE account_id = 2 AND day = :d",
        d=D2,
    )
    assert failed(audit(books, LEDGER_CHECKS)) == {"usage_rows_match_charges": ("0000000002",)}


def test_a_charge_without_a_settled_day_is_caught(books: SqlStore) -> None:
    execute(books, "DELETE FROM daily_usage WHERE account_id = 3 AND day = :d", d=D2)
    assert failed(audit(books, LEDGER_CHECKS)) == {"usage_rows_match_charges": ("0000000003",)}


def test_a_settled_day_whose_charge_is_missing_is_caught(books: SqlStore) -> None:
    # Remove the charge and undo its balance effect, so only the usage rule can see it.
    execute(books, "DELETE FROM transfers WHERE id = 'charge/2026-11-02/0000000001'")
    execute(
        books, "UPDATE ledger_accounts SET debits_posted_fen = debits_posted_fen - 392 WHERE id = 1"
    )
    execute(
        books,
        "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen - 392 WHERE id = :r",
        r=REVENUE_ID,
    )
    assert failed(audit(books, LEDGER_CHECKS)) == {"usage_rows_match_charges": ("0000000001",)}


def test_a_charge_under_a_foreign_id_is_caught(books: SqlStore) -> None:
    execute(
        books,
        "UPDATE transfers SET id = 'charge/2026-11-01/1' WHERE id = 'charge/2026-11-01/0000000001'",
    )
    assert failed(audit(books, LEDGER_CHECKS)) == {"charge_transfers_well_formed": ("0000000001",)}


def test_a_charge_posted_under_the_old_id_form_is_still_well_formed(books: SqlStore) -> None:
    """Charges posted before ids put the day first read ``charge/<account>/<day>``."""
    execute(
        books,
        "UPDATE transfers SET id = 'charge/0000000001/2026-11-01' "
        "WHERE id = 'charge/2026-11-01/0000000001'",
    )
    assert failed(audit(books, LEDGER_CHECKS)) == {}


def test_a_charge_credited_to_the_wrong_account_is_caught(books: SqlStore) -> None:
    bank = CLEARING_IDS[Channel.BANK]
    execute(
        books,
        "UPDATE transfers SET credit_account_id = :bank WHERE id = 'charge/2026-11-01/0000000002'",
        bank=bank,
    )
    execute(
        books,
        "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen - 280 WHERE id = :r",
        r=REVENUE_ID,
    )
    execute(
        books,
        "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen + 280 WHERE id = :b",
        b=bank,
    )
    assert failed(audit(books, LEDGER_CHECKS)) == {"charge_transfers_well_formed": ("0000000002",)}


def test_a_broken_year_to_date_charge_is_caught(books: SqlStore) -> None:
    execute(
        books,
        "UPDATE daily_usage SET ytd_charged_fen = 999 WHERE account_id = 1 AND day = :d",
        d=D2,
    )
    assert failed(audit(books, LEDGER_CHECKS)) == {"ytd_charged_is_cumulative": ("0000000001",)}


def test_the_year_to_date_charge_starts_again_on_the_first_of_january(
    store: SqlStore,
) -> None:
    add_accounts(store, [5, 6])
    for account_id, jan1_ytd in ((5, 50), (6, 50 + 300)):
        settle_day_by_hand(
            store,
            account_id,
            dt.date(2025, 12, 31),
            energy_wh=1,
            charge_fen=300,
            ytd_wh=1,
            ytd_charged_fen=900_000,
        )
        settle_day_by_hand(
            store,
            account_id,
            dt.date(2026, 1, 1),
            energy_wh=1,
            charge_fen=50,
            ytd_wh=1,
            ytd_charged_fen=jan1_ytd,
        )
    assert failed(audit(store, LEDGER_CHECKS)) == {"ytd_charged_is_cumulative": ("0000000006",)}


def test_offending_accounts_are_counted_beyond_those_named(
    books: SqlStore, store: SqlStore
) -> None:
    add_accounts(store, range(100, 130))
    execute(store, "UPDATE ledger_accounts SET debits_posted_fen = 1 WHERE id >= 100 AND id < 130")
    check = {c.name: c for c in audit(store).checks}["cached_balances_match_transfers"]
    assert check.failed == 30
    assert len(check.accounts) == 20
    assert check.accounts[0] == "0000000100"
    with pytest.raises(AuditFailed, match=r"30 failing: 0000000100, .*, 0000000119 \.\.\."):
        audit(store).raise_if_failed()


def test_a_further_check_can_be_appended(books: SqlStore) -> None:
    def meters_are_read(uow: UnitOfWork) -> CheckResult:
        return CheckResult(
            name="meters_are_read",
            description="a made-up further check",
            ok=False,
            checked=6,
            checked_what="usage rows",
            failed=1,
            accounts=("0000000003",),
        )

    report = audit(books, [*LEDGER_CHECKS, meters_are_read])
    assert [c.name for c in report.checks] == [*CHECK_NAMES, "meters_are_read"]
    assert failed(report) == {"meters_are_read": ("0000000003",)}


def test_real_settlement_with_true_ups_and_payments_passes_the_audit(
    store: SqlStore, clock: FakeClock
) -> None:
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(5)]
    ids = add_city(store, 8)
    for day in days:
        add_readings(store, ids, day, skip={3} if day == days[2] else set())
    settle_range(store, clock, days[0], days[2])
    for i in ids:
        take_payment(store, clock, Settings(), TakePayment(f"{i:010d}", "50", "app", f"P{i}"))
    settle_range(store, clock, days[3], days[4])
    queue_late_readings(store, {3: register_wh(3, days[2])}, days[2])
    settle_range(store, clock, days[4] + dt.timedelta(days=1), days[4] + dt.timedelta(days=1))
    assert scalar(store, "SELECT COUNT(*) FROM transfers WHERE id LIKE 'trueup/%'") > 0
    report = audit(store)
    assert report.ok, failed(report)
    assert {c.name: c.checked for c in report.checks}["usage_rows_match_charges"] == 8 * 6


def test_an_audit_reads_one_snapshot_and_does_not_hold_up_payments(
    books: SqlStore, clock: FakeClock
) -> None:
    with books.unit_of_work() as uow:
        uow.audit.begin_snapshot()
        before = uow.audit.totals().transfers
        landed = threading.Event()

        def pay_meanwhile() -> None:
            take_payment(books, clock, Settings(), TakePayment("0000000001", "7", "app", "MID"))
            landed.set()

        payer = threading.Thread(target=pay_meanwhile)
        payer.start()
        payer.join(timeout=20)
        assert landed.is_set(), "a payment waited for the audit"
        assert uow.conn is not None
        seen = uow.conn.execute(text("SELECT COUNT(*) FROM transfers")).scalar()
        assert seen == before  # the audit still sees its snapshot
        assert uow.audit.cached_balance_failures(5) == (0, [])
    assert audit(books, LEDGER_CHECKS).checks[0].checked == before + 1


def test_full_audit_re_prices_real_settlement_and_names_a_tampered_charge(store, clock) -> None:
    ids = add_city(store, 8)
    for day in (D0, D1, D2):
        add_readings(store, ids, day)
    settle_range(store, clock, D0, D2)
    report = audit(store)
    assert report.ok, failed(report)
    assert [c.name for c in report.checks] == [
        *CHECK_NAMES,
        "days_fully_settled",
        "charges_match_readings_and_tariff",
    ]
    execute(
        store,
        "UPDATE daily_usage SET energy_wh = energy_wh + 10 WHERE account_id = 5 AND day = :d",
        d=D2,
    )
    assert failed(audit(store)) == {"charges_match_readings_and_tariff": ("0000000005",)}
