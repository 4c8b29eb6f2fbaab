"""The credit policy: warn, notify arrears, cut only when fair, restore at once.

States (DESIGN.md): normal -> warned -> arrears (notice sent with a pay-by date) -> disconnecting
(cut queued) -> disconnected (the meter confirmed) -> reconnecting (reconnect queued) -> normal.

This module is the policy's vocabulary: the states and actions, the policy file, the
``Context`` of a judgement and the frames the rules read and return. The rules themselves are in
``credit_rules``. Everything time-dependent comes in through ``Context`` (the clock and the
holiday calendar are ports), so simulated days run in seconds.

A *cycle* numbers the account's trips below the warning line: each message, command and decision
key carries it, so a notice is never sent twice in a cycle, and the next cycle's are sent again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import polars as pl

from gridpay.errors import InvalidInput


class CreditState(StrEnum):
    NORMAL = "normal"
    WARNED = "warned"
    ARREARS = "arrears"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"


class Action(StrEnum):
    """What a decision did (or why it did nothing)."""

    WARN = "warn"
    NOTICE = "notice"
    SECOND_NOTICE = "second_notice"
    CUT = "cut"
    HOLD = "hold"  # a cut was due but not made: the reason says why
    RESTORE = "restore"
    RECOVER = "recover"  # back above the warning line without a cut
    CONFIRMED = "confirmed"  # the meter confirmed a switch
    RESTORE_OVERDUE = "restore_overdue"  # a reconnect not confirmed within the promise
    COMPENSATE = "compensate"  # the household credited for a broken restoration promise


@dataclass(frozen=True)
class AccountCreditState:
    """One account's credit state as stored (a ``STATE_SCHEMA`` row; instants aware, UTC)."""

    account_id: int
    state: CreditState
    cycle: int
    warned_at: dt.datetime | None
    notice_at: dt.datetime | None
    pay_by: dt.date | None
    second_notice_at: dt.datetime | None
    supply: str  # on | off, as the meter last confirmed
    updated_at: dt.datetime


@dataclass(frozen=True)
class LatestDecision:
    """An account's newest decision (``CreditRepo.latest_decisions``)."""

    account_id: int
    at: dt.datetime
    action: Action
    reason_code: str


@dataclass(frozen=True)
class CreditPolicy:
    code: str
    name: str
    effective_from: dt.date
    warn_days_of_credit: int = 5
    warn_history_days_min: int = 7
    default_daily_charge_fen: int = 300
    arrears_balance_fen_max: int = 0
    notice_days: int = 3
    second_notice_minutes: int = 30
    cut_rules: str = "china-default"
    emergency_credit_fen: int = 0
    restore_balance_fen_min: int = 1
    # An arrears notice with no delivery receipt this many hours after it was sent becomes a
    # staff task to call the household; no cut is made until a notice is delivered.
    notice_delivery_task_hours: int = 24
    # The restoration promise: a reconnect not confirmed by the meter within this many hours
    # raises a staff task, and credits the household ``restore_compensation_fen`` (0: none).
    restore_promise_hours: int = 24
    restore_compensation_fen: int = 0
    # A new agreement's fair start: no arrears notice (nor the trusted contact's SMS) on its
    # first days, so an enrolment at zero balance, or a district converted by an accounts
    # file, is not told of arrears before the household could make its opening payment.
    agreement_grace_days: int = 7


_FIELDS: dict[str, dict[str, str]] = {
    "warning": {
        "days_of_credit": "warn_days_of_credit",
        "history_days_min": "warn_history_days_min",
        "default_daily_charge_fen": "default_daily_charge_fen",
    },
    "arrears": {
        "balance_fen_max": "arrears_balance_fen_max",
        "notice_days": "notice_days",
        "second_notice_minutes": "second_notice_minutes",
        "delivery_task_hours": "notice_delivery_task_hours",
    },
    "cut": {"rules": "cut_rules", "emergency_credit_fen": "emergency_credit_fen"},
    "restore": {
        "balance_fen_min": "restore_balance_fen_min",
        "promise_hours": "restore_promise_hours",
        "compensation_fen": "restore_compensation_fen",
    },
    "agreement": {"grace_days": "agreement_grace_days"},
}


