"""Reading meters remotely: what a head-end gives the nightly collection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MeterFreeze:
    """One daily freeze as the meter reported it. ``frozen_at`` is the meter's own local time
    (meters know no time zone); ``registers_wh``: total, then sharp, peak, flat, valley as far
    as the meter has them."""

    meter_id: int
    frozen_at: dt.datetime
    registers_wh: tuple[int, ...]


@dataclass(frozen=True)
class MeterFailure:
    """A meter that could not be read, and why (in words an operator can act on)."""

    meter_id: int
    error: str


@dataclass(frozen=True)
class FreezeBatch:
    freezes: tuple[MeterFreeze, ...]
    failures: tuple[MeterFailure, ...]


class MeterReader(Protocol):
    """A head-end that reads meters' daily freezes."""

    @property
    def endpoint(self) -> str:
        """Where the meters are reached (``host:port``): the readings' source names it."""
        ...

    def read_day_freezes(self, meter_ids: Sequence[int], freezes_back: int) -> FreezeBatch:
        """The ``freezes_back``-th last daily freeze (1: the last) of every meter: each meter
        is in ``freezes`` or in ``failures``, never both, never missing."""
        ...


class MeterClockSync(Protocol):
    """A head-end that sets its meters' clocks (a broadcast: no meter answers)."""

    def sync_time(self, at: dt.datetime) -> None: ...
