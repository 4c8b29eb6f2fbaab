"""The simulated clock: moved by hand, so that days run in seconds."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


class SimulatedClock:
    """A clock the demo and simulations move by hand, so that days run in seconds."""

    def __init__(self, now: dt.datetime, time_zone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(time_zone)
        self._now = now

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.astimezone(self.zone).date()

    def set(self, now: dt.datetime) -> None:
        assert now.tzinfo is not None
        self._now = now
