"""The paired check of a settlement chunk: the charges posted are the usage rows' charges."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.settlement import (
    ChargeSums,
    assert_charges_posted_as_settled,
    charge_transfers,
    posted_charge_sums,
    usage_charge_sums,
)

DAY = dt.date(2026, 10, 15)

charges_fen = st.lists(st.integers(min_value=-10_000_000, max_value=10_000_000), max_size=40)


def usage_of(charges: list[int]) -> pl.DataFrame:
    """Settled usage rows with the given charges (the columns the transfers are made from)."""
    return pl.DataFrame(
        {
            "day": [DAY] * len(charges),
            "account_id": list(range(1, len(charges) + 1)),
            "charge_fen": charges,
        },
        schema={"day": pl.Date, "account_id": pl.Int64, "charge_fen": pl.Int64},
    )


@given(charges_fen)
def test_the_transfers_of_settled_usage_post_exactly_its_charges(charges):
    usage = usage_of(charges)
    settled = usage_charge_sums(usage)
    posted = posted_charge_sums(charge_transfers(usage))
    assert settled == posted
    assert settled.charged_fen == sum(c for c in charges if c > 0)
    assert settled.credited_fen == -sum(c for c in charges if c < 0)
    assert settled.transfers == sum(1 for c in charges if c != 0)
    assert_charges_posted_as_settled(settled, posted)


def _one_fen_more(transfers: pl.DataFrame, row: int) -> pl.DataFrame:
    more = pl.when(pl.int_range(pl.len()) == row).then(pl.col("amount_fen") + 1)
    return transfers.with_columns(more.otherwise(pl.col("amount_fen")).alias("amount_fen"))


def _missing(transfers: pl.DataFrame, row: int) -> pl.DataFrame:
    return transfers.filter(pl.int_range(pl.len()) != row)


def _backwards(transfers: pl.DataFrame, row: int) -> pl.DataFrame:
    """The row's money moved the other way (its kind left as it was)."""
    this = pl.int_range(pl.len()) == row
    debit, credit = pl.col("debit_account_id"), pl.col("credit_account_id")
    return transfers.with_columns(
        pl.when(this).then(credit).otherwise(debit).alias("debit_account_id"),
        pl.when(this).then(debit).otherwise(credit).alias("credit_account_id"),
    )


@pytest.mark.parametrize("perturb", [_one_fen_more, _missing, _backwards])
@given(
    charges=charges_fen.filter(lambda cs: any(c != 0 for c in cs)),
    pick=st.integers(min_value=0),
)
def test_transfers_that_differ_from_the_usage_rows_by_one_posting_are_refused(
    perturb, charges, pick
):
    usage = usage_of(charges)
    transfers = charge_transfers(usage)
    wrong = perturb(transfers, pick % transfers.height)
    with pytest.raises(AssertionError):
        assert_charges_posted_as_settled(usage_charge_sums(usage), posted_charge_sums(wrong))


def test_charge_sums_add_up_field_by_field():
    assert ChargeSums(5, 2, 3) + ChargeSums(1, 0, 1) == ChargeSums(6, 2, 4)
    assert ChargeSums() + ChargeSums(1, 2, 3) == ChargeSums(1, 2, 3)


def test_no_usage_rows_post_nothing():
    usage = usage_of([])
    assert usage_charge_sums(usage) == ChargeSums() == posted_charge_sums(charge_transfers(usage))
