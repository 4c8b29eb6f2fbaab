"""Properties of cut windows over random calendars, rule sets and instants."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.calendar import RULE_SETS, CutRules, DayKind, cut_allowed, next_cut_window

GRID = dt.timedelta(minutes=30)
BASE_DAY = dt.date(2026, 1, 1)

rules_st = st.sampled_from(sorted(RULE_SETS.values(), key=lambda r: r.name))
# A calendar as a repeating pattern of day kinds; patterns longer than a week shift weekdays.
pattern_st = st.lists(st.sampled_from(list(DayKind)), min_size=1, max_size=20)
local_at_st = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31))


def calendar_of(pattern: list[DayKind]) -> dict[dt.date, DayKind]:
    return {BASE_DAY + dt.timedelta(days=i): pattern[i % len(pattern)] for i in range(400)}


def allowed(calendar: dict[dt.date, DayKind], rules: CutRules, local_at: dt.datetime) -> bool:
    return cut_allowed(local_at, rules, calendar[local_at.date()]).allowed


@given(local_at_st, rules_st, pattern_st, st.integers(min_value=0, max_value=20))
def test_next_window_is_allowed_and_nothing_earlier_is(
    local_at: dt.datetime, rules: CutRules, pattern: list[DayKind], horizon_days: int
) -> None:
    calendar = calendar_of(pattern)
    window = next_cut_window(local_at, rules, calendar.__getitem__, horizon_days)
    last_day = local_at.date() + dt.timedelta(days=horizon_days)
    if window is not None:
        assert window >= local_at
        assert window.date() <= last_day
        assert allowed(calendar, rules, window)
        end = window
    else:
        end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time())
    probe = local_at
    while probe < end:
        assert not allowed(calendar, rules, probe)
        probe += GRID


@given(local_at_st, rules_st, st.sampled_from([DayKind.HOLIDAY, DayKind.UNKNOWN]))
def test_holiday_or_unknown_day_is_never_cut(
    local_at: dt.datetime, rules: CutRules, kind: DayKind
) -> None:
    assert not cut_allowed(local_at, rules, kind).allowed


@given(local_at_st, rules_st, pattern_st)
def test_an_allowed_instant_is_its_own_next_window(
    local_at: dt.datetime, rules: CutRules, pattern: list[DayKind]
) -> None:
    calendar = calendar_of(pattern)
    if allowed(calendar, rules, local_at):
        assert next_cut_window(local_at, rules, calendar.__getitem__, 0) == local_at