def parse_policy(data: Mapping[str, Any], cut_rule_names: set[str]) -> CreditPolicy:
    """Build a policy from a loaded data file; raise ``InvalidInput`` naming what is wrong."""
    code = str(data.get("code", "")).strip()
    if not code:
        raise InvalidInput("credit policy: 'code' is missing")
    effective_from = data.get("effective_from")
    if not isinstance(effective_from, dt.date):
        raise InvalidInput(f"credit policy {code}: 'effective_from' must be a date (2026-01-01)")
    values: dict[str, Any] = {}
    for section, fields in _FIELDS.items():
        given = data.get(section, {})
        unknown = set(given) - set(fields)
        if unknown:
            raise InvalidInput(
                f"credit policy {code}: unknown keys in [{section}]: {sorted(unknown)}"
            )
        for key, attr in fields.items():
            if key in given:
                values[attr] = given[key]
    policy = CreditPolicy(
        code=code, name=str(data.get("name", code)), effective_from=effective_from, **values
    )
    _check(policy, cut_rule_names)
    return policy


def _check(policy: CreditPolicy, cut_rule_names: set[str]) -> None:
    def need(condition: bool, what: str) -> None:
        if not condition:
            raise InvalidInput(f"credit policy {policy.code}: {what}")

    for attr in (
        "warn_days_of_credit",
        "warn_history_days_min",
        "default_daily_charge_fen",
        "arrears_balance_fen_max",
        "notice_days",
        "second_notice_minutes",
        "emergency_credit_fen",
        "restore_balance_fen_min",
        "agreement_grace_days",
        "notice_delivery_task_hours",
        "restore_promise_hours",
        "restore_compensation_fen",
    ):
        need(isinstance(getattr(policy, attr), int), f"{attr} must be a whole number")
    need(policy.warn_days_of_credit >= 1, "warning.days_of_credit must be at least 1")
    need(policy.default_daily_charge_fen >= 0, "warning.default_daily_charge_fen must be >= 0")
    need(policy.notice_days >= 1, "arrears.notice_days must be at least 1 day")
    need(policy.second_notice_minutes >= 0, "arrears.second_notice_minutes must be >= 0")
    need(policy.emergency_credit_fen >= 0, "cut.emergency_credit_fen must be >= 0")
    need(policy.agreement_grace_days >= 0, "agreement.grace_days must be >= 0")
    need(policy.notice_delivery_task_hours >= 1, "arrears.delivery_task_hours must be >= 1")
    need(policy.restore_promise_hours >= 1, "restore.promise_hours must be at least 1")
    need(policy.restore_compensation_fen >= 0, "restore.compensation_fen must be >= 0")
    need(
        policy.restore_balance_fen_min > policy.arrears_balance_fen_max,
        "restore.balance_fen_min must be above arrears.balance_fen_max",
    )
    need(
        policy.cut_rules in cut_rule_names,
        f"cut.rules {policy.cut_rules!r} is not one of {sorted(cut_rule_names)}",
    )


@dataclass(frozen=True)
class Context:
    """Everything ``evaluate`` needs to know about the moment it decides at."""

    now: dt.datetime  # aware, UTC
    today: dt.date  # the local business date of ``now``
    cut_allowed_now: bool  # the cut window and calendar allow a cut at ``now``
    cut_hold_code: str  # why not, when not (e.g. "holiday")
    cut_hold_reason: str  # e.g. "not cut on 2026-10-01: public holiday; next window ..."
    # The second notice goes out only if the cut it announces will still fall inside the window.
    cut_allowed_after_notice: bool = True
    paid_fen: int | None = None  # set when a payment triggers the evaluation
    cuts: bool = True  # False: judge restorations and notices only (a payment's own check)
    zone: str = "Asia/Shanghai"  # for the local times in reasons


# One row per account: what the policy needs to know. Nulls in the state columns mean the
# account has no credit state yet (normal, cycle 0, supply on).
INPUT_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "meter_id": pl.Int64,  # the meter in service (null: none)
    "has_switch": pl.Boolean,
    "balance_fen": pl.Int64,
    "window_charge_fen": pl.Int64,  # the recent window's charges (null: no settled day)
    "window_days": pl.Int64,
    "state": pl.String,
    "cycle": pl.Int64,
    "warned_at": pl.Datetime("us", "UTC"),
    "notice_at": pl.Datetime("us", "UTC"),
    "pay_by": pl.Date,
    "second_notice_at": pl.Datetime("us", "UTC"),
    "supply": pl.String,
    "protected": pl.String,  # medical | elderly_alone | null
    "estimated_recent": pl.Boolean,  # an estimated day since the arrears began
    "agreement_from": pl.Date,  # the first day of the agreement in force (null: none recorded)
    # When the cycle's arrears notice reached the customer's phone (the first delivery receipt
    # of an arrears message sent at or after ``notice_at``; null: none yet).
    "notice_delivered_at": pl.Datetime("us", "UTC"),
}

