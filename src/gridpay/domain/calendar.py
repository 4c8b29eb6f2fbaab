"""Days and cut windows: what kind of day a date is, and when a cut is allowed.

Pure: the holiday schedule itself comes through the ``HolidayCalendar`` port.
"""

from __future__ import annotations

from enum import StrEnum


class DayKind(StrEnum):
    WORKDAY = "workday"  # Monday-Friday, not a holiday
    WEEKEND = "weekend"  # Saturday or Sunday, not a make-up working day
    HOLIDAY = "holiday"  # a statutory public holiday
    MAKEUP_WORKDAY = "makeup_workday"  # a weekend day worked in exchange for a holiday (调休)
    UNKNOWN = "unknown"  # no schedule for this year: never cut on it
