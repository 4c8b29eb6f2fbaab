"""A meter's first reading is held to the meter's initial register and its breaker's rating."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.kernel_helpers import VOLTAGE_V, account_row, prev_from_usage, settle_rows, shipped

TARIFFS = list(shipped().values())
DAY = dt.date(2026, 10, 15)
INSTALLED = dt.date(2026, 10, 1)  # 15 days before DAY, counting both
INITIAL_WH = 1_000_000
BREAKER_A = 60
PER_DAY_WH = BREAKER_A * VOLTAGE_V * 24
BOGUS_WH = 999_999_999_999_000  # 999999999999 kWh


def first(**kw):
    return account_row(
        meter_installed_on=INSTALLED, meter_initial_wh=INITIAL_WH, breaker_a=BREAKER_A, **kw
    )


def test_bogus_first_reading_is_quarantined_and_never_becomes_the_baseline() -> None:
    usage, quarantined = settle_rows([first(r_total_wh=BOGUS_WH)], DAY, TARIFFS)
    assert usage.height == 0  # still waiting for a first reading
    q = quarantined.row(0, named=True)
    assert q["reason_code"] == "implausible_first_reading"
    assert "999999999999" in q["reason"] and "2026-10-01" in q["reason"]


def test_after_a_bogus_first_reading_the_next_real_one_is_the_baseline() -> None:
    real_wh = INITIAL_WH + 50_000
    # Yesterday's raw reading was the bogus one: it is no baseline.
    usage, quarantined = settle_rows(
        [first(first_base_wh=BOGUS_WH, r_total_wh=real_wh)], DAY, TARIFFS
    )
    u = usage.row(0, named=True)
    assert (u["reading_wh"], u["energy_wh"], u["estimated"]) == (real_wh, 0, False)
    assert quarantined.height == 0
    nxt = DAY + dt.timedelta(days=1)
    usage, quarantined = settle_rows(
        [first(**prev_from_usage(u), r_total_wh=real_wh + 8_000)], nxt, TARIFFS
    )
    assert usage.row(0, named=True)["energy_wh"] == 8_000
    assert usage.row(0, named=True)["estimated"] is False
    assert quarantined.height == 0


def test_first_reading_below_the_initial_register_is_quarantined() -> None:
    usage, quarantined = settle_rows([first(r_total_wh=INITIAL_WH - 1)], DAY, TARIFFS)
    assert usage.height == 0
    assert quarantined["reason_code"].to_list() == ["implausible_first_reading"]


@settings(max_examples=60, deadline=None)
@given(rise_wh=st.integers(min_value=-(10**9), max_value=10**9))
def test_a_first_reading_is_a_baseline_exactly_when_the_breaker_could_reach_it(
    rise_wh: int,
) -> None:
    days = (DAY - INSTALLED).days + 1
    reading_wh = INITIAL_WH + rise_wh
    usage, quarantined = settle_rows([first(r_total_wh=reading_wh)], DAY, TARIFFS)
    plausible = 0 <= rise_wh <= PER_DAY_WH * days
    assert usage.height == (1 if plausible else 0)
    assert quarantined.height == (0 if plausible else 1)
    # The same bound, a day shorter, for yesterday's raw reading as the baseline: used when
    # plausible (today's equal reading is then real), else today's reading is the first.
    yesterday_ok = 0 <= rise_wh <= PER_DAY_WH * (days - 1)
    usage, _ = settle_rows([first(first_base_wh=reading_wh, r_total_wh=reading_wh)], DAY, TARIFFS)
    assert usage.height == (1 if yesterday_ok or plausible else 0)
    assert usage["energy_wh"].to_list() == [0] * usage.height
