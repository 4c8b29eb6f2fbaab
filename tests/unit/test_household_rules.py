"""The households' page arithmetic: days of credit, the next kWh's price, the next tier's day,
TOU days, masked phones, the anti-forgery token."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.domain.household import (
    csrf_matches,
    csrf_token,
    days_of_credit,
    mask_phone,
    next_kwh_price_uyuan,
    next_tier_day,
    parse_phone,
    register_energy_wh,
)
from gridpay.domain.tariff import day_cost_nyuan
from gridpay.errors import InvalidInput

TIERED = next(t for t, _ in shipped_tariffs() if t.code == "henan-residential-tiered")


@given(
    balance_fen=st.integers(1, 10**7),
    charges=st.lists(st.integers(1, 5_000), min_size=1, max_size=30),
)
def test_days_of_credit_never_promise_a_day_the_balance_does_not_cover(
    balance_fen: int, charges: list[int]
) -> None:
    days = days_of_credit(balance_fen, charges)
    assert days is not None
    average_times_days = days * sum(charges)  # days * average * len
    assert average_times_days <= balance_fen * len(charges)
    assert (days + 1) * sum(charges) > balance_fen * len(charges)


def test_days_of_credit_at_zero_or_without_use() -> None:
    assert days_of_credit(0, [300]) == 0
    assert days_of_credit(-500, [300]) == 0
    assert days_of_credit(1_000, []) is None
    assert days_of_credit(1_000, [0, 0]) is None


@given(ytd_wh=st.integers(0, 6_000_000))
def test_the_next_kwh_costs_what_settlement_would_charge_for_it(ytd_wh: int) -> None:
    # Away from a band edge, one more kWh costs exactly its price per kWh (nyuan per kWh is
    # 1000 times uyuan per kWh).
    edges = (2_160_000, 3_120_000)
    if any(ytd_wh < edge < ytd_wh + 1000 for edge in edges):
        return
    price = next_kwh_price_uyuan(TIERED, ytd_wh)
    assert day_cost_nyuan(TIERED, ytd_wh, 1000) == price * 1000


def test_the_next_kwh_at_each_tier() -> None:
    assert next_kwh_price_uyuan(TIERED, 0) == 560_000
    assert next_kwh_price_uyuan(TIERED, 2_159_999) == 560_000
    assert next_kwh_price_uyuan(TIERED, 2_160_000) == 610_000  # at the edge: the higher tier
    assert next_kwh_price_uyuan(TIERED, 3_120_000) == 860_000


def test_the_next_tier_day_at_the_households_pace() -> None:
    last = dt.date(2026, 11, 27)
    assert next_tier_day(last, 120_000, 6_000) == dt.date(2026, 12, 17)
    assert next_tier_day(last, 121_000, 6_000) == dt.date(2026, 12, 18)  # a part-day: the next
    assert next_tier_day(last, 440_000, 6_000) is None  # not in this tier year
    assert next_tier_day(last, 1_000, 0) is None


def test_tou_energy_is_the_step_of_each_register() -> None:
    before = {"sharp": 1_000, "peak": 2_000, "flat": 3_000, "valley": 4_000}
    after = {"sharp": 1_500, "peak": 3_000, "flat": 4_500, "valley": 7_000}
    assert register_energy_wh(before, after) == {  # type: ignore[arg-type]
        "sharp": 500,
        "peak": 1_000,
        "flat": 1_500,
        "valley": 3_000,
    }
    assert register_energy_wh({}, after) is None  # type: ignore[arg-type]


def test_phones_are_masked_and_parsed() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert parse_phone("+86 138-1234-5678") == "13812345678"
    for bad in ("12345", "2381234567a", "1381234567"):
        with pytest.raises(InvalidInput):
            parse_phone(bad)


@given(st.text(max_size=80))
def test_any_posted_token_is_refused_or_matched_never_an_exception(given_text: str) -> None:
    token = "session-token"
    assert csrf_matches(token, given_text) == (given_text == csrf_token(token))
