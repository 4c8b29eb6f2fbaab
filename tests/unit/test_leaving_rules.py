"""Close-out and payout rules: the balance always ends at zero, each id has one possible value."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.leaving import close_out_transfer, parse_payout_line, payout_transfer
from gridpay.domain.ledger import (
    PAYOUT_IDS,
    RECEIVABLES_ID,
    REFUNDS_ID,
    PayoutChannel,
    TransferKind,
)

DAY = dt.date(2026, 12, 9)


@given(
    balance_fen=st.integers(-(10**9), 10**9),
    account_id=st.integers(1, 10**10 - 1),
    enrolment_id=st.integers(1, 10**9),
)
def test_a_close_out_takes_any_balance_to_zero_between_two_accounts(
    balance_fen: int, account_id: int, enrolment_id: int
) -> None:
    transfer = close_out_transfer(account_id, enrolment_id, balance_fen, DAY)
    if balance_fen == 0:
        assert transfer is None
        return
    assert transfer is not None
    # The customer's balance is credits - debits: the transfer moves it by -balance.
    moved = (transfer.credit_account_id == account_id) * transfer.amount_fen - (
        transfer.debit_account_id == account_id
    ) * transfer.amount_fen
    assert balance_fen + moved == 0
    assert transfer.account_id == account_id and transfer.day == DAY
    other = {transfer.debit_account_id, transfer.credit_account_id} - {account_id}
    assert other == ({REFUNDS_ID} if balance_fen > 0 else {RECEIVABLES_ID})
    assert transfer == close_out_transfer(account_id, enrolment_id, balance_fen, DAY)  # one id


@given(balance_fen=st.integers(1, 10**9), channel=st.sampled_from(list(PayoutChannel)))
def test_a_payout_moves_a_refund_out_of_refunds_payable_under_one_id_per_refund(
    balance_fen: int, channel: PayoutChannel
) -> None:
    refund = close_out_transfer(42, 7, balance_fen, DAY)
    assert refund is not None and refund.kind is TransferKind.REFUND
    payout = payout_transfer(refund, channel, DAY, None)
    assert (payout.debit_account_id, payout.credit_account_id) == (REFUNDS_ID, PAYOUT_IDS[channel])
    assert payout.amount_fen == refund.amount_fen
    other = next(c for c in PayoutChannel if c is not channel)
    assert payout.id == payout_transfer(refund, other, DAY, None).id == "payout/leave-0000000042-7"


def test_a_payout_line_names_its_problem_instead_of_raising() -> None:
    assert parse_payout_line(2, " leave-1 ", "74.40").problem is None
    assert parse_payout_line(2, " leave-1 ", "74.40").ref == "leave-1"
    assert parse_payout_line(3, "leave-1", "7.445").problem is not None
    assert parse_payout_line(4, "", "1").problem == "the reference is empty"
    assert parse_payout_line(5, "x", "-1").problem == "the amount must be positive"
