"""The real clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


class SystemClock:
    def __init__(self, time_zone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(time_zone)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.datetime.now(self.zone).date()
