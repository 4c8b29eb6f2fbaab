"""Reversals, as pure ledger rules: a reversal undoes exactly what it mirrors."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.ledger import Channel, Transfer
from gridpay.domain.payments import (
    PaymentRequest,
    RefundRequest,
    payment_transfer,
    refund_transfer,
    reversal_transfer,
)
from gridpay.errors import Refused

DAY = dt.date(2026, 11, 28)

payments = st.builds(
    PaymentRequest,
    account_id=st.integers(1, 5),
    amount_fen=st.integers(1, 5_000_000),
    channel=st.sampled_from(list(Channel)),
    ref=st.text("ABC123", min_size=1, max_size=6),
    office_id=st.none(),
).map(lambda r: payment_transfer(r, DAY))
refunds = st.builds(
    RefundRequest,
    account_id=st.integers(1, 5),
    amount_fen=st.integers(1, 5_000_000),
    ref=st.text("XYZ", min_size=1, max_size=4),
    note=st.none(),
).map(lambda r: refund_transfer(r, DAY))


def _post(balances: Counter[int], transfer: Transfer) -> None:
    """A ledger in a dict: credits - debits per account."""
    balances[transfer.credit_account_id] += transfer.amount_fen
    balances[transfer.debit_account_id] -= transfer.amount_fen


@given(st.lists(st.one_of(payments, refunds), max_size=30))
def test_reversing_every_payment_and_refund_leaves_every_account_where_it_started(
    transfers: list[Transfer],
) -> None:
    balances: Counter[int] = Counter()
    for t in transfers:
        _post(balances, t)
    assert sum(balances.values()) == 0  # Σ debits = Σ credits at every step
    for t in transfers:
        _post(balances, reversal_transfer(t, DAY, None))
    assert all(v == 0 for v in balances.values())


@given(st.one_of(payments, refunds))
def test_a_reversal_cannot_itself_be_reversed(transfer: Transfer) -> None:
    reversal = reversal_transfer(transfer, DAY, None)
    assert reversal.id == f"reversal/{transfer.id}"
    with pytest.raises(Refused, match="itself a reversal"):
        reversal_transfer(reversal, DAY, None)
