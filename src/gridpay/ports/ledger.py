"""The double-entry ledger: transfers and the cached balances they move."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import polars as pl

from gridpay.domain.ledger import Transfer
from gridpay.ports.prepared import PreparedWrite


class LedgerRepo(Protocol):
    def ensure_system_accounts(self) -> None: ...

    def get_transfer(self, transfer_id: str) -> Transfer | None: ...

    def post(self, transfer: Transfer, created_at: dt.datetime) -> bool:
        """Post one transfer and move both cached balances; False if that id is already posted."""
        ...

    def post_returning_balances(
        self, transfer: Transfer, created_at: dt.datetime
    ) -> dict[int, int] | None:
        """``post`` with both ledger accounts' balances after it (credits - debits, by ledger
        id), read in the same statement that moved them; None if already posted."""
        ...

    def post_many(self, transfers: pl.DataFrame) -> int:
        """Bulk post (ids known to be new) with relative balance updates."""
        ...

    def prepare_postings(self, transfers: pl.DataFrame) -> PreparedWrite:
        """``post_many`` worked out ahead, outside any transaction (a reader may do it)."""
        ...

    def post_prepared(self, prepared: PreparedWrite) -> int:
        """Carry out a ``prepare_postings`` of a repository of the same store."""
        ...

    def ensure_partitions(self, first_day: dt.date, last_day: dt.date) -> list[str]:
        """Make room ahead for transfers dated ``first_day`` to ``last_day`` (PostgreSQL: the
        month partitions not created yet; nothing elsewhere). Returns what was created."""
        ...

    def customer_balances(self) -> pl.DataFrame: ...

    def balance_fen(self, ledger_account_id: int) -> int: ...

    def post_many_returning_balances(
        self, transfers: Sequence[Transfer], created_at: dt.datetime
    ) -> tuple[set[str], dict[int, int]]:
        """Several transfers of different ids: the ids posted now (one posted before is
        skipped), and the balance of every ledger account they moved after all of them."""
        ...

    def lock_ledger_accounts(self, ledger_account_ids: Sequence[int]) -> None:
        """Hold these accounts' rows until commit, taken in ascending id order.

        A single posting may then read a balance and act on it (a refund up to the balance)
        without another posting changing it in between, and two postings touching the same pair
        of accounts in opposite directions (a payment and a reversal) cannot deadlock.
        """
        ...
