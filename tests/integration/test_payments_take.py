"""Payments, refunds and reversals against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.ledger import CLEARING_IDS, REFUNDS_ID, Channel, TransferKind
from gridpay.domain.payments import Refund, Reverse, TakePayment
from gridpay.errors import Conflict, InvalidInput, NotFound, Refused
from gridpay.services.audit import audit
from gridpay.services.payments import Receipt, refund, reverse, take_payment
from tests.concurrency import race
from tests.fakes import FakeClock
from tests.helpers_accounts import (
    add_accounts,
    balance_fen,
    execute,
    rows,
    scalar,
    settle_day_by_hand,
)

SETTINGS = Settings()
A = "0000000001"


@pytest.fixture
def accounts(store: SqlStore) -> list[int]:
    add_accounts(store, [1, 2])
    add_accounts(store, [3], billing_mode="postpaid")
    return [1, 2, 3]


def pay(
    store: SqlStore,
    clock: FakeClock,
    amount: str = "100",
    *,
    account: str = A,
    channel: str = "bank",
    ref: str = "TX-1",
    office: int | None = None,
) -> Receipt:
    return take_payment(store, clock, SETTINGS, TakePayment(account, amount, channel, ref, office))


def transfers_count(store: SqlStore) -> int:
    return int(scalar(store, "SELECT COUNT(*) FROM transfers"))


# --- taking a payment ---------------------------------------------------------------------


def test_a_payment_credits_the_account_and_debits_the_channel_clearing_account(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    receipt = pay(store, clock, "100.50")
    assert not receipt.already_recorded
    assert receipt.balance_fen == 10_050
    assert receipt.transfer.id == "pay/bank/TX-1"
    assert receipt.transfer.day == clock.today()
    assert receipt.account_no == A
    assert receipt.customer_name == "Household 1"
    assert balance_fen(store, 1) == 10_050
    assert balance_fen(store, CLEARING_IDS[Channel.BANK]) == -10_050
    (row,) = rows(store, "SELECT kind, channel, ref, account_id, amount_fen FROM transfers")
    assert tuple(row) == ("payment", "bank", "TX-1", 1, 10_050)


def test_a_counter_payment_records_its_office(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    receipt = pay(store, clock, channel="counter", ref="C-1", office=4)
    assert receipt.transfer.office_id == 4
    assert scalar(store, "SELECT office_id FROM transfers") == 4


def test_a_receipt_shows_the_balance_after_earlier_charges(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    day = dt.date(2026, 11, 27)
    settle_day_by_hand(
        store, 1, day, energy_wh=10_000, charge_fen=560, ytd_wh=10_000, ytd_charged_fen=560
    )
    assert pay(store, clock, "10").balance_fen == 1_000 - 560


@pytest.mark.parametrize(
    ("account", "error", "message"),
    [
        ("0000000099", NotFound, "account 0000000099 does not exist"),
        ("99", InvalidInput, "must be exactly 10 digits"),
        ("0000000003", Refused, "account 0000000003 is postpaid: only prepaid accounts"),
    ],
)
def test_a_payment_needs_an_existing_prepaid_account(
    store: SqlStore,
    clock: FakeClock,
    accounts: list[int],
    account: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        pay(store, clock, account=account)
    assert transfers_count(store) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": "-1"}, "amount must be positive"),
        ({"amount": "1.001"}, "more than 2 decimals"),
        ({"amount": "50000.01"}, "largest accepted amount of 50000.00 yuan"),
        ({"channel": "cash"}, "use one of app, counter, bank, agent"),
        ({"ref": ""}, "reference is empty"),
        ({"ref": "x" * 65}, "at most 64"),
        ({"channel": "counter"}, "needs the service office"),
        ({"channel": "counter", "office": 7}, "unknown office 7"),
        ({"office": 2}, "only given for counter payments"),
    ],
)
def test_bad_payment_input_is_refused_with_its_reason_and_nothing_is_written(
    store: SqlStore, clock: FakeClock, accounts: list[int], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        pay(store, clock, **changes)
    assert transfers_count(store) == 0


def test_the_largest_payment_is_configurable(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    small = Settings(payment_amount_fen_max=10_000)
    with pytest.raises(InvalidInput, match="largest accepted amount of 100.00 yuan"):
        take_payment(store, clock, small, TakePayment(A, "100.01", "app", "X"))
    take_payment(store, clock, small, TakePayment(A, "100.00", "app", "X"))


# --- idempotency --------------------------------------------------------------------------


def test_payment_retried_with_same_reference_is_credited_once(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    first = pay(store, clock, "100")
    retry = pay(store, clock, "100.00")
    assert retry.already_recorded
    assert retry.transfer == first.transfer
    assert retry.balance_fen == first.balance_fen == 10_000
    assert transfers_count(store) == 1


def test_a_retry_after_midnight_returns_the_original_receipt_not_a_conflict(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    first = pay(store, clock)
    clock.advance(days=1)
    retry = pay(store, clock)
    assert retry.already_recorded
    assert retry.transfer.day == first.transfer.day
    assert balance_fen(store, 1) == 10_000


def test_a_retry_after_the_account_went_postpaid_still_returns_the_original(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock)
    execute(store, "UPDATE accounts SET billing_mode = 'postpaid' WHERE id = 1")
    assert pay(store, clock).already_recorded
    with pytest.raises(Refused, match="postpaid"):
        pay(store, clock, ref="TX-2")


@pytest.mark.parametrize(
    ("changes", "shown"),
    [({"amount": "100.01"}, "100.01 yuan"), ({"account": "0000000002"}, "account 0000000002")],
)
def test_the_same_reference_for_a_different_payment_is_refused(
    store: SqlStore, clock: FakeClock, accounts: list[int], changes: dict[str, Any], shown: str
) -> None:
    pay(store, clock)
    with pytest.raises(
        Conflict, match=f"pay/bank/TX-1 was already recorded .*this request is .*{shown}"
    ):
        pay(store, clock, **changes)
    assert transfers_count(store) == 1
    assert balance_fen(store, 1) == 10_000
    assert balance_fen(store, 2) == 0


def test_the_same_reference_on_another_channel_is_another_payment(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, channel="bank")
    receipt = pay(store, clock, channel="agent")
    assert not receipt.already_recorded
    assert receipt.balance_fen == 20_000


def test_concurrent_duplicate_payments_land_once(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    receipts, errors = race(8, lambda _i: pay(store, clock, "25"))
    assert errors == []
    assert sum(not r.already_recorded for r in receipts) == 1
    assert sum(r.already_recorded for r in receipts) == 7
    assert balance_fen(store, 1) == 2_500
    assert transfers_count(store) == 1
    assert audit(store).ok


def test_concurrent_payments_with_different_references_all_land(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    receipts, errors = race(8, lambda i: pay(store, clock, "1.01", ref=f"TX-{i}"))
    assert errors == []
    assert not any(r.already_recorded for r in receipts)
    assert balance_fen(store, 1) == 8 * 101
    assert audit(store).ok


def test_concurrent_conflicting_duplicates_credit_only_the_winner(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    receipts, errors = race(6, lambda i: pay(store, clock, str(10 + i), ref="SAME"))
    assert len(receipts) == 1
    assert len(errors) == 5
    assert all(isinstance(e, Conflict) for e in errors)
    assert balance_fen(store, 1) == receipts[0].transfer.amount_fen
    assert audit(store).ok


# --- refunds ------------------------------------------------------------------------------


def test_a_refund_pays_back_part_of_the_balance(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "100")
    receipt = refund(store, clock, SETTINGS, Refund(A, "30.25", "RF-1", note="moving"))
    assert receipt.transfer.id == "refund/RF-1"
    assert receipt.transfer.kind is TransferKind.REFUND
    assert receipt.balance_fen == 6_975
    assert balance_fen(store, REFUNDS_ID) == 3_025


def test_a_refund_cannot_exceed_the_balance(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "10")
    with pytest.raises(Refused, match="refund of 10.01 yuan exceeds the balance .* 10.00 yuan"):
        refund(store, clock, SETTINGS, Refund(A, "10.01", "RF-1"))
    assert refund(store, clock, SETTINGS, Refund(A, "10", "RF-1")).balance_fen == 0


def test_a_refund_retried_is_a_no_op_even_when_the_balance_is_now_lower(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "10")
    refund(store, clock, SETTINGS, Refund(A, "10", "RF-1"))
    retry = refund(store, clock, SETTINGS, Refund(A, "10", "RF-1"))
    assert retry.already_recorded
    assert retry.balance_fen == 0
    with pytest.raises(Conflict, match="refund/RF-1 was already recorded"):
        refund(store, clock, SETTINGS, Refund(A, "5", "RF-1"))


def test_a_refund_needs_an_existing_account(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    with pytest.raises(NotFound, match="account 0000000077 does not exist"):
        refund(store, clock, SETTINGS, Refund("0000000077", "1", "RF-1"))


def test_concurrent_refunds_never_overdraw_the_balance(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "10")
    receipts, errors = race(5, lambda i: refund(store, clock, SETTINGS, Refund(A, "4", f"RF-{i}")))
    assert len(receipts) == 2
    assert len(errors) == 3
    assert all(isinstance(e, Refused) for e in errors)
    assert balance_fen(store, 1) == 200


# --- reversals ----------------------------------------------------------------------------


def test_a_reversal_undoes_a_payment_with_a_mirror_transfer(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "80")
    clock.advance(days=3)
    receipt = reverse(store, clock, Reverse("pay/bank/TX-1", note="cheque bounced"))
    assert receipt.transfer.id == "reversal/pay/bank/TX-1"
    assert receipt.transfer.reverses_id == "pay/bank/TX-1"
    assert receipt.transfer.day == clock.today()
    assert receipt.balance_fen == 0
    assert balance_fen(store, CLEARING_IDS[Channel.BANK]) == 0
    assert transfers_count(store) == 2  # the payment is still there, never edited


def test_reversing_twice_is_a_no_op(store: SqlStore, clock: FakeClock, accounts: list[int]) -> None:
    pay(store, clock, "80")
    reverse(store, clock, Reverse("pay/bank/TX-1"))
    again = reverse(store, clock, Reverse("pay/bank/TX-1", note="a different note"))
    assert again.already_recorded
    assert balance_fen(store, 1) == 0
    assert transfers_count(store) == 2


def test_reversing_a_refund_gives_the_money_back(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "80")
    refund(store, clock, SETTINGS, Refund(A, "30", "RF-1"))
    assert reverse(store, clock, Reverse("refund/RF-1")).balance_fen == 8_000
    assert balance_fen(store, REFUNDS_ID) == 0


def test_reversing_a_payment_may_leave_the_account_in_arrears(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    settle_day_by_hand(
        store, 1, dt.date(2026, 11, 27), energy_wh=1, charge_fen=500, ytd_wh=1, ytd_charged_fen=500
    )
    pay(store, clock, "10")
    assert reverse(store, clock, Reverse("pay/bank/TX-1")).balance_fen == -500


def test_a_reversal_or_a_charge_cannot_be_reversed(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    day = dt.date(2026, 11, 27)
    settle_day_by_hand(
        store, 1, day, energy_wh=1_000, charge_fen=56, ytd_wh=1_000, ytd_charged_fen=56
    )
    pay(store, clock)
    reverse(store, clock, Reverse("pay/bank/TX-1"))
    with pytest.raises(Refused, match="itself a reversal"):
        reverse(store, clock, Reverse("reversal/pay/bank/TX-1"))
    with pytest.raises(Refused, match="daily electricity charge"):
        reverse(store, clock, Reverse("charge/2026-11-27/0000000001"))
    assert transfers_count(store) == 3


def test_reversing_an_unknown_transfer_is_not_found(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    with pytest.raises(NotFound, match="transfer 'pay/bank/NOPE' does not exist"):
        reverse(store, clock, Reverse("pay/bank/NOPE"))


def test_a_payment_reversed_and_paid_again_under_a_new_reference_balances(
    store: SqlStore, clock: FakeClock, accounts: list[int]
) -> None:
    pay(store, clock, "50", account="0000000002")  # to the wrong account
    reverse(store, clock, Reverse("pay/bank/TX-1", note="wrong account"))
    pay(store, clock, "50", ref="TX-1b")
    assert balance_fen(store, 1) == 5_000
    assert balance_fen(store, 2) == 0
    report = audit(store)
    assert report.ok, report
