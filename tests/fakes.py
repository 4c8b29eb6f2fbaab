"""Fakes for the ports (cosmicpython habit: fakes live with the tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from gridpay.ports.gateways import DeliveryReport


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self._now = now or dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return (self._now + dt.timedelta(hours=8)).date()  # Asia/Shanghai has no DST

    def set(self, now: dt.datetime) -> None:
        self._now = now

    def advance(self, **kwargs: float) -> None:
        self._now += dt.timedelta(**kwargs)


class NullProgress:
    def __init__(self) -> None:
        self.advanced = 0

    def start(self, description: str, total: int | None) -> None:
        self.description = description

    def advance(self, steps: int) -> None:
        self.advanced += steps

    def finish(self) -> None:
        pass


class FakeSmsGateway:
    """An SMS gateway that records what it took; fails each message's first ``failures`` tries.

    ``failures`` may be a number for every message, or per phone number (others never fail).
    """

    def __init__(self, failures: int | dict[str, int] = 0) -> None:
        self._failures = failures
        self.sent: list[tuple[str, str, str]] = []  # (phone, body, dedupe_key)
        self.tries: dict[str, int] = {}  # dedupe_key -> attempts seen, failed or not

    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        from gridpay.errors import DeliveryFailed

        self.tries[dedupe_key] = self.tries.get(dedupe_key, 0) + 1
        failures = (
            self._failures if isinstance(self._failures, int) else self._failures.get(phone, 0)
        )
        if self.tries[dedupe_key] <= failures:
            raise DeliveryFailed(f"fake gateway down (try {self.tries[dedupe_key]})")
        self.sent.append((phone, body, dedupe_key))


class FakeProvider:
    """Sends templates and reports receipts as the test sets them (by the provider's id)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.receipts: dict[str, DeliveryReport] = {}

    def submit(self, phone: str, kind: str, params: Mapping[str, str], dedupe_key: str) -> str:
        self.sent.append((phone, kind, dict(params)))
        return f"biz-{dedupe_key}"

    def receipt(self, phone: str, provider_ref: str, sent_at: dt.datetime) -> DeliveryReport | None:
        return self.receipts.get(provider_ref)

    def deliver(self, kind: str, account_id: int, at: dt.datetime) -> None:
        for ref in [f"biz-{k}" for k in self._keys(kind, account_id)]:
            self.receipts[ref] = DeliveryReport(delivered=True, at=at)

    def _keys(self, kind: str, account_id: int) -> list[str]:
        return [f"{kind}/{account_id:010d}/0/{phone}" for phone, k, _ in self.sent if k == kind]
