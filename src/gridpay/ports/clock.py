"""Time and progress: what the services read the hour from, and tell long work to."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """An aware datetime in UTC."""
        ...

    def today(self) -> dt.date:
        """Today's date in the utility's time zone (Asia/Shanghai by default)."""
        ...


class Progress(Protocol):
    """Progress on long work: entry points show a bar, tests ignore it."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, steps: int) -> None: ...

    def finish(self) -> None: ...