STATE_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "state": pl.String,
    "cycle": pl.Int64,
    "warned_at": pl.Datetime("us", "UTC"),
    "notice_at": pl.Datetime("us", "UTC"),
    "pay_by": pl.Date,
    "second_notice_at": pl.Datetime("us", "UTC"),
    "supply": pl.String,
    "updated_at": pl.Datetime("us", "UTC"),
}

MESSAGE_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "kind": pl.String,
    "cycle": pl.Int64,
    "balance_fen": pl.Int64,
    "pay_by": pl.Date,
    "cut_at": pl.Datetime("us", "UTC"),
    "paid_fen": pl.Int64,
    "to_trusted": pl.Boolean,  # to the trusted contact(s) instead of the customer
}

DECISION_SCHEMA: dict[str, Any] = {
    "key": pl.String,
    "account_id": pl.Int64,
    "at": pl.Datetime("us", "UTC"),
    "action": pl.String,
    "reason_code": pl.String,
    "reason": pl.String,
}

TASK_SCHEMA: dict[str, Any] = {
    "key": pl.String,
    "account_id": pl.Int64,
    "kind": pl.String,
    "reason": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}

# Staff tasks whose cause has gone away: every open task of ``kind`` on the account closes, with
# the code and the reason for people (paid | balance_positive | trued_up | agreement_ended).
CLOSING_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "kind": pl.String,
    "close_code": pl.String,
    "close_reason": pl.String,
    "closed_at": pl.Datetime("us", "UTC"),
}

PROTECTED_TEXT = {
    "medical": "medical equipment",
    "elderly_alone": "elderly, living alone",
    "held": "cut held by a supervisor",
}


@dataclass(frozen=True)
class Evaluation:
    states: pl.DataFrame  # STATE_SCHEMA: only accounts whose state changed
    messages: pl.DataFrame  # MESSAGE_SCHEMA
    commands: pl.DataFrame  # domain.commands.COMMAND_SCHEMA
    cancel_cuts: pl.Series  # account ids whose queued disconnects are overtaken by a payment
    decisions: pl.DataFrame  # DECISION_SCHEMA
    tasks: pl.DataFrame  # TASK_SCHEMA
    closings: pl.DataFrame = field(  # CLOSING_SCHEMA
        default_factory=lambda: pl.DataFrame(schema=CLOSING_SCHEMA)
    )


NOTICE_STATES = (CreditState.NORMAL, CreditState.WARNED)  # an arrears notice may follow
RESTORABLE_STATES = (CreditState.ARREARS, CreditState.DISCONNECTING, CreditState.DISCONNECTED)


def restores(state: str, balance_fen: int, policy: CreditPolicy) -> bool:
    """Does a payment leaving ``balance_fen`` end the debt of an account in ``state``?"""
    return state in RESTORABLE_STATES and balance_fen >= policy.restore_balance_fen_min


def pay_by_date(notice_day: dt.date, policy: CreditPolicy) -> dt.date:
    """The last day to pay after an arrears notice on ``notice_day``; cuts start the day after."""
    return notice_day + dt.timedelta(days=policy.notice_days)


# The staff task a reconnect raises when the meter has not confirmed it within the promise.
RESTORE_OVERDUE_TASK = "restore_overdue"

# A reconnect that may have broken the promise (``CreditRepo.overdue_reconnects``).
OVERDUE_RECONNECT_SCHEMA: dict[str, Any] = {
    "correlation_id": pl.String,
    "account_id": pl.Int64,
    "meter_id": pl.Int64,
    "state": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "head_end": pl.String,
}


def broke_restoration_promise(
    created_at: dt.datetime,
    finished_at: dt.datetime | None,
    acknowledged: bool,
    now: dt.datetime,
    policy: CreditPolicy,
) -> bool:
    """Did a reconnect queued at ``created_at`` miss the policy's promise by ``now``: not
    confirmed by the meter within ``restore.promise_hours`` (confirmed later, or not yet)?"""
    promised_by = created_at + dt.timedelta(hours=policy.restore_promise_hours)
    if acknowledged:
        assert finished_at is not None
        return finished_at > promised_by
    return now >= promised_by
