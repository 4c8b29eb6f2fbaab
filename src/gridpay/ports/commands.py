"""Remote disconnect / reconnect commands and their states."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import polars as pl


class CommandsRepo(Protocol):
    """Remote disconnect / reconnect commands and their states (``domain.commands``).

    Commands (frames, or rows as dicts for the dispatcher's small batches) have the table's
    columns: id, correlation_id, account_id, meter_id, action, priority, state, attempts,
    created_at, next_attempt_at, sent_at, finished_at, head_end, last_error (instants aware,
    UTC). The methods that pick commands to work on
    (``due``, ``sent_before``, ``get``) hold them until commit on PostgreSQL, skipping those
    another dispatcher holds; SQLite has one writer anyway.
    """

    def enqueue(self, commands: pl.DataFrame) -> int:
        """Append commands (correlation_id, account_id, meter_id, action, priority, created_at)
        as queued; a correlation id already present is skipped. Returns rows added."""
        ...

    def cancel_queued(self, account_id: int, action: str, at: dt.datetime) -> int:
        """Cancel the account's queued (not yet sent, or waiting for a retry) commands of this
        action; commands already sent are left alone. Returns how many were cancelled."""
        ...

    def anything_to_do(self, now: dt.datetime, deadline: dt.datetime) -> bool:
        """Whether ``due(now, ...)`` or ``sent_before(deadline, ...)`` would find a command
        (a cheap look before a dispatch pass; nothing is held)."""
        ...

    def due(self, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Queued commands whose next attempt is due (or unset), by priority then age."""
        ...

    def sent_before(self, deadline: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Commands sent before ``deadline`` and still unanswered (to time out), oldest first."""
        ...

    def get(self, correlation_id: str) -> dict[str, Any] | None:
        """One command's row (to decide what its result means), or None if unknown."""
        ...

    def mark_sent(self, command_id: int, at: dt.datetime, head_end: str) -> None:
        """A queued command was handed to ``head_end``: sent, one more attempt."""
        ...

    def finish(
        self, correlation_id: str, state: str, at: dt.datetime, error: str | None
    ) -> dict[str, Any] | None:
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
