"""The credit policy's state per account, its decisions, and the staff queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import polars as pl

from gridpay.domain.credit_policy import AccountCreditState, CreditPolicy, LatestDecision


class CreditRepo(Protocol):
    """The credit policy's state per account, its decisions, and the staff queue.

    Frames follow ``domain.credit_policy`` (``INPUT_SCHEMA``, ``STATE_SCHEMA``,
    ``DECISION_SCHEMA``, ``TASK_SCHEMA``).
    """

    def ensure_states(self, account_ids: Sequence[int], at: dt.datetime) -> int:
        """Give these accounts a credit state where they have none (normal, cycle 0, on)."""
        ...

    def screen(
        self, day: dt.date | None, policy: CreditPolicy, *, in_debt_only: bool = False
    ) -> pl.DataFrame:
        """Prepaid accounts that may be near a threshold (a superset, filtered set-based):
        account_id, balance_fen, window_charge_fen, window_days (of ``day``'s usage row),
        state, cycle. ``in_debt_only``: only accounts not in the normal state."""
        ...

    def lock_states(self, account_ids: Sequence[int]) -> None:
        """Hold these accounts' credit states until commit, in id order."""
        ...

    def policy_inputs(self, day: dt.date | None, account_ids: Sequence[int]) -> pl.DataFrame:
        """``INPUT_SCHEMA`` rows for these prepaid accounts (``estimated_recent`` null)."""
        ...

    def estimated_since(self, first_days: Mapping[int, dt.date]) -> set[int]:
        """The accounts among ``first_days`` (account_id -> day) with a day settled on an
        estimate on or after their own first day."""
        ...

    def recipients(self, account_ids: Sequence[int]) -> pl.DataFrame:
        """account_id, phone, language, role (customer | trusted), account_no, name."""
        ...

    def save_states(self, states: pl.DataFrame) -> int:
        """Upsert whole ``STATE_SCHEMA`` rows (under ``lock_states``)."""
        ...

    def add_decisions(self, decisions: pl.DataFrame) -> int:
        """Append decisions whose key is new; returns rows added."""
        ...

    def add_staff_tasks(self, tasks: pl.DataFrame) -> int:
        """Append staff tasks (key, account_id, kind, reason, created_at) whose key is new."""
        ...

    def confirm_supply(self, account_id: int, supply: str, at: dt.datetime) -> None:
        """The meter confirmed supply ``on`` or ``off``: the state follows (and, on, a failed
        reconnection's staff task closes)."""
        ...

    def confirm_supplies(self, confirmations: Sequence[tuple[int, str, dt.datetime]]) -> None:
        """``confirm_supply`` for each (account_id, supply, at), in order, in a few statements."""
        ...

    def states_of(
        self, account_ids: Collection[int], *, lock: bool = False
    ) -> dict[int, AccountCreditState]:
        """``state_of`` for several accounts (those that have one), in one statement."""
        ...

    def state_of(self, account_id: int, *, lock: bool = False) -> AccountCreditState | None:
        """``lock``: held until commit as ``lock_states`` holds it (PostgreSQL), in the same
        statement that reads it."""
        ...

    def decisions(self, account_id: int, limit: int) -> pl.DataFrame:
        """Newest first: at, action, reason_code, reason."""
        ...

    def latest_decisions(
        self, account_ids: Sequence[int], since: dt.datetime
    ) -> list[LatestDecision]:
        """Each account's newest decision if made at or after ``since``, by account."""
        ...

    def staff_tasks(self, open_only: bool, limit: int) -> pl.DataFrame: ...

    def close_staff_tasks(self, closings: pl.DataFrame) -> int:
        """Close the open tasks of each ``CLOSING_SCHEMA`` row's account and kind, with its
        close_code and close_reason; returns tasks closed."""
        ...

    def overdue_reconnects(
        self,
        queued_from: dt.datetime,
        queued_to: dt.datetime,
        finished_after: dt.datetime,
        limit: int,
    ) -> pl.DataFrame:
        """``OVERDUE_RECONNECT_SCHEMA``: reconnects queued in [queued_from, queued_to], not
        cancelled, not confirmed or confirmed after ``finished_after``, without a
        ``restore_overdue`` task yet; oldest first."""
        ...

    def state_counts(self) -> dict[str, int]:
        """How many accounts are in each credit state (by the state's value)."""
        ...
