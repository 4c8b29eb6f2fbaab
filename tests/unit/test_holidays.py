"""The holiday calendar adapter: chinese-calendar's facts, the override file, unknown years."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pytest

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.domain.calendar import RULE_SETS, DayKind, cut_allowed, next_cut_window
from gridpay.errors import ConfigError
from gridpay.ports.gateways import HolidayCalendar

D = dt.date

OVERRIDE_2027 = """
[years.2027]
source = "a test schedule, not the real one"
holidays = [2027-01-01, "2027-01-02", 2027-01-03]
makeup_workdays = [2027-01-09]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "day",
    [D(2026, 9, 25), D(2026, 9, 26), D(2026, 9, 27)] + [D(2026, 10, d) for d in range(1, 8)],
)
def test_mid_autumn_and_national_day_2026_are_holidays(day: dt.date) -> None:
    assert ChineseHolidayCalendar().day_kind(day) is DayKind.HOLIDAY


def test_weekend_days_worked_for_national_day_2026_are_makeup_workdays() -> None:
    calendar = ChineseHolidayCalendar()
    assert calendar.day_kind(D(2026, 9, 20)) is DayKind.MAKEUP_WORKDAY  # a Sunday
    assert calendar.day_kind(D(2026, 10, 10)) is DayKind.MAKEUP_WORKDAY  # a Saturday


def test_ordinary_days_are_workdays_and_weekends() -> None:
    calendar = ChineseHolidayCalendar()
    assert calendar.day_kind(D(2026, 10, 8)) is DayKind.WORKDAY  # Thursday
    assert calendar.day_kind(D(2026, 10, 11)) is DayKind.WEEKEND  # Sunday
    assert calendar.day_kind(D(2026, 10, 17)) is DayKind.WEEKEND  # Saturday


def test_a_year_the_library_does_not_know_is_unknown_not_an_error() -> None:
    calendar = ChineseHolidayCalendar()
    assert calendar.day_kind(D(2027, 1, 4)) is DayKind.UNKNOWN
    assert calendar.day_kind(D(2003, 6, 2)) is DayKind.UNKNOWN
    assert calendar.unknown_years(D(2026, 12, 1), D(2028, 1, 31)) == [2027, 2028]
    assert calendar.unknown_years(D(2026, 1, 1), D(2026, 12, 31)) == []


def test_unknown_year_never_allows_a_cut_and_ends_the_window_search() -> None:
    calendar = ChineseHolidayCalendar()
    rules = RULE_SETS["china-default"]
    monday = dt.datetime(2027, 1, 4, 10, 0)
    assert cut_allowed(monday, rules, calendar.day_kind(monday.date())).reason_code == (
        "unknown_schedule"
    )
    last_evening = dt.datetime(2026, 12, 31, 19, 0)
    assert next_cut_window(last_evening, rules, calendar.day_kind, 31) is None


def test_override_file_makes_2027_known(tmp_path: Path) -> None:
    calendar = ChineseHolidayCalendar(write(tmp_path, OVERRIDE_2027))
    assert calendar.day_kind(D(2027, 1, 1)) is DayKind.HOLIDAY
    assert calendar.day_kind(D(2027, 1, 2)) is DayKind.HOLIDAY  # given as a string
    assert calendar.day_kind(D(2027, 1, 4)) is DayKind.WORKDAY
    assert calendar.day_kind(D(2027, 1, 9)) is DayKind.MAKEUP_WORKDAY
    assert calendar.day_kind(D(2027, 1, 10)) is DayKind.WEEKEND
    assert calendar.unknown_years(D(2026, 1, 1), D(2028, 1, 1)) == [2028]
    assert calendar.source_of(2027) == "override"
    assert calendar.source_of(2026) == "chinese-calendar"
    rules = RULE_SETS["china-default"]
    nxt = next_cut_window(dt.datetime(2026, 12, 31, 19, 0), rules, calendar.day_kind, 31)
    assert nxt == dt.datetime(2027, 1, 4, 8, 0)


def test_override_file_replaces_a_known_year(tmp_path: Path) -> None:
    text = "[years.2026]\nholidays = [2026-10-08]\n"
    calendar = ChineseHolidayCalendar(write(tmp_path, text))
    assert calendar.day_kind(D(2026, 10, 8)) is DayKind.HOLIDAY
    assert calendar.day_kind(D(2026, 10, 1)) is DayKind.WORKDAY
    assert calendar.day_kind(D(2026, 10, 10)) is DayKind.WEEKEND
    assert calendar.day_kind(D(2025, 10, 1)) is DayKind.HOLIDAY  # other years: the library


def test_shipped_example_override_is_valid_and_only_an_example() -> None:
    example = resources.files("gridpay") / "data" / "calendars" / "example-override.toml"
    with resources.as_file(example) as path:
        assert "EXAMPLE" in path.read_text(encoding="utf-8")
        calendar = ChineseHolidayCalendar(path)
    assert calendar.day_kind(D(2099, 10, 1)) is DayKind.HOLIDAY
    assert calendar.day_kind(D(2099, 10, 10)) is DayKind.MAKEUP_WORKDAY
    assert calendar.day_kind(D(2027, 1, 1)) is DayKind.UNKNOWN  # no invented real year


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[years.2027]\nholidays = [2027-02-30]\n", "not valid TOML"),
        ("[years.2027]\nmakeup_workdays = []\n", "'holidays' is missing"),
        ("[years.2027]\nholidays = [2028-01-01]\n", "2028-01-01 is listed under year 2027"),
        ("[years.2027]\nholidays = ['1 Jan']\n", "'1 Jan' is not a date like 2027-10-01"),
        ("[years.2027]\nholidays = []\nmakeup_workday = []\n", "unexpected key 'makeup_workday'"),
        ("[years.27]\nholidays = []\n", "must be a year like 2027"),
        ("[years.2027]\nholidays = []\nmakeup_workdays = [2027-01-04]\n", "is a monday"),
        ("[years.2027]\nholidays = [2027-01-09]\nmakeup_workdays = [2027-01-09]\n", "both"),
        ("[year.2027]\nholidays = []\n", "unexpected key 'year'"),
    ],
)
def test_a_bad_override_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        ChineseHolidayCalendar(path)
    assert str(path) in caught.value.message


def test_a_missing_override_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read holiday override file"):
        ChineseHolidayCalendar(tmp_path / "nope.toml")


def test_answers_are_cached_per_day(monkeypatch: pytest.MonkeyPatch) -> None:
    calendar = ChineseHolidayCalendar()
    assert calendar.day_kind(D(2026, 10, 1)) is DayKind.HOLIDAY

    def boom(day: dt.date) -> bool:
        raise AssertionError("asked the library twice")

    monkeypatch.setattr("chinese_calendar.is_workday", boom)
    assert calendar.day_kind(D(2026, 10, 1)) is DayKind.HOLIDAY


def test_it_is_the_holiday_calendar_port() -> None:
    port: HolidayCalendar = ChineseHolidayCalendar()
    assert port.day_kind(D(2026, 10, 1)) is DayKind.HOLIDAY
