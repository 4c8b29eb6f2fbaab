from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.money import (
    fen_from_nyuan,
    format_fen,
    format_kwh,
    format_price,
    parse_kwh,
    parse_price_yuan_per_kwh,
    parse_yuan,
)
from gridpay.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12.30", 1230), ("0.01", 1), ("100", 10000), ("-3.5", -350), (" 7.00 ", 700)],
)
def test_parse_yuan_reads_up_to_two_decimals(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["12.301", "abc", "", "NaN", "1e400000", "inf"])
def test_parse_yuan_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_yuan(text)


def test_trailing_zero_decimals_are_not_extra_precision() -> None:
    assert parse_yuan("12.3000") == 1230


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_then_parse_yuan_round_trips(fen: int) -> None:
    assert parse_yuan(format_fen(fen)) == fen


def test_units_parse_exactly() -> None:
    assert parse_kwh("1234.56") == 1_234_560
    assert format_kwh(1_234_560) == "1234.56"
    assert parse_price_yuan_per_kwh("0.568") == 568_000
    assert format_price(560_000) == "0.5600"
    assert format_price(568_000) == "0.5680"


@pytest.mark.parametrize(
    ("nyuan", "fen"),
    [(0, 0), (4_999_999, 0), (5_000_000, 1), (15_000_000, 2), (10_000_000, 1), (-5_000_000, 0)],
)
def test_rounding_to_fen_is_half_up(nyuan: int, fen: int) -> None:
    assert fen_from_nyuan(nyuan) == fen


@given(st.integers(min_value=0, max_value=10**16))
def test_rounding_is_within_half_a_fen(nyuan: int) -> None:
    assert abs(fen_from_nyuan(nyuan) * 10_000_000 - nyuan) <= 5_000_000
