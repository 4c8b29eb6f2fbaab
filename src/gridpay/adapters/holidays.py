"""The statutory holiday calendar: chinese-calendar, an operator's override file, and caution.

The State Council publishes each year's holidays and make-up working days (调休) only late in
the year before, and ``chinese-calendar`` knows only the years of its release (1.11: 2004-2026;
it raises ``NotImplementedError`` for others). So a day is classified from, in order:

1. the operator's override file, for the years it lists (known years may be corrected too);
2. ``chinese-calendar``, for the years it knows;
3. otherwise ``DayKind.UNKNOWN``: the credit policy never cuts on such a day, and
   ``unknown_years`` lets staff be warned before it matters.

The override file is TOML, one table per year (see ``data/calendars/example-override.toml``)::

    [years.2027]
    source = "State Council notice of ..."      # optional, for people
    holidays = [2027-01-01, ...]                 # every statutory day off, weekends included
    makeup_workdays = [2027-02-07, ...]          # weekend days worked in exchange (may be empty)
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import chinese_calendar

from gridpay.domain.calendar import DayKind, YearSchedule
from gridpay.errors import ConfigError, InvalidInput

_YEAR_KEYS = frozenset({"source", "holidays", "makeup_workdays"})


class ChineseHolidayCalendar:
    """The ``HolidayCalendar`` port. Answers are cached: the policy asks once per evaluation."""

    def __init__(self, override_path: Path | None = None) -> None:
        self.override_path = override_path
        self._override = load_override_file(override_path) if override_path else {}
        self._kinds: dict[dt.date, DayKind] = {}
        self._library_knows: dict[int, bool] = {}

    def day_kind(self, day: dt.date) -> DayKind:
        """The kind of ``day``; ``DayKind.UNKNOWN`` for a year without a schedule (never raises)."""
        kind = self._kinds.get(day)
        if kind is None:
            kind = self._classify(day)
            self._kinds[day] = kind
        return kind

    def source_of(self, year: int) -> str | None:
        """Where ``year``'s schedule comes from: "override", "chinese-calendar" or None."""
        if year in self._override:
            return "override"
        if self._library_knows_year(year):
            return "chinese-calendar"
        return None

    def unknown_years(self, first: dt.date, last: dt.date) -> list[int]:
        """Years in [first, last] that have no schedule, to warn staff."""
        return [y for y in range(first.year, last.year + 1) if self.source_of(y) is None]

    def _classify(self, day: dt.date) -> DayKind:
        schedule = self._override.get(day.year)
        if schedule is not None:
            return schedule.day_kind(day)
        if not self._library_knows_year(day.year):
            return DayKind.UNKNOWN
        return _library_day_kind(day)

    def _library_knows_year(self, year: int) -> bool:
        known = self._library_knows.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(dt.date(year, 1, 1))
                known = True
            except NotImplementedError:  # "no available data for year ..."
                known = False
            self._library_knows[year] = known
        return known


def _library_day_kind(day: dt.date) -> DayKind:
    """chinese-calendar's answer: ``is_workday`` is True on a make-up working day, and
    ``get_holiday_detail`` names the holiday (None on an ordinary weekend)."""
    weekend = day.weekday() >= 5
    if chinese_calendar.is_workday(day):
        return DayKind.MAKEUP_WORKDAY if weekend else DayKind.WORKDAY
    _, holiday_name = chinese_calendar.get_holiday_detail(day)
    if holiday_name is not None or not weekend:  # a weekday off is always a holiday
        return DayKind.HOLIDAY
    return DayKind.WEEKEND


def load_override_file(path: Path) -> dict[int, YearSchedule]:
    """Read an operator's override file; ``ConfigError`` naming the file and the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read holiday override file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"holiday override file {path} is not valid TOML: {exc}") from None
    try:
        return parse_override(data)
    except InvalidInput as exc:
        raise ConfigError(f"holiday override file {path}: {exc.message}") from None


def parse_override(data: Mapping[str, Any]) -> dict[int, YearSchedule]:
    """The year schedules of a parsed override file; ``InvalidInput`` on anything unexpected."""
    unexpected = sorted(set(data) - {"description", "years"})
    if unexpected:
        raise InvalidInput(f"unexpected key {unexpected[0]!r} (use [years.YYYY] tables)")
    years = data.get("years", {})
    if not isinstance(years, Mapping):
        raise InvalidInput("'years' must be a table of [years.YYYY] tables")
    return {_year(key): _year_schedule(_year(key), table) for key, table in years.items()}


def _year(key: str) -> int:
    if not (key.isdigit() and len(key) == 4):
        raise InvalidInput(f"[years.{key}]: the table name must be a year like 2027")
    return int(key)


def _year_schedule(year: int, table: Any) -> YearSchedule:
    if not isinstance(table, Mapping):
        raise InvalidInput(f"years.{year} must be a table")
    unexpected = sorted(set(table) - _YEAR_KEYS)
    if unexpected:
        known = ", ".join(sorted(_YEAR_KEYS))
        raise InvalidInput(f"[years.{year}]: unexpected key {unexpected[0]!r} (use {known})")
    if "holidays" not in table:
        raise InvalidInput(f"[years.{year}]: 'holidays' is missing (list every day off)")
    try:
        return YearSchedule(
            year,
            holidays=_dates(year, "holidays", table["holidays"]),
            makeup_workdays=_dates(year, "makeup_workdays", table.get("makeup_workdays", [])),
        )
    except InvalidInput as exc:
        raise InvalidInput(f"[years.{year}]: {exc.message}") from None


def _dates(year: int, key: str, values: Any) -> frozenset[dt.date]:
    if not isinstance(values, list):
        raise InvalidInput(f"[years.{year}] {key} must be a list of dates")
    days = set()
    for value in values:
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
            raise InvalidInput(f"[years.{year}] {key}: {value!r} is not a date like {year}-10-01")
        try:
            days.add(value if isinstance(value, dt.date) else dt.date.fromisoformat(value))
        except ValueError:
            raise InvalidInput(
                f"[years.{year}] {key}: {value!r} is not a date like {year}-10-01"
            ) from None
    return frozenset(days)
