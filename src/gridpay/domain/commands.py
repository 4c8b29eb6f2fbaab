"""Remote meter commands: disconnect / reconnect records and their states.

A command is queued, sent to the head-end, then acknowledged by the meter, or it fails or times
out and is retried with back-off; the account counts as disconnected only when the meter confirms.
Sending is rate-limited per head-end (``RateLimiter``), so a mass reconnection after a holiday
waits in the queue instead of flooding the head-end. Everything here is pure: time is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

import polars as pl

from gridpay import limits


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

ATTEMPTS_MAX = limits.command_attempts_max

FINAL_STATES = frozenset(
    {
        CommandState.ACKNOWLEDGED,
        CommandState.FAILED,
        CommandState.TIMED_OUT,
        CommandState.CANCELLED,
    }
)

# Which state may follow which. SENT -> QUEUED is a retry (after a failure or a timeout) waiting
# for its back-off; QUEUED -> ACKNOWLEDGED is a late confirmation of an earlier attempt arriving
# while the retry waits (the meter did switch). Final states are never left: a late or repeated
# result after them changes nothing.
TRANSITIONS: dict[CommandState, frozenset[CommandState]] = {
    CommandState.QUEUED: frozenset(
        {CommandState.SENT, CommandState.CANCELLED, CommandState.ACKNOWLEDGED}
    ),
    CommandState.SENT: frozenset(
        {
            CommandState.ACKNOWLEDGED,
            CommandState.FAILED,
            CommandState.TIMED_OUT,
            CommandState.QUEUED,
        }
    ),
    CommandState.ACKNOWLEDGED: frozenset(),
    CommandState.FAILED: frozenset(),
    CommandState.TIMED_OUT: frozenset(),
    CommandState.CANCELLED: frozenset(),
}


def may_follow(old: CommandState, new: CommandState) -> bool:
    return new in TRANSITIONS[old]


def assert_transition(old: CommandState, new: CommandState) -> None:
    """Our own mistake if a command moves any other way than ``TRANSITIONS`` allows."""
    assert may_follow(old, new), f"a command may not go from {old.value} to {new.value}"


# A new command, as services queue it (``CommandsRepo.enqueue``).
COMMAND_SCHEMA: dict[str, Any] = {
    "correlation_id": pl.String,
    "account_id": pl.Int64,
    "meter_id": pl.Int64,
    "action": pl.String,
    "priority": pl.Int64,
    "created_at": pl.Datetime("us", "UTC"),
}

# A stored command (``CommandsRepo.list``): the ``meter_commands`` table's columns.
STORED_COMMAND_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    **{name: dtype for name, dtype in COMMAND_SCHEMA.items() if name != "created_at"},
    "state": pl.String,
    "attempts": pl.Int64,
    "created_at": COMMAND_SCHEMA["created_at"],
    "next_attempt_at": pl.Datetime("us", "UTC"),
    "sent_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "head_end": pl.String,
    "last_error": pl.String,
}


@dataclass(frozen=True)
class MeterCommand:
    """A stored command, for the dispatcher to work on (instants aware, UTC)."""

    id: int
    correlation_id: str
    account_id: int
    meter_id: int
    action: CommandAction
    priority: int
    state: CommandState
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    finished_at: dt.datetime | None
    head_end: str | None
    last_error: str | None


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


def escalation_kind(action: CommandAction) -> str:
    """The staff task raised when a command is given up."""
    return "cut_failed" if action is CommandAction.DISCONNECT else "reconnect_failed"


def staff_task_key(action: CommandAction, command_correlation_id: str) -> str:
    """One staff task per command given up, however often the give-up is replayed."""
    return f"{escalation_kind(action)}/{command_correlation_id}"


def supply_after(action: CommandAction) -> str:
    """The supply the meter confirms by acknowledging ``action``."""
    return "off" if action is CommandAction.DISCONNECT else "on"


# --- retries ------------------------------------------------------------------------------


def retry_delay_s(
    attempts: int,
    base_s: float = limits.command_retry_base_s,
    cap_s: float = limits.command_retry_cap_s,
) -> float:
    """Seconds to wait after the ``attempts``-th failed send: base x 2^(attempts - 1), capped."""
    assert attempts >= 1
    assert base_s > 0
    assert cap_s >= base_s
    # 2 ** 64 is far past any cap; bounding the exponent keeps the float finite.
    return min(base_s * 2 ** min(attempts - 1, 64), cap_s)


def retry_at(attempts: int, now: dt.datetime, jitter_s: float = 0.0) -> dt.datetime:
    """When to send again after the ``attempts``-th failed send.

    Deterministic: any jitter (to spread a burst of retries) is chosen by the caller, e.g. from a
    seeded generator, and only ever delays.
    """
    assert now.tzinfo is not None
    assert jitter_s >= 0
    return now + dt.timedelta(seconds=retry_delay_s(attempts) + jitter_s)


def gives_up(attempts: int) -> bool:
    """True when a command that has been sent ``attempts`` times must not be sent again."""
    assert attempts >= 1
    return attempts >= ATTEMPTS_MAX


# --- rate limit -----------------------------------------------------------------------------


class RateLimiter:
    """A token bucket: in any window of t seconds at most ``burst + rate_per_s x t`` sends.

    Driven only by the instants passed in, so a simulated clock can run days in seconds. The
    arithmetic is exact (fractions of microseconds), so the bound holds to the last token. An
    instant earlier than the last one seen adds no tokens (time does not run backwards here).
    """

    def __init__(self, rate_per_s: float, burst: int) -> None:
        assert rate_per_s > 0
        assert burst >= 1
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._rate = Fraction(rate_per_s)
        self._tokens = Fraction(burst)
        self._at: dt.datetime | None = None

    def _refill(self, now: dt.datetime) -> None:
        assert now.tzinfo is not None
        if self._at is None:
            self._at = now
            return
        if now <= self._at:
            return
        elapsed_us = (now - self._at) // dt.timedelta(microseconds=1)
        self._tokens = min(Fraction(self.burst), self._tokens + self._rate * elapsed_us / 1_000_000)
        self._at = now

    def take(self, now: dt.datetime) -> bool:
        """Use one send if one is available at ``now``."""
        self._refill(now)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def take_many(self, now: dt.datetime, sends: int) -> None:
        """Use ``sends`` sends at ``now``, which ``available`` said there are (a pass's sends
        at once: the exact arithmetic costs more than a send)."""
        self._refill(now)
        assert sends <= self._tokens, f"{sends} sends, {self._tokens} available"
        self._tokens -= sends

    def available(self, now: dt.datetime) -> int:
        """How many sends ``take`` would allow at ``now``, one after another."""
        self._refill(now)
        return int(self._tokens)

    def wait_s(self, now: dt.datetime) -> float:
        """Seconds from ``now`` until ``take`` would succeed (0 if it would now)."""
        self._refill(now)
        if self._tokens >= 1:
            return 0.0
        return float((1 - self._tokens) / self._rate)
