"""Fakes for the ports (cosmicpython habit: fakes live with the tests)."""

from __future__ import annotations

import datetime as dt


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
