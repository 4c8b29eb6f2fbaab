"""The daily settlement: runs, its input, usage rows and true-ups."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import polars as pl

from gridpay.domain.settlement import RunTotals, SettlementRun
from gridpay.ports.prepared import PreparedWrite


class SettlementRepo(Protocol):
    def start_run(self, day: dt.date, started_at: dt.datetime) -> int:
        """A new run, owned by this process; first marks runs whose process ended as died."""
        ...

    def mark_died_runs(self, at: dt.datetime) -> list[int]:
        """Runs recorded "running" whose process has ended become "died"; their ids."""
        ...

    def add_to_run(self, run_id: int, totals: RunTotals) -> None:
        """Add a chunk's totals to the run's counters."""
        ...

    def finish_run(
        self, run_id: int, status: str, finished_at: dt.datetime, seconds: float
    ) -> SettlementRun: ...

    def runs(self, limit: int) -> list[SettlementRun]:
        """The newest runs first."""
        ...

    def prepaid_account_count(self) -> int: ...

    def prepaid_account_ids(self) -> pl.Series: ...

    def readings_for_day(self, day: dt.date) -> pl.DataFrame: ...

    def readings_for_meters(self, meter_ids: list[int], day: dt.date) -> pl.DataFrame: ...

    def load_input(self, day: dt.date, lo: int, hi: int) -> pl.DataFrame:
        """``load_state`` with today's readings attached: the kernel's whole input."""
        ...

    def load_state(
        self,
        day: dt.date,
        lo: int,
        hi: int,
        only: list[int] | None = None,
        include_settled: bool = False,
    ) -> pl.DataFrame: ...

    def save_usage(self, usage: pl.DataFrame, run_id: int | None) -> int:
        """Insert usage rows; raises ``Conflict`` if another run settled any of them."""
        ...

    def prepare_usage(self, usage: pl.DataFrame, run_id: int | None) -> PreparedWrite:
        """``save_usage`` worked out ahead, outside any transaction (a reader may do it)."""
        ...

    def save_prepared_usage(self, prepared: PreparedWrite) -> int:
        """Carry out a ``prepare_usage`` of a repository of the same store (``Conflict`` as
        ``save_usage``)."""
        ...

    def quarantine_readings(self, rows: pl.DataFrame, source: str, at: dt.datetime) -> int: ...

    def usage_rows(self, account_ids: list[int], first: dt.date, last: dt.date) -> pl.DataFrame: ...

    def usage_for_day(self, day: dt.date) -> pl.DataFrame: ...

    def delete_usage(self, day: dt.date, account_ids: list[int]) -> None: ...

    def last_settled(self) -> dt.date | None: ...

    def last_settled_day(self, account_id: int) -> dt.date | None:
        """The account's last day with a usage row (None: never settled)."""
        ...

    def pending_trueups(self) -> pl.DataFrame: ...

    def clear_trueups(self, account_ids: list[int]) -> None: ...
