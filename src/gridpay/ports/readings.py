"""Raw meter readings and the quarantine of rejected rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import polars as pl

from gridpay.domain.rebase import Rebase


class ReadingsRepo(Protocol):
    """Raw readings (one per meter and day, append-only) and the quarantine of rejected rows.

    Frames follow ``domain.readings``: ``READING_SCHEMA`` for readings, ``METER_SCHEMA`` for
    meters, ``SETTLED_SCHEMA`` for settled days.
    """

    def meters_for(
        self, meter_ids: pl.Series, first_day: dt.date, last_day: dt.date
    ) -> pl.DataFrame:
        """The registered meters among ``meter_ids`` (unknown ones are absent). Their
        installed_on / removed_on are null where the meter was in service all of
        [first_day, last_day]."""
        ...

    def stored_readings(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Stored readings for the (day, meter_id) pairs in ``keys``."""
        ...

    def settled_days(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Settled (day, account_id, estimated) for the (day, account_id) pairs in ``keys``."""
        ...

    def pending_trueups_for(self, days: pl.Series) -> pl.DataFrame:
        """(account_id, day) already queued for a true-up on any of ``days``."""
        ...

    def quarantined_rows_of(self, source: str) -> pl.DataFrame:
        """(row_no, raw, reason_code) already quarantined from a file of this name."""
        ...

    def insert_readings(self, readings: pl.DataFrame, source: str, received_at: dt.datetime) -> int:
        """Append raw readings known to be new for their (day, meter). Returns rows stored."""
        ...

    def add_pending_trueups(self, keys: pl.DataFrame, created_at: dt.datetime) -> int:
        """Queue (account_id, day) pairs, known not to be queued yet, for the true-up."""
        ...

    def quarantine(self, rows: pl.DataFrame, source: str, received_at: dt.datetime) -> int:
        """Keep rejected rows: row_no, raw, meter_no, day, total_wh, reason_code, reason."""
        ...

    def quarantine_rows(self, day: dt.date | None, limit: int) -> pl.DataFrame:
        """Quarantined rows for people, newest import first."""
        ...

    def readings_for_day(self, day: dt.date) -> pl.DataFrame:
        """Every raw reading of ``day``: day, meter_id, total_wh, <register>_wh (Int64)."""
        ...

    def meter_readings(self, meter_id: int, first: dt.date, last: dt.date) -> pl.DataFrame:
        """(day, total_wh) of one meter's readings over [first, last], by day."""
        ...

    def refute_readings(
        self, meter_id: int, days: list[dt.date], reason_code: str, reason: str, at: dt.datetime
    ) -> int:
        """Move the meter's readings of ``days`` to the quarantine with this reason."""
        ...

    def store_checked_reading(
        self, meter_id: int, day: dt.date, total_wh: int, source: str, at: dt.datetime
    ) -> None:
        """Store a staff-checked reading for a day that has no reading."""
        ...

    def quarantined_meter_days(
        self, first: dt.date, last: dt.date, excluded_reason_codes: tuple[str, ...]
    ) -> pl.DataFrame:
        """(meter_id, account_id, day) of registered meters with a reading of a day in
        [first, last] quarantined for a reason other than those excluded."""
        ...

    def last_accepted_readings(self, account_ids: list[int]) -> pl.DataFrame:
        """(account_id, meter_id, last_real_day) of each account's last usage row."""
        ...

    def prepaid_meters(self, day: dt.date) -> pl.DataFrame:
        """(meter_id, has_tou) of the prepaid accounts' meters in service on ``day``: the
        meters a nightly collection reads."""
        ...

    def add_rebase(self, rebase: Rebase) -> int:
        """Record a staff rebase of a meter's reading; its id."""
        ...


class ReadingsCollector(Protocol):
    """Brings the meters' readings of some days in before the night settles them (a head-end's
    daily files, a poll of the meters)."""

    def collect(self, days: Sequence[dt.date]) -> int:
        """Store what the meters give for ``days`` (late readings of earlier days too); return
        how many readings were stored."""
        ...
