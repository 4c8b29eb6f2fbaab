"""The world outside the database: the statutory calendar, the SMS gateway, the meter head-end."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from gridpay.domain.calendar import DayKind
from gridpay.domain.commands import CommandResult


class HolidayCalendar(Protocol):
    """The statutory calendar: which days are holidays and which weekends are worked."""

    def day_kind(self, day: dt.date) -> DayKind:
        """``DayKind.UNKNOWN`` for a year with no published schedule (never raises)."""
        ...


class SmsGateway(Protocol):
    """Sends one text message; raises ``errors.DeliveryFailed`` when the gateway refuses."""

    def send(self, phone: str, body: str, dedupe_key: str) -> None: ...


class HeadEnd(Protocol):
    """The meter head-end: takes commands now, reports their results later."""

    @property
    def name(self) -> str: ...

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        """Hand a command over; raises ``errors.DeliveryFailed`` if the head-end refuses it."""
        ...

    def results(self, now: dt.datetime) -> list[CommandResult]:
        """Results that have arrived by ``now`` and were not reported before."""
        ...
