"""Cut windows: each rule with a case that allows a cut and one that does not."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gridpay.domain.calendar import (
    RULE_SETS,
    CutRules,
    DayKind,
    cut_allowed,
    cut_explanation,
    cut_window,
    next_cut_window,
    rule_set,
)
from gridpay.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHINA = RULE_SETS["china-default"]
NO_EVENING_SUNDAY = RULE_SETS["no-evening-sunday"]

# Around National Day 2026 (per chinese-calendar 1.11): 25-27 Sep and 1-7 Oct are holidays,
# Sunday 20 Sep and Saturday 10 Oct are make-up working days.
_HOLIDAYS = {dt.date(2026, 9, d) for d in (25, 26, 27)} | {
    dt.date(2026, 10, d) for d in range(1, 8)
}
_MAKEUP = {dt.date(2026, 9, 20), dt.date(2026, 10, 10)}


def kind_2026(day: dt.date) -> DayKind:
    """A stand-in for the statutory calendar: autumn 2026 as published, 2027 not yet."""
    if day.year >= 2027:
        return DayKind.UNKNOWN
    if day in _HOLIDAYS:
        return DayKind.HOLIDAY
    if day in _MAKEUP:
        return DayKind.MAKEUP_WORKDAY
    return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def check(text: str, rules: CutRules = CHINA) -> tuple[bool, str, str]:
    local_at = at(text)
    c = cut_allowed(local_at, rules, kind_2026(local_at.date()))
    return c.allowed, c.reason_code, c.reason


def test_working_day_inside_the_window_allows_a_cut() -> None:
    assert check("2026-10-08 08:00") == (True, "allowed", "inside the cut window")
    assert check("2026-10-08 17:59")[0]


@pytest.mark.parametrize("time", ["07:59", "18:00", "23:30", "00:00"])
def test_working_day_outside_the_window_is_night(time: str) -> None:
    assert check(f"2026-10-08 {time}") == (False, "night", "outside 08:00-18:00")


def test_weekend_is_not_cut_under_china_default() -> None:
    assert check("2026-10-17 10:00") == (False, "weekend", "weekend")  # a Saturday
    assert check("2026-10-18 10:00") == (False, "weekend", "weekend")  # a Sunday


def test_public_holiday_is_never_cut_even_inside_the_window() -> None:
    assert check("2026-10-01 10:00") == (False, "holiday", "public holiday")
    assert check("2026-09-25 10:00", NO_EVENING_SUNDAY) == (False, "holiday", "public holiday")


def test_makeup_working_day_allows_a_cut_though_it_is_a_weekend_day() -> None:
    assert check("2026-10-10 09:00")[0]  # Saturday worked for National Day
    assert check("2026-09-20 09:00")[0]  # Sunday worked for National Day
    assert check("2026-10-10 19:00")[1] == "night"


def test_no_evening_sunday_allows_saturdays_and_refuses_sundays() -> None:
    assert check("2026-10-17 10:00", NO_EVENING_SUNDAY)[0]
    assert check("2026-10-18 10:00", NO_EVENING_SUNDAY) == (False, "sunday", "no cuts on Sundays")
    # "no cuts on Sundays" holds even on a Sunday worked as a make-up day.
    assert check("2026-09-20 10:00", NO_EVENING_SUNDAY)[1] == "sunday"


def test_no_evening_sunday_refuses_evenings() -> None:
    assert check("2026-10-17 17:59", NO_EVENING_SUNDAY)[0]
    assert check("2026-10-17 18:00", NO_EVENING_SUNDAY)[1] == "night"


def test_a_year_without_a_schedule_is_never_cut() -> None:
    assert check("2027-01-04 10:00") == (
        False,
        "unknown_schedule",
        "no published holiday schedule for 2027",
    )
    assert check("2027-01-04 10:00", NO_EVENING_SUNDAY)[1] == "unknown_schedule"


def test_holiday_allows_a_cut_only_when_a_rule_set_says_so_explicitly() -> None:
    lenient = CutRules(
        "lenient",
        dt.time(8),
        dt.time(18),
        frozenset({DayKind.WORKDAY, DayKind.HOLIDAY}),
        holidays_block=False,
    )
    assert check("2026-10-01 10:00", lenient)[0]
    blocking = CutRules("blocking", dt.time(8), dt.time(18), lenient.cut_day_kinds)
    assert check("2026-10-01 10:00", blocking)[1] == "holiday"


def test_next_window_after_national_day_is_the_first_working_morning() -> None:
    assert next_cut_window(at("2026-10-01 10:00"), CHINA, kind_2026, 31) == at("2026-10-08 08:00")


def test_next_window_is_now_when_a_cut_is_allowed_now() -> None:
    assert next_cut_window(at("2026-10-08 12:34"), CHINA, kind_2026, 31) == at("2026-10-08 12:34")


def test_next_window_before_the_morning_is_the_same_days_start() -> None:
    assert next_cut_window(at("2026-10-08 06:00"), CHINA, kind_2026, 0) == at("2026-10-08 08:00")


def test_next_window_in_the_evening_is_the_next_working_morning() -> None:
    # Friday 9 Oct evening: Saturday 10 Oct is a make-up working day.
    assert next_cut_window(at("2026-10-09 18:00"), CHINA, kind_2026, 31) == at("2026-10-10 08:00")
    # Friday 16 Oct evening under the Sunday rules: Saturday is allowed.
    nxt = next_cut_window(at("2026-10-16 20:00"), NO_EVENING_SUNDAY, kind_2026, 31)
    assert nxt == at("2026-10-17 08:00")


def test_next_window_is_none_when_the_next_year_has_no_schedule() -> None:
    assert next_cut_window(at("2026-12-31 18:00"), CHINA, kind_2026, 31) is None


def test_next_window_is_none_beyond_the_horizon() -> None:
    assert next_cut_window(at("2026-10-01 10:00"), CHINA, kind_2026, 6) is None
    assert next_cut_window(at("2026-10-01 10:00"), CHINA, kind_2026, 7) == at("2026-10-08 08:00")


def test_next_window_keeps_a_naive_time_naive() -> None:
    naive = dt.datetime(2026, 10, 1, 10, 0)
    assert next_cut_window(naive, CHINA, kind_2026, 31) == dt.datetime(2026, 10, 8, 8, 0)


def test_explanation_names_the_reason_and_the_next_window() -> None:
    c, window, line = cut_explanation(at("2026-10-01 10:00"), CHINA, kind_2026, 31)
    assert (c.reason_code, window) == ("holiday", at("2026-10-08 08:00"))
    assert line == "not cut on 2026-10-01: public holiday; next window 2026-10-08 08:00"
    line = cut_explanation(at("2026-10-08 19:00"), CHINA, kind_2026, 31)[2]
    assert line == "not cut at 2026-10-08 19:00: outside 08:00-18:00; next window 2026-10-09 08:00"
    line = cut_explanation(at("2026-12-31 19:00"), CHINA, kind_2026, 31)[2]
    assert line == "not cut at 2026-12-31 19:00: outside 08:00-18:00; no window up to 2027-01-31"
    assert cut_explanation(at("2026-10-08 10:00"), CHINA, kind_2026, 31)[0].allowed


def test_day_window_is_none_on_a_day_without_cuts() -> None:
    assert cut_window(dt.date(2026, 10, 8), CHINA, DayKind.WORKDAY) == (dt.time(8), dt.time(18))
    assert cut_window(dt.date(2026, 10, 1), CHINA, DayKind.HOLIDAY) is None


def test_unknown_rule_set_name_is_refused_with_the_known_ones() -> None:
    assert rule_set("no-evening-sunday") is NO_EVENING_SUNDAY
    with pytest.raises(InvalidInput, match="use one of china-default, no-evening-sunday"):
        rule_set("weekends-only")


@pytest.mark.parametrize(
    ("start", "end", "kinds", "weekdays", "message"),
    [
        (dt.time(18), dt.time(8), {DayKind.WORKDAY}, set(), "start before it ends"),
        (dt.time(8), dt.time(18), {DayKind.UNKNOWN}, set(), "without a published schedule"),
        (dt.time(8), dt.time(18), {DayKind.WORKDAY}, {7}, "0 \\(Monday\\) to 6"),
    ],
)
def test_rule_sets_that_make_no_sense_are_refused(
    start: dt.time, end: dt.time, kinds: set[DayKind], weekdays: set[int], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        CutRules("bad", start, end, frozenset(kinds), frozenset(weekdays))
