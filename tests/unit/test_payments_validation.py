"""Payment commands: every validation rule, with the message a clerk would read."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay.domain.ledger import (
    CLEARING_IDS,
    REFUNDS_ID,
    REVENUE_ID,
    Channel,
    Transfer,
    TransferKind,
)
from gridpay.domain.payments import (
    Refund,
    TakePayment,
    check_reversible,
    conflict_message,
    parse_account_no,
    payment_transfer,
    refund_transfer,
    reversal_transfer,
    same_request,
    validate_payment,
    validate_refund,
)
from gridpay.errors import InvalidInput, Refused

DAY = dt.date(2026, 11, 28)
LIMITS = {"amount_fen_max": 5_000_000, "ref_chars_max": 64, "office_ids": {1, 2, 3, 4, 5, 6}}


def pay(**changes: object) -> TakePayment:
    fields: dict[str, object] = {
        "account_no": "0000000042",
        "amount_yuan": "100.50",
        "channel": "bank",
        "ref": "TX-1",
        "office_id": None,
    }
    fields.update(changes)
    return TakePayment(**fields)  # type: ignore[arg-type]


def test_a_valid_payment_becomes_a_request_in_fen() -> None:
    request = validate_payment(pay(), **LIMITS)
    assert request.account_id == 42
    assert request.amount_fen == 10_050
    assert request.channel is Channel.BANK
    assert request.ref == "TX-1"


@pytest.mark.parametrize("account_no", ["42", "00000000421", "000000004a", "", "-000000042"])
def test_an_account_number_must_be_ten_digits(account_no: str) -> None:
    with pytest.raises(InvalidInput, match="must be exactly 10 digits"):
        validate_payment(pay(account_no=account_no), **LIMITS)


def test_account_number_keeps_leading_zeros_as_the_id() -> None:
    assert parse_account_no(" 0000000007 ") == 7


@pytest.mark.parametrize("amount", ["0", "0.00", "-5"])
def test_an_amount_must_be_positive(amount: str) -> None:
    with pytest.raises(InvalidInput, match="amount must be positive"):
        validate_payment(pay(amount_yuan=amount), **LIMITS)


def test_an_amount_has_at_most_two_decimals() -> None:
    with pytest.raises(InvalidInput, match="more than 2 decimals"):
        validate_payment(pay(amount_yuan="10.005"), **LIMITS)


@pytest.mark.parametrize("amount", ["abc", "", "1e400000", "NaN"])
def test_an_amount_must_be_a_number(amount: str) -> None:
    with pytest.raises(InvalidInput, match="amount"):
        validate_payment(pay(amount_yuan=amount), **LIMITS)


def test_an_amount_above_the_maximum_is_refused_naming_the_limit_in_yuan() -> None:
    with pytest.raises(
        InvalidInput, match=r"50000\.01 yuan .* largest accepted amount of 50000\.00"
    ):
        validate_payment(pay(amount_yuan="50000.01"), **LIMITS)
    assert validate_payment(pay(amount_yuan="50000"), **LIMITS).amount_fen == 5_000_000


def test_an_unknown_channel_is_refused_listing_the_channels() -> None:
    with pytest.raises(
        InvalidInput, match="unknown channel 'paypal': use one of app, counter, bank, agent"
    ):
        validate_payment(pay(channel="paypal"), **LIMITS)


def test_a_channel_is_read_case_insensitively() -> None:
    assert validate_payment(pay(channel=" Bank "), **LIMITS).channel is Channel.BANK


@pytest.mark.parametrize("ref", ["", "   "])
def test_a_reference_must_not_be_empty(ref: str) -> None:
    with pytest.raises(InvalidInput, match="reference is empty"):
        validate_payment(pay(ref=ref), **LIMITS)


def test_a_reference_has_a_length_limit() -> None:
    assert validate_payment(pay(ref="R" * 64), **LIMITS).ref == "R" * 64
    with pytest.raises(InvalidInput, match="65 characters long; at most 64"):
        validate_payment(pay(ref="R" * 65), **LIMITS)


@pytest.mark.parametrize("ref", ["TX 1", "TX\t1", "TX\x001"])
def test_a_reference_has_no_spaces_or_control_characters(ref: str) -> None:
    with pytest.raises(InvalidInput, match="printable characters without spaces"):
        validate_payment(pay(ref=ref), **LIMITS)


def test_surrounding_spaces_do_not_make_a_second_reference() -> None:
    assert validate_payment(pay(ref="  TX-1 "), **LIMITS).ref == "TX-1"


def test_a_counter_payment_needs_an_office() -> None:
    with pytest.raises(InvalidInput, match="needs the service office"):
        validate_payment(pay(channel="counter"), **LIMITS)


def test_a_counter_payment_needs_a_known_office() -> None:
    with pytest.raises(InvalidInput, match="unknown office 9: known offices are 1, 2, 3, 4, 5, 6"):
        validate_payment(pay(channel="counter", office_id=9), **LIMITS)
    assert validate_payment(pay(channel="counter", office_id=3), **LIMITS).office_id == 3


@pytest.mark.parametrize("channel", ["app", "bank", "agent"])
def test_an_office_is_refused_for_other_channels(channel: str) -> None:
    with pytest.raises(
        InvalidInput, match=f"only given for counter payments, not for channel {channel}"
    ):
        validate_payment(pay(channel=channel, office_id=1), **LIMITS)


def test_a_payment_moves_money_from_the_channel_clearing_account_to_the_customer() -> None:
    transfer = payment_transfer(validate_payment(pay(channel="agent"), **LIMITS), DAY)
    assert transfer.id == "pay/agent/TX-1"
    assert transfer.debit_account_id == CLEARING_IDS[Channel.AGENT]
    assert transfer.credit_account_id == 42
    assert transfer.amount_fen == 10_050
    assert transfer.kind is TransferKind.PAYMENT
    assert (transfer.account_id, transfer.day, transfer.channel, transfer.ref) == (
        42,
        DAY,
        "agent",
        "TX-1",
    )


def test_a_refund_moves_money_from_the_customer_to_refunds_payable() -> None:
    request = validate_refund(
        Refund("0000000042", "20", "RF-1", note=" moving out "),
        amount_fen_max=5_000_000,
        ref_chars_max=64,
    )
    transfer = refund_transfer(request, DAY)
    assert transfer.id == "refund/RF-1"
    assert (transfer.debit_account_id, transfer.credit_account_id) == (42, REFUNDS_ID)
    assert transfer.amount_fen == 2_000
    assert transfer.note == "moving out"


def test_a_refund_validates_like_a_payment() -> None:
    with pytest.raises(InvalidInput, match="amount must be positive"):
        validate_refund(Refund("0000000042", "0", "RF-1"), amount_fen_max=100, ref_chars_max=64)
    with pytest.raises(InvalidInput, match="largest accepted amount of 1.00 yuan"):
        validate_refund(Refund("0000000042", "2", "RF-1"), amount_fen_max=100, ref_chars_max=64)
    with pytest.raises(InvalidInput, match="note is 201 characters long"):
        validate_refund(
            Refund("0000000042", "1", "RF-1", note="n" * 201), amount_fen_max=100, ref_chars_max=64
        )


def _payment() -> Transfer:
    return payment_transfer(validate_payment(pay(), **LIMITS), DAY)


def test_a_reversal_mirrors_the_payment_and_is_dated_when_posted() -> None:
    original = _payment()
    later = DAY + dt.timedelta(days=9)
    reversal = reversal_transfer(original, later, "bounced")
    assert reversal.id == "reversal/pay/bank/TX-1"
    assert reversal.debit_account_id == original.credit_account_id
    assert reversal.credit_account_id == original.debit_account_id
    assert reversal.amount_fen == original.amount_fen
    assert reversal.kind is TransferKind.REVERSAL
    assert reversal.reverses_id == original.id
    assert reversal.day == later
    assert reversal.note == "bounced"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (TransferKind.REVERSAL, "itself a reversal"),
        (TransferKind.CHARGE, "daily electricity charge"),
        (TransferKind.CREDIT, "settlement credit"),
        (TransferKind.ADJUSTMENT, "new correcting adjustment"),
    ],
)
def test_only_payments_and_refunds_can_be_reversed(kind: TransferKind, reason: str) -> None:
    transfer = Transfer("x/1", 42, REVENUE_ID, 100, kind, account_id=42, day=DAY)
    with pytest.raises(Refused, match=f"transfer x/1 cannot be reversed: .*{reason}"):
        check_reversible(transfer)


def test_a_retry_is_the_same_request_whatever_its_day_or_note() -> None:
    original = _payment()
    retried_next_day = payment_transfer(validate_payment(pay(), **LIMITS), DAY + dt.timedelta(1))
    assert same_request(original, retried_next_day)
    other_amount = payment_transfer(validate_payment(pay(amount_yuan="100.51"), **LIMITS), DAY)
    other_account = payment_transfer(validate_payment(pay(account_no="0000000043"), **LIMITS), DAY)
    assert not same_request(original, other_amount)
    assert not same_request(original, other_account)


def test_a_conflict_names_both_operations() -> None:
    original = _payment()
    other = payment_transfer(
        validate_payment(pay(account_no="0000000043", amount_yuan="7"), **LIMITS), DAY
    )
    message = conflict_message(original, other)
    assert "pay/bank/TX-1 was already recorded as 100.50 yuan, account 0000000042" in message
    assert "this request is 7.00 yuan, account 0000000043" in message
