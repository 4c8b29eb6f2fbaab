"""Ports: what the services need from the world, as Protocols.

The SQL store implements the repositories over one transaction (``UnitOfWork``); tests may use
fakes. Bulk repositories speak Polars frames, because the daily batch is set-based.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

import polars as pl

from gridpay.domain.ledger import Transfer
from gridpay.domain.tariff import Tariff


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


class RegistryRepo(Protocol):
    def offices(self) -> dict[int, str]: ...

    def tariffs(self) -> list[Tariff]: ...

    def save_tariff(self, tariff: Tariff, spec_json: str) -> bool: ...

    def account_ids_existing(self, account_ids: pl.Series) -> pl.Series: ...

    def meter_ids_existing(self, meter_ids: pl.Series) -> pl.Series: ...

    def insert_accounts(self, accounts: pl.DataFrame) -> int: ...

    def insert_meters(self, meters: pl.DataFrame) -> int: ...

    def account(self, account_id: int) -> dict[str, object] | None: ...

    def meters_of(self, account_id: int) -> list[dict[str, object]]: ...

    def meters_frame(self) -> pl.DataFrame: ...


class LedgerRepo(Protocol):
    def ensure_system_accounts(self) -> None: ...

    def get_transfer(self, transfer_id: str) -> Transfer | None: ...

    def post(self, transfer: Transfer) -> bool:
        """Post one transfer and move both cached balances; False if that id is already posted."""
        ...

    def post_many(self, transfers: pl.DataFrame) -> int:
        """Bulk post (ids known to be new) with relative balance updates."""
        ...

    def balance_fen(self, ledger_account_id: int) -> int: ...


class ReadingsRepo(Protocol):
    def insert_readings(self, readings: pl.DataFrame) -> int:
        """Append raw readings; identical duplicates are skipped. Returns rows newly stored."""
        ...

    def quarantine(self, rows: pl.DataFrame) -> int: ...

    def readings_for_day(self, day: dt.date) -> pl.DataFrame: ...


class SettlementRepo(Protocol):
    def start_run(self, day: dt.date, started_at: dt.datetime) -> int: ...

    def finish_run(self, run_id: int, totals: dict[str, object]) -> None: ...

    def unsettled_account_ids(self, day: dt.date) -> pl.Series: ...

    def load_batch(self, day: dt.date, account_ids: pl.Series) -> pl.DataFrame: ...

    def save_usage(self, usage: pl.DataFrame) -> int: ...


class QueriesRepo(Protocol):
    """Read-only views for people: account summaries, statements."""


class AuditRepo(Protocol):
    """Set-based consistency checks over the whole ledger."""


class UnitOfWork(Protocol):
    registry: RegistryRepo
    ledger: LedgerRepo
    readings: ReadingsRepo
    settlement: SettlementRepo
    queries: QueriesRepo
    audit: AuditRepo

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Store(Protocol):
    """A database: hands out units of work (one transaction each)."""

    @property
    def dialect(self) -> str: ...

    def unit_of_work(self) -> UnitOfWork: ...

    def migrate(self) -> None: ...


class TariffSource(Protocol):
    def shipped(self) -> Sequence[tuple[Tariff, str]]: ...
