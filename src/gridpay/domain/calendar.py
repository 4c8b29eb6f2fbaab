"""Days and cut windows: what kind of day a date is, and when a cut is allowed.

Pure: the holiday schedule itself comes through the ``HolidayCalendar`` port; here it is only a
function ``day_kind_of(day) -> DayKind``.

Times here are **local wall-clock times** in the utility's zone. The caller converts an instant
first (``at.astimezone(ZoneInfo("Asia/Shanghai"))``) and passes that aware datetime; a naive
datetime is read as local wall-clock time too. Only its date and time of day are used, and a
datetime returned carries the ``tzinfo`` of the one asked about, so aware in gives aware out.
Asia/Shanghai has no daylight saving time, so a local window start is always one instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gridpay.errors import InvalidInput


class DayKind(StrEnum):
    WORKDAY = "workday"  # Monday-Friday, not a holiday
    WEEKEND = "weekend"  # Saturday or Sunday, not a make-up working day
    HOLIDAY = "holiday"  # a statutory public holiday
    MAKEUP_WORKDAY = "makeup_workday"  # a weekend day worked in exchange for a holiday (调休)
    UNKNOWN = "unknown"  # no schedule for this year: never cut on it


# date.weekday() numbering: 0 = Monday ... 6 = Sunday.
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SUNDAY = 6


@dataclass(frozen=True)
class CutRules:
    """When a remote cut for arrears is allowed; every condition must hold.

    - ``window_start_local`` / ``window_end_local``: the allowed local time of day, start
      included, end excluded (08:00-18:00 allows 08:00 and 17:59, not 18:00). Naive times.
    - ``cut_day_kinds``: the kinds of day cuts may happen on. ``UNKNOWN`` never may.
    - ``excluded_weekdays``: weekdays (0 = Monday ... 6 = Sunday) never cut, whatever their
      kind, so "no cuts on Sundays" also holds on a Sunday worked as a make-up day.
    - ``holidays_block``: a public holiday is never cut, whatever ``cut_day_kinds`` says.
    """

    name: str
    window_start_local: dt.time
    window_end_local: dt.time
    cut_day_kinds: frozenset[DayKind]
    excluded_weekdays: frozenset[int] = frozenset()
    holidays_block: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.window_start_local.tzinfo is not None or self.window_end_local.tzinfo is not None:
            raise InvalidInput(f"cut rules {self.name!r}: window times are local, without a zone")
        if not self.window_start_local < self.window_end_local:
            raise InvalidInput(
                f"cut rules {self.name!r}: the window must start before it ends on the same day "
                f"({self.window_label})"
            )
        if DayKind.UNKNOWN in self.cut_day_kinds:
            raise InvalidInput(
                f"cut rules {self.name!r}: a day without a published schedule can never allow cuts"
            )
        if not self.excluded_weekdays <= frozenset(range(7)):
            raise InvalidInput(f"cut rules {self.name!r}: weekdays are 0 (Monday) to 6 (Sunday)")

    @property
    def window_label(self) -> str:
        return f"{self.window_start_local:%H:%M}-{self.window_end_local:%H:%M}"


RULE_SETS: dict[str, CutRules] = {
    "china-default": CutRules(
        name="china-default",
        window_start_local=dt.time(8, 0),
        window_end_local=dt.time(18, 0),
        cut_day_kinds=frozenset({DayKind.WORKDAY, DayKind.MAKEUP_WORKDAY}),
        description=(
            "cuts only 08:00-18:00 on working days, make-up working days included; "
            "never on weekends, public holidays or days without a published schedule"
        ),
    ),
    "no-evening-sunday": CutRules(
        name="no-evening-sunday",
        window_start_local=dt.time(8, 0),
        window_end_local=dt.time(18, 0),
        cut_day_kinds=frozenset({DayKind.WORKDAY, DayKind.MAKEUP_WORKDAY, DayKind.WEEKEND}),
        excluded_weekdays=frozenset({SUNDAY}),
        description=(
            "no cuts 18:00-08:00 or on Sundays; Saturdays allowed unless a public holiday; "
            "never on public holidays or days without a published schedule"
        ),
    ),
}
DEFAULT_RULE_SET = "china-default"


def rule_set(name: str) -> CutRules:
    """The named rule set, or ``InvalidInput`` listing the known ones."""
    try:
        return RULE_SETS[name]
    except KeyError:
        known = ", ".join(sorted(RULE_SETS))
        raise InvalidInput(f"no cut rule set named {name!r}; use one of {known}") from None


@dataclass(frozen=True)
class CutCheck:
    """The answer to "may this account be cut now?", with the reason for a person."""

    allowed: bool
    reason_code: str  # allowed, unknown_schedule, holiday, <weekday name>, weekend, ...
    reason: str  # plain English: "public holiday", "outside 08:00-18:00"


ALLOWED = CutCheck(True, "allowed", "inside the cut window")


def day_refusal(day: dt.date, rules: CutRules, day_kind: DayKind) -> CutCheck | None:
    """Why no cut is allowed at any time on ``day``; None when the day has a cut window."""
    if day_kind is DayKind.UNKNOWN:
        return CutCheck(False, "unknown_schedule", f"no published holiday schedule for {day.year}")
    if day_kind is DayKind.HOLIDAY and rules.holidays_block:
        return CutCheck(False, "holiday", "public holiday")
    weekday = day.weekday()
    if weekday in rules.excluded_weekdays:
        name = WEEKDAY_NAMES[weekday]
        return CutCheck(False, name, f"no cuts on {name.capitalize()}s")
    if day_kind not in rules.cut_day_kinds:
        if day_kind is DayKind.WEEKEND:
            return CutCheck(False, "weekend", "weekend")
        if day_kind is DayKind.HOLIDAY:
            return CutCheck(False, "holiday", "public holiday")
        return CutCheck(False, "day_kind", f"no cuts on a {day_kind.value.replace('_', ' ')}")
    return None


def cut_window(day: dt.date, rules: CutRules, day_kind: DayKind) -> tuple[dt.time, dt.time] | None:
    """The day's local cut window [start, end), or None if the day allows no cut."""
    if day_refusal(day, rules, day_kind) is not None:
        return None
    return rules.window_start_local, rules.window_end_local


