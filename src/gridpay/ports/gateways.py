"""The world outside the database: the statutory calendar, the SMS gateway, the meter head-end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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


@dataclass(frozen=True)
class DeliveryReport:
    """A provider's delivery receipt for one sent message."""

    delivered: bool
    at: dt.datetime | None  # when the phone got it (delivered) or the provider gave up; aware
    error_code: str | None = None  # the provider's code when not delivered


@dataclass(frozen=True)
class PushedReceipt:
    """A delivery receipt the provider pushed to us, naming its message by the provider's id
    (and, where the provider echoes it, our dedupe key)."""

    provider_ref: str
    out_id: str | None
    report: DeliveryReport


@runtime_checkable
class TemplateSmsGateway(Protocol):
    """A provider that sends only registered templates and reports delivery (Alibaba Cloud SMS).

    Unlike ``SmsGateway`` it gets the message's kind and its template parameters (JSON text),
    not the rendered body, and it answers with its own id of the message, by which the
    receipt is asked for.
    """

    def submit(self, phone: str, kind: str, params: Mapping[str, str], dedupe_key: str) -> str:
        """Send; the provider's id of the message. Raises ``errors.DeliveryFailed``."""
        ...

    def receipt(self, phone: str, provider_ref: str, sent_at: dt.datetime) -> DeliveryReport | None:
        """The message's receipt, None while the provider has none yet. Raises
        ``errors.DeliveryFailed`` when the provider cannot be asked (try again later)."""
        ...


# What the outbox worker can send through.
AnySmsGateway = SmsGateway | TemplateSmsGateway


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
