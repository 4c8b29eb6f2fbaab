"""The business-date clocks and how an operator's instant is read."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.adapters.clock import FixedClock, MovingClock, parse_instant
from gridpay.errors import InvalidInput

SHANGHAI = "Asia/Shanghai"
UTC_0 = dt.datetime(2026, 10, 8, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-08T08:00", UTC_0),  # wall time in the settings' zone
        ("2026-10-08 08:00:00", UTC_0),
        ("2026-10-08T08:00+08:00", UTC_0),  # an offset is taken as written
        ("2026-10-08T00:00:00Z", UTC_0),
        ("2026-10-08T00:00:00+00:00", UTC_0),
        ("2026-10-08", UTC_0 - dt.timedelta(hours=8)),  # a bare date: 00:00 local
        (" 2026-10-08T08:00 ", UTC_0),
    ],
)
def test_an_operators_instant_is_read_as_utc(text: str, expected: dt.datetime) -> None:
    at = parse_instant(text, SHANGHAI)
    assert at == expected
    assert at.tzinfo == dt.UTC


def test_a_naive_instant_is_wall_time_in_the_zone_given() -> None:
    assert parse_instant("2026-10-08T08:00", "UTC") == UTC_0 + dt.timedelta(hours=8)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01", "2026-10-08T25:00", "08:00"])
def test_anything_else_is_invalid_input_naming_the_source(text: str) -> None:
    with pytest.raises(InvalidInput, match=f"GRIDPAY_NOW {text!r} is not an instant like"):
        parse_instant(text, SHANGHAI, "GRIDPAY_NOW")


def test_a_fixed_clock_stands_still_at_the_instant() -> None:
    clock = FixedClock(UTC_0 - dt.timedelta(minutes=1), SHANGHAI)
    assert clock.now() == clock.now() == dt.datetime(2026, 10, 7, 23, 59, tzinfo=dt.UTC)
    assert clock.today() == dt.date(2026, 10, 8)  # already the 8th in Shanghai


def test_a_moving_clock_starts_at_the_instant_and_moves_with_real_time() -> None:
    ticks = iter([100.0, 100.0, 190.5, 86_500.0])
    clock = MovingClock(UTC_0, SHANGHAI, monotonic_s=lambda: next(ticks))
    assert clock.now() == UTC_0
    assert clock.now() == UTC_0 + dt.timedelta(seconds=90.5)
    assert clock.today() == dt.date(2026, 10, 9)  # a day and a bit later


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
def test_a_written_instant_reads_back_as_itself(local: dt.datetime) -> None:
    local = local.replace(microsecond=0)
    at = parse_instant(local.isoformat(), SHANGHAI)
    assert FixedClock(at, SHANGHAI).now() == at
    assert at.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None) == local
