"""The registry: offices, tariffs, accounts and meters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from contextlib import AbstractContextManager
from typing import Protocol

import polars as pl

from gridpay.domain.registry import Account, AccountLine, Meter, MeterUse
from gridpay.domain.tariff import Tariff


class RegistryRepo(Protocol):
    """Offices, tariffs, accounts and meters. Frames follow the table's column names."""

    def offices(self) -> dict[int, str]: ...

    def ensure_offices(self, names: list[str]) -> None:
        """Create offices 1..N with these names where missing (existing ones are kept)."""
        ...

    def tariffs(self) -> list[Tariff]: ...

    def tariff_codes(self) -> set[str]: ...

    def save_tariff(self, tariff: Tariff, spec_toml: str, loaded_at: dt.datetime) -> bool:
        """Store a tariff version; False if that (code, effective_from) is already stored."""
        ...

    def lock_for_registration(self) -> None:
        """Until commit, other registrations (imports, meter replacements) wait for this one."""
        ...

    def registered(
        self, account_ids: pl.Series, meter_ids: pl.Series
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Stored accounts and meters among these ids (``domain.registry.REGISTERED_*``)."""
        ...

    def insert_accounts(self, accounts: pl.DataFrame) -> int:
        """Insert accounts (ids known to be new) and each one's customer ledger account."""
        ...

    def insert_meters(self, meters: pl.DataFrame) -> int: ...

    def bulk_registration(self, new_accounts: int) -> AbstractContextManager[None]:
        """Wraps the inserts of one registration; may make a big one faster (the database's
        checks then run once at the end, still inside the unit of work)."""
        ...

    def account(self, account_id: int) -> Account | None: ...

    def accounts(self, account_ids: Collection[int]) -> dict[int, Account]:
        """The accounts of these ids that exist (one statement)."""
        ...

    def meter(self, meter_id: int) -> Meter | None: ...

    def meters_of(self, account_id: int) -> list[Meter]:
        """The account's meters, past and present, oldest first."""
        ...

    def meter_use(self, account_id: int, meter_id: int, day: dt.date) -> MeterUse:
        """What stored readings and settlements say about a meter around ``day``."""
        ...

    def remove_meter(self, meter_id: int, removed_on: dt.date, final_wh: int) -> bool:
        """Take a meter out of service; False if it was not in service."""
        ...

    def count_accounts(self, office_id: int | None = None) -> int: ...

    def list_accounts(self, office_id: int | None, limit: int) -> list[AccountLine]:
        """In account order, each with the meter in service (if any)."""
        ...