def cut_allowed(local_at: dt.datetime, rules: CutRules, day_kind: DayKind) -> CutCheck:
    """May a cut happen at ``local_at`` (local wall-clock time) on a day of ``day_kind``?"""
    refusal = day_refusal(local_at.date(), rules, day_kind)
    if refusal is not None:
        return refusal
    if not rules.window_start_local <= local_at.time() < rules.window_end_local:
        return CutCheck(False, "night", f"outside {rules.window_label}")
    return ALLOWED


def next_cut_window(
    local_at: dt.datetime,
    rules: CutRules,
    day_kind_of: Callable[[dt.date], DayKind],
    horizon_days: int,
) -> dt.datetime | None:
    """The earliest local instant >= ``local_at`` at which a cut is allowed.

    Looks at ``local_at``'s own day and the ``horizon_days`` days after it; None when none of
    them has a window left (for example a coming year without a published schedule).
    """
    if horizon_days < 0:
        raise InvalidInput(f"the horizon must be 0 days or more, not {horizon_days}")
    first_day = local_at.date()
    for offset in range(horizon_days + 1):
        day = first_day + dt.timedelta(days=offset)
        if day_refusal(day, rules, day_kind_of(day)) is not None:
            continue
        start = dt.datetime.combine(day, rules.window_start_local, tzinfo=local_at.tzinfo)
        if offset > 0 or local_at < start:
            return start
        if local_at.time() < rules.window_end_local:
            return local_at
    return None


def cut_explanation(
    local_at: dt.datetime,
    rules: CutRules,
    day_kind_of: Callable[[dt.date], DayKind],
    horizon_days: int,
) -> tuple[CutCheck, dt.datetime | None, str]:
    """The check at ``local_at``, the next window (``local_at`` itself when allowed) and one
    line for a person: "not cut on 2026-10-01: public holiday; next window 2026-10-08 08:00"."""
    check = cut_allowed(local_at, rules, day_kind_of(local_at.date()))
    if check.allowed:
        return check, local_at, f"cut allowed at {local_at:%Y-%m-%d %H:%M} ({rules.name})"
    window = next_cut_window(local_at, rules, day_kind_of, horizon_days)
    if window is None:
        upto = local_at.date() + dt.timedelta(days=horizon_days)
        after = f"no window up to {upto.isoformat()}"
    else:
        after = f"next window {window:%Y-%m-%d %H:%M}"
    when = (
        f"at {local_at:%Y-%m-%d %H:%M}"
        if check.reason_code == "night"
        else f"on {local_at.date().isoformat()}"
    )
    return check, window, f"not cut {when}: {check.reason}; {after}"


@dataclass(frozen=True)
class YearSchedule:
    """One year's published schedule: its public holidays and its make-up working days.

    Any other day is a working day from Monday to Friday and a weekend day otherwise.
    """

    year: int
    holidays: frozenset[dt.date]
    makeup_workdays: frozenset[dt.date]

    def __post_init__(self) -> None:
        for day in sorted(self.holidays | self.makeup_workdays):
            if day.year != self.year:
                raise InvalidInput(f"{day.isoformat()} is listed under year {self.year}")
        both = sorted(self.holidays & self.makeup_workdays)
        if both:
            raise InvalidInput(
                f"{both[0].isoformat()} is listed both as a holiday and a make-up working day"
            )
        for day in sorted(self.makeup_workdays):
            if day.weekday() < 5:
                raise InvalidInput(
                    f"make-up working day {day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}: "
                    "only a Saturday or Sunday can be worked in exchange for a holiday"
                )

    def day_kind(self, day: dt.date) -> DayKind:
        assert day.year == self.year
        if day in self.holidays:
            return DayKind.HOLIDAY
        if day in self.makeup_workdays:
            return DayKind.MAKEUP_WORKDAY
        return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY
