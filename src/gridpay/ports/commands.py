"""Remote disconnect / reconnect commands and their states."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import polars as pl

from gridpay.domain.commands import MeterCommand


class CommandsRepo(Protocol):
    """Remote disconnect / reconnect commands and their states (``domain.commands``).

    Commands are frames of ``domain.commands.STORED_COMMAND_SCHEMA`` for people, or
    ``MeterCommand`` rows for the dispatcher's small batches (instants aware, UTC). The methods
    that pick commands to work on (``due``, ``sent_before``, ``get``) hold them until commit on
    PostgreSQL, skipping those another dispatcher holds; SQLite has one writer anyway.
    """

    def enqueue(self, commands: pl.DataFrame) -> int:
        """Append commands (``domain.commands.COMMAND_SCHEMA``) as queued; a correlation id
        already present is skipped. Returns rows added."""
        ...

    def cancel_queued(self, account_id: int, action: str, at: dt.datetime) -> int:
        """Cancel the account's queued (not yet sent, or waiting for a retry) commands of this
        action; commands already sent are left alone. Returns how many were cancelled."""
        ...

    def anything_to_do(self, now: dt.datetime, deadline: dt.datetime) -> bool:
        """Whether ``due(now, ...)`` or ``sent_before(deadline, ...)`` would find a command
        (a cheap look before a dispatch pass; nothing is held)."""
        ...

    def due(self, now: dt.datetime, limit: int) -> list[MeterCommand]:
        """Queued commands whose next attempt is due (or unset), by priority then age."""
        ...

    def sent_before(self, deadline: dt.datetime, limit: int) -> list[MeterCommand]:
        """Commands sent before ``deadline`` and still unanswered (to time out), oldest first."""
        ...

    def get(self, correlation_id: str) -> MeterCommand | None:
        """One command's row (to decide what its result means), or None if unknown."""
        ...

    def mark_sent(self, command_id: int, at: dt.datetime, head_end: str) -> None:
        """A queued command was handed to ``head_end``: sent, one more attempt."""
        ...

    def mark_sent_many(self, command_ids: Sequence[int], at: dt.datetime, head_end: str) -> None:
        """``mark_sent`` for a pass's commands at once (one statement)."""
        ...

    def acknowledge_many(
        self, confirmations: Sequence[tuple[str, dt.datetime]]
    ) -> dict[str, MeterCommand]:
        """``finish(correlation_id, "acknowledged", at, None)`` for many confirmations in a few
        statements: the commands acknowledged now by correlation id, as they were before (a
        correlation id repeated is taken once, at its first instant)."""
        ...

    def finish(
        self, correlation_id: str, state: str, at: dt.datetime, error: str | None
    ) -> MeterCommand | None:
        """Move a sent command to a final state; the command's row, or None if unknown or
        already final (a late or repeated result). An acknowledgement is also taken for a
        command waiting for a retry: an earlier attempt did reach the meter."""
        ...

    def retry_later(self, command_id: int, next_attempt_at: dt.datetime, error: str) -> None:
        """A sent command failed or timed out: queued again, not before ``next_attempt_at``."""
        ...

    def postpone(self, command_id: int, next_attempt_at: dt.datetime) -> None:
        """A queued command may not go out yet (a cut outside its window): not before then."""
        ...

    def list(self, account_id: int | None, state: str | None, limit: int) -> pl.DataFrame:
        """Commands, newest first."""
        ...
