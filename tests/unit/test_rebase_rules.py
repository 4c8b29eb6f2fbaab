"""The readings a staff-checked register refutes, and the checked registers refused."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpay.domain.rebase import MeterFacts, RebaseMeter, check_rebase, refuted
from gridpay.errors import InvalidInput

DAY = dt.date(2026, 10, 10)
PER_DAY_WH = 60 * 220 * 24
METER = MeterFacts(1, dt.date(2026, 1, 1), None, 500_000, 60)


def cmd(total_wh: int, day: dt.date = DAY) -> RebaseMeter:
    return RebaseMeter(100_000_000_001, day, total_wh, "Li Wei", "site visit")


@settings(max_examples=80, deadline=None)
@given(
    checked_wh=st.integers(0, 10**7),
    readings=st.dictionaries(
        st.integers(-20, 20), st.integers(0, 2 * 10**7), min_size=0, max_size=15
    ),
)
def test_what_is_left_agrees_with_the_checked_reading(checked_wh: int, readings) -> None:
    frame = pl.DataFrame(
        {
            "day": [DAY + dt.timedelta(days=d) for d in readings],
            "total_wh": list(readings.values()),
        },
        schema={"day": pl.Date, "total_wh": pl.Int64},
    )
    wrong = refuted(frame, cmd(checked_wh), 60, 220)
    left = frame.join(wrong, on="day", how="anti")
    for day, wh in left.iter_rows():
        gap = (day - DAY).days
        rise = wh - checked_wh
        # never backwards across the checked day, never faster than the breaker
        assert rise * gap >= 0 and abs(rise) <= PER_DAY_WH * abs(gap)
    assert set(wrong["day"].to_list()) <= set(frame["day"].to_list())


@pytest.mark.parametrize(
    ("total_wh", "day", "message"),
    [
        (999_999_999_999_000, DAY, "whole digits"),
        (499_999, DAY, "below the meter's initial register"),
        (500_000 + PER_DAY_WH * 10, dt.date(2026, 1, 9), "more than a 60 A breaker"),
        (600_000, dt.date(2025, 12, 31), "installed on 2026-01-01"),
        (600_000, dt.date(2027, 1, 1), "in the future"),
    ],
)
def test_checked_reading_the_meter_cannot_show_is_refused(total_wh, day, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_rebase(cmd(total_wh, day), METER, dt.date(2026, 11, 28), 220)


def test_plausible_checked_reading_is_accepted() -> None:
    check_rebase(cmd(500_000 + PER_DAY_WH * 9, dt.date(2026, 1, 9)), METER, DAY, 220)
