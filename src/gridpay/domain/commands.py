"""Remote meter commands: disconnect / reconnect records and their states.

A command is queued, sent to the head-end, then acknowledged by the meter, or it fails or times
out and is retried with back-off; the account counts as disconnected only when the meter confirms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class CommandAction(StrEnum):
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"


class CommandState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"  # gave up after the last retry (escalated to staff for a cut)
    TIMED_OUT = "timed_out"  # no answer in time; retried like a failure
    CANCELLED = "cancelled"  # overtaken: a queued cut when the customer paid


# Reconnects jump the queue: a customer who paid waits for nobody's cut.
PRIORITY = {CommandAction.RECONNECT: 0, CommandAction.DISCONNECT: 5}


@dataclass(frozen=True)
class CommandResult:
    """What the head-end reports back for a command it was sent."""

    correlation_id: str
    ok: bool
    at: dt.datetime
    error: str | None = None


def correlation_id(action: CommandAction, account_id: int, cycle: int) -> str:
    """One cut and one restoration per account and credit cycle: a retried decision is a no-op."""
    return f"{action.value}/{account_id:010d}/{cycle}"
