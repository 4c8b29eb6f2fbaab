"""Clocks: the real one, and a business date (an operator's "as of") fixed or moving."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from gridpay.errors import InvalidInput


class SystemClock:
    def __init__(self, time_zone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(time_zone)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.datetime.now(self.zone).date()


class FixedClock:
    """A business date that stands still: a one-shot command judges everyone at the same instant,
    so "as of 08:00" means 08:00 for the last account too, and a repeat gives the same answers."""

    def __init__(self, at: dt.datetime, time_zone: str = "Asia/Shanghai") -> None:
        assert at.tzinfo is not None, at
        self.zone = ZoneInfo(time_zone)
        self.at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self.at

    def today(self) -> dt.date:
        return self.at.astimezone(self.zone).date()


class MovingClock:
    """A business date that starts at an instant and moves with real time from there: a running
    system (``gridpay run``) needs time to pass, or no timer, timeout or night ever comes."""

    def __init__(
        self,
        start_at: dt.datetime,
        time_zone: str = "Asia/Shanghai",
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        assert start_at.tzinfo is not None, start_at
        self.zone = ZoneInfo(time_zone)
        self.at = start_at.astimezone(dt.UTC)
        self._monotonic_s = monotonic_s
        self._started_s = monotonic_s()

    def now(self) -> dt.datetime:
        return self.at + dt.timedelta(seconds=self._monotonic_s() - self._started_s)

    def today(self) -> dt.date:
        return self.now().astimezone(self.zone).date()


def parse_instant(text: str, time_zone: str, source: str = "--now") -> dt.datetime:
    """An operator's instant as an aware UTC datetime.

    ISO 8601 with an offset is taken as written; without one it is wall time in ``time_zone``
    (what an operator reads on the office clock); a bare date is 00:00 there, the start of that
    business day: the day before is over, nothing of the day itself has happened yet.
    """
    value = text.strip()
    try:
        if len(value) == len("2026-10-08"):
            day = dt.date.fromisoformat(value)
            parsed = dt.datetime(day.year, day.month, day.day)
        else:
            parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{source} {text!r} is not an instant like 2026-10-08T08:00, "
            "2026-10-08T08:00+08:00 or 2026-10-08"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(time_zone))
    return parsed.astimezone(dt.UTC)
