"""The credit policy's rules, evaluated over a batch of accounts (Polars).

``evaluate`` decides for a batch: a whole city after the night's settlement, the accounts in
debt on a timer. It returns what should happen -- new states, messages, commands, decisions with
their reasons, staff tasks -- and the service writes all of it in one transaction.
``restore_one`` is the same decision in plain Python for the one case a payment decides alone
(its own restoration), proven equal to ``evaluate`` by a property test. The vocabulary (states,
the policy file, the context and the frames' schemas) is in ``credit_policy``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from gridpay.domain.commands import COMMAND_SCHEMA, PRIORITY, CommandAction, escalation_kind
from gridpay.domain.credit_policy import (
    CLOSING_SCHEMA,
    DECISION_SCHEMA,
    MESSAGE_SCHEMA,
    PROTECTED_TEXT,
    STATE_SCHEMA,
    TASK_SCHEMA,
    AccountCreditState,
    Action,
    Context,
    CreditPolicy,
    CreditState,
    Evaluation,
    pay_by_date,
    restores,
)
from gridpay.domain.messages import MessageKind
from gridpay.domain.money import format_fen, format_fen_expr

SCREEN_COLUMNS = ("account_id", "balance_fen", "window_charge_fen", "window_days", "state")


def near_threshold(screen: pl.LazyFrame, policy: CreditPolicy) -> pl.LazyFrame:
    """The accounts ``evaluate`` may act on, from ``SCREEN_COLUMNS`` alone: every account not
    in the normal state, and normal ones below their warning line. The rest -- most of a city
    on most days -- need no further work."""
    f = screen.with_columns(
        pl.col("state").fill_null(CreditState.NORMAL.value), *_warn_line(policy)
    )
    return f.filter(
        (pl.col("state") != CreditState.NORMAL) | (pl.col("balance_fen") < pl.col("warn_line_fen"))
    )


def evaluate(inputs: pl.DataFrame, policy: CreditPolicy, ctx: Context) -> Evaluation:
    """Decide for a batch of accounts (``INPUT_SCHEMA``) at ``ctx.now``."""
    f = near_threshold(_prepared(inputs.lazy()), policy).with_columns(_rules(policy, ctx)).collect()
    if f.height == 0:
        return _nothing()
    # Only the outcomes some account of the batch has are planned: a payment's restoration
    # plans one message, one command, one decision, not every kind there is.
    present = frozenset(
        name
        for name, flag in (*((n, f[n]) for n in FLAGS), ("hold", f["hold_code"].is_not_null()))
        if flag.any()
    )
    if not present:
        return _nothing()
    lazy = f.lazy()
    # Every output is planned lazily and collected together: one pass of the engine rather
    # than one per filter (a payment's single account costs milliseconds, not tens of them).
    # An output no present outcome can fill is not planned at all (None: empty).
    plans: dict[str, pl.LazyFrame | None] = {
        # holds and closings change no state
        "states": (
            _states(lazy, policy, ctx)
            if present - {"hold", "close_estimated", "call_household", "notice_delivered"}
            else None
        ),
        "messages": _messages(lazy, policy, ctx, present),
        "commands": _commands(lazy, ctx, present),
        "cancel": (
            lazy.filter(pl.col("restore") & (pl.col("state") == CreditState.DISCONNECTING)).select(
                "account_id"
            )
            if "restore" in present
            else None
        ),
        "decisions": _decisions(lazy, policy, ctx, present),
        "tasks": (
            _tasks(lazy, policy, ctx)
            if present & {"hold", "estimated_notice", "call_household"}
            else None
        ),
        "closings": _closings(lazy, ctx, present),
    }
    planned = [(name, plan) for name, plan in plans.items() if plan is not None]
    collected = pl.collect_all(
        [plan for _, plan in planned],
        # The streaming engine panics on some of these string expressions (Polars 2.1).
        engine="in-memory",
    )
    out = {name: frame for (name, _), frame in zip(planned, collected, strict=True)}

    def frame(name: str, schema: dict[str, Any]) -> pl.DataFrame:
        return out[name] if name in out else pl.DataFrame(schema=schema)

    return Evaluation(
        states=frame("states", STATE_SCHEMA),
        messages=frame("messages", MESSAGE_SCHEMA),
        commands=frame("commands", COMMAND_SCHEMA),
        cancel_cuts=frame("cancel", {"account_id": pl.Int64})["account_id"],
        decisions=frame("decisions", DECISION_SCHEMA),
        tasks=frame("tasks", TASK_SCHEMA),
        closings=frame("closings", CLOSING_SCHEMA),
    )


# The rule columns ``_rules`` adds (besides ``hold_code``), and the one behind each action.
FLAGS = (
    "restore",
    "recover",
    "notice",
    "estimated_notice",
    "firm_notice",
    "close_estimated",
    "warn",
    "second_notice",
    "cut",
    "call_household",
    "notice_delivered",
)
ACTION_FLAGS = {
    Action.WARN: "warn",
    Action.NOTICE: "notice",
    Action.SECOND_NOTICE: "second_notice",
    Action.CUT: "cut",
    Action.HOLD: "hold",
    Action.RESTORE: "restore",
    Action.RECOVER: "recover",
}


@functools.lru_cache(maxsize=64)
def _instant_lit(at: dt.datetime | None) -> pl.Expr:
    """An instant as a literal, made once: Polars builds a Series for each datetime literal,
    which costs more than the rest of judging one account."""
    return pl.lit(at, dtype=pl.Datetime("us", "UTC"))


@functools.lru_cache(maxsize=64)
def _date_lit(day: dt.date | None) -> pl.Expr:
    return pl.lit(day, dtype=pl.Date)


def _nothing() -> Evaluation:
    return Evaluation(
        states=pl.DataFrame(schema=STATE_SCHEMA),
        messages=pl.DataFrame(schema=MESSAGE_SCHEMA),
        commands=pl.DataFrame(schema=COMMAND_SCHEMA),
        cancel_cuts=pl.Series("account_id", [], dtype=pl.Int64),
        decisions=pl.DataFrame(schema=DECISION_SCHEMA),
        tasks=pl.DataFrame(schema=TASK_SCHEMA),
        closings=pl.DataFrame(schema=CLOSING_SCHEMA),
    )


# The staff tasks an account's debt raises; they lose their cause when the debt ends.
DEBT_TASK_KINDS = (
    "protected",
    "estimated",
    "no_switch",
    escalation_kind(CommandAction.DISCONNECT),
    "undelivered_notice",
)


def task_closings(account_id: int, code: str, reason: str, at: dt.datetime) -> pl.DataFrame:
    """``CLOSING_SCHEMA`` rows closing every debt task of one account (e.g. when it leaves)."""
    return pl.DataFrame(
        [(account_id, kind, code, reason, at) for kind in DEBT_TASK_KINDS],
        schema=CLOSING_SCHEMA,
        orient="row",
    )


def restore_one(
    current: AccountCreditState,
    balance_fen: int,
    meter_id: int | None,
    policy: CreditPolicy,
    ctx: Context,
    estimated_recent: bool | None = None,
) -> Evaluation:
    """``evaluate`` for the one case a payment decides alone: one account in debt whose
    payment brought it to the restore line (``restores``), judged with ``ctx.cuts`` off.

    The batch rules as plain Python (a payment is judged in milliseconds instead of planning
    Polars queries); ``tests/unit/test_credit_policy_properties.py`` proves the two agree.
    """
    state = current.state.value
    assert restores(state, balance_fen, policy)
    assert not ctx.cuts
    account_id, cycle = current.account_id, current.cycle
    account_no = f"{account_id:010d}"
    estimated = bool(estimated_recent)  # unknown: as the batch reads a null
    reconnect = current.supply == "off" or state != CreditState.ARREARS
    states = pl.DataFrame(
        [
            {
                "account_id": account_id,
                "state": CreditState.RECONNECTING if reconnect else CreditState.NORMAL,
                "cycle": cycle + 1,
                "warned_at": None,
                "notice_at": None,
                "pay_by": None,
                "second_notice_at": None,
                "supply": current.supply,
                "updated_at": ctx.now,
            }
        ],
        schema=STATE_SCHEMA,
    )
    messages = [
        {
            "account_id": account_id,
            "kind": MessageKind.RESTORED.value,
            "cycle": cycle,
            "balance_fen": balance_fen,
            "pay_by": None,
            "cut_at": None,
            "paid_fen": ctx.paid_fen,
            "to_trusted": False,
        }
    ]
    commands = [
        {
            "correlation_id": f"{CommandAction.RECONNECT.value}/{account_no}/{cycle}",
            "account_id": account_id,
            "meter_id": meter_id,
            "action": CommandAction.RECONNECT.value,
            "priority": PRIORITY[CommandAction.RECONNECT],
            "created_at": ctx.now,
        }
    ]
    paid = f" after a payment of {format_fen(ctx.paid_fen)} yuan" if ctx.paid_fen else ""
    outcome = "reconnect queued first in line" if reconnect else "supply was never cut"
    decision = {
        "key": f"{Action.RESTORE.value}/{account_no}/{cycle}",
        "account_id": account_id,
        "at": ctx.now,
        "action": Action.RESTORE.value,
        "reason_code": "paid" if ctx.paid_fen is not None else "balance_positive",
        "reason": f"balance {format_fen(balance_fen)} yuan is above zero again{paid}: {outcome}",
    }
    return Evaluation(
        states=states,
        messages=pl.DataFrame(
            messages if reconnect and ctx.paid_fen is not None else [], schema=MESSAGE_SCHEMA
        ),
        commands=pl.DataFrame(
            commands if reconnect and meter_id is not None else [], schema=COMMAND_SCHEMA
        ),
        cancel_cuts=pl.Series(
            "account_id", [account_id] if state == CreditState.DISCONNECTING else [], pl.Int64
        ),
        decisions=pl.DataFrame([decision], schema=DECISION_SCHEMA),
        tasks=pl.DataFrame(schema=TASK_SCHEMA),
        closings=pl.DataFrame(
            [
                (account_id, kind, *_restore_closing(kind, balance_fen, estimated, ctx), ctx.now)
                for kind in DEBT_TASK_KINDS
            ],
            schema=CLOSING_SCHEMA,
            orient="row",
        ),
    )


def _restore_closing(
    kind: str, balance_fen: int, estimated_recent: bool, ctx: Context
) -> tuple[str, str]:
    """Why a debt task of ``kind`` closes when the debt ends: code and reason (``_closings``)."""
    paid = f" after a payment of {format_fen(ctx.paid_fen)} yuan" if ctx.paid_fen else ""
    above = f"balance {format_fen(balance_fen)} yuan is above zero again{paid}"
    if kind == "estimated" and ctx.paid_fen is None and not estimated_recent:
        return "trued_up", f"the meter was read and the estimates trued up: {above}"
    return ("paid" if ctx.paid_fen is not None else "balance_positive"), above


# --- the rules, as columns -----------------------------------------------------------------


def _prepared(inputs: pl.LazyFrame) -> pl.LazyFrame:
    return inputs.with_columns(
        pl.col("state").fill_null(CreditState.NORMAL.value),
        pl.col("cycle").fill_null(0),
        pl.col("supply").fill_null("on"),
        pl.col("estimated_recent").fill_null(False),
        pl.col("has_switch").fill_null(False),
    )


def _warn_line(policy: CreditPolicy) -> list[pl.Expr]:
    """The account's average daily charge over its recent window (the policy's default until
    it has enough history) and the balance below which it is warned."""
    days = pl.col("window_days").fill_null(0)
    average = (
        pl.when(days >= policy.warn_history_days_min)
        .then(pl.col("window_charge_fen").fill_null(0) // days.clip(lower_bound=1))
        .otherwise(pl.lit(policy.default_daily_charge_fen))
    )
    return [
        average.alias("average_fen"),
        (average * policy.warn_days_of_credit).alias("warn_line_fen"),
    ]


def _rules(policy: CreditPolicy, ctx: Context) -> list[pl.Expr]:
    state = pl.col("state")
    balance = pl.col("balance_fen")
    in_debt = state.is_in(
        [CreditState.ARREARS, CreditState.DISCONNECTING, CreditState.DISCONNECTED]
    )
    restore = in_debt & (balance >= policy.restore_balance_fen_min)
    recover = (state == CreditState.WARNED) & (balance >= pl.col("warn_line_fen"))
    # Inside a new agreement's grace no notice goes out (policy ``agreement.grace_days``).
    in_grace = pl.col("agreement_from").is_not_null() & (
        pl.col("agreement_from") > _date_lit(ctx.today - dt.timedelta(policy.agreement_grace_days))
    )
    notice = (
        state.is_in([CreditState.NORMAL, CreditState.WARNED])
        & (balance <= policy.arrears_balance_fen_max)
        & ~in_grace
    )
    warn = (
        (state == CreditState.NORMAL)
        & (balance > policy.arrears_balance_fen_max)
        & (balance < pl.col("warn_line_fen"))
    )
    estimated = pl.col("estimated_recent")
    # A notice resting on estimated readings names no pay-by date (its state keeps none): no
    # cut may follow it. Once real readings replace the estimates and the debt stands, the
    # notice with a pay-by date goes out, counted from that day.
    firm_notice = (
        (state == CreditState.ARREARS)
        & pl.col("pay_by").is_null()
        & ~estimated
        & (balance <= policy.arrears_balance_fen_max)
    )
    cut_due = (
        pl.lit(ctx.cuts)
        & (state == CreditState.ARREARS)
        & (pl.col("pay_by") < _date_lit(ctx.today))
        & (balance <= policy.arrears_balance_fen_max - policy.emergency_credit_fen)
    ).fill_null(False)
    # The notice counts once its delivery receipt says it reached the phone, and the notice
    # period runs from then: a notice delivered late moves the earliest cut with it.
    delivered_at = pl.col("notice_delivered_at")
    notice_given = (
        _notice_from() <= _instant_lit(ctx.now - dt.timedelta(days=policy.notice_days))
    ).fill_null(False)
    # A firm notice with no receipt long after it was sent: staff call the household.
    call_household = (
        (state == CreditState.ARREARS)
        & pl.col("pay_by").is_not_null()
        & delivered_at.is_null()
        & (
            pl.col("notice_at")
            <= _instant_lit(ctx.now - dt.timedelta(hours=policy.notice_delivery_task_hours))
        )
    ).fill_null(False)
    # Why a due cut is not made, first reason first. Never cut a protected customer, never on
    # estimated readings, never without a switch, never before the notice was delivered the
    # notice period ago, only inside the allowed windows.
    hold_code = (
        pl.when(pl.col("protected").is_not_null())
        .then(pl.lit("protected"))
        .when(pl.col("estimated_recent"))
        .then(pl.lit("estimated"))
        .when(pl.col("meter_id").is_null() | ~pl.col("has_switch"))
        .then(pl.lit("no_switch"))
        .when(~notice_given)
        .then(pl.lit("undelivered"))
        .when(pl.lit(not ctx.cut_allowed_now))
        .then(pl.lit(ctx.cut_hold_code))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    second_notice = pl.col("second_notice_at")
    wait = dt.timedelta(minutes=policy.second_notice_minutes)
    return [
        restore.alias("restore"),
        recover.alias("recover"),
        notice.alias("notice"),
        (notice & estimated).alias("estimated_notice"),
        firm_notice.alias("firm_notice"),
        # The meter was read: a task to read it has lost its cause.
        ((cut_due & ~estimated) | firm_notice).alias("close_estimated"),
        warn.alias("warn"),
        pl.when(cut_due).then(hold_code).otherwise(None).alias("hold_code"),
        (
            cut_due
            & hold_code.is_null()
            & second_notice.is_null()
            & pl.lit(ctx.cut_allowed_after_notice)
        ).alias("second_notice"),
        (cut_due & hold_code.is_null() & (second_notice <= _instant_lit(ctx.now - wait))).alias(
            "cut"
        ),
        (call_household & ~restore).alias("call_household"),
        ((state == CreditState.ARREARS) & delivered_at.is_not_null() & ~restore).alias(
            "notice_delivered"
        ),
    ]


def _states(f: pl.LazyFrame, policy: CreditPolicy, ctx: Context) -> pl.LazyFrame:
    now = _instant_lit(ctx.now)
    no_time = _instant_lit(None)
    back = pl.col("restore") | pl.col("recover")
    noticed = pl.col("notice") | pl.col("firm_notice")
    changed = f.filter(back | noticed | pl.col("warn") | pl.col("second_notice") | pl.col("cut"))
    new_state = (
        pl.when(_reconnects())
        .then(pl.lit(CreditState.RECONNECTING.value))
        .when(back)
        .then(pl.lit(CreditState.NORMAL.value))
        .when(pl.col("notice"))
        .then(pl.lit(CreditState.ARREARS.value))
        .when(pl.col("warn"))
        .then(pl.lit(CreditState.WARNED.value))
        .when(pl.col("cut"))
        .then(pl.lit(CreditState.DISCONNECTING.value))
        .otherwise(pl.col("state"))
    )

    def stamp(flag: str, column: str) -> pl.Expr:
        return pl.when(back).then(no_time).when(pl.col(flag)).then(now).otherwise(column)

    return changed.select(
        "account_id",
        new_state.alias("state"),
        (pl.col("cycle") + back.cast(pl.Int64)).alias("cycle"),
        stamp("warn", "warned_at").alias("warned_at"),
        pl.when(back)
        .then(no_time)
        .when(noticed)
        .then(now)
        .otherwise("notice_at")
        .alias("notice_at"),
        pl.when(back | pl.col("estimated_notice"))
        .then(_date_lit(None))
        .when(noticed)
        .then(_date_lit(pay_by_date(ctx.today, policy)))
        .otherwise("pay_by")
        .alias("pay_by"),
        stamp("second_notice", "second_notice_at").alias("second_notice_at"),
        "supply",
        now.alias("updated_at"),
    ).cast(STATE_SCHEMA)  # type: ignore[arg-type]


def _reconnects() -> pl.Expr:
    """A restoration needs a reconnect command unless supply was never touched."""
    return pl.col("restore") & (
        (pl.col("supply") == "off") | (pl.col("state") != CreditState.ARREARS)
    )


def _cut_at(policy: CreditPolicy, ctx: Context) -> dt.datetime:
    return ctx.now + dt.timedelta(minutes=policy.second_notice_minutes)


def _messages(
    f: pl.LazyFrame, policy: CreditPolicy, ctx: Context, present: frozenset[str]
) -> pl.LazyFrame | None:
    def rows(flag: pl.Expr, kind: MessageKind, to_trusted: bool = False) -> pl.LazyFrame:
        return f.filter(flag).select(
            "account_id",
            pl.lit(kind.value).alias("kind"),
            "cycle",
            "balance_fen",
            pl.when(pl.lit(kind in (MessageKind.ARREARS, MessageKind.TRUSTED_CONTACT)))
            .then(_date_lit(pay_by_date(ctx.today, policy)))
            .otherwise(None)
            .alias("pay_by"),
            _instant_lit(_cut_at(policy, ctx) if kind == MessageKind.CUT_SOON else None).alias(
                "cut_at"
            ),
            pl.lit(ctx.paid_fen).alias("paid_fen"),
            pl.lit(to_trusted).alias("to_trusted"),
        )

    parts = []
    if "warn" in present:
        parts.append(rows(pl.col("warn"), MessageKind.WARNING))
    if present & {"notice", "firm_notice"}:
        firm = (pl.col("notice") & ~pl.col("estimated_notice")) | pl.col("firm_notice")
        parts.append(rows(firm, MessageKind.ARREARS))
        parts.append(rows(pl.col("estimated_notice"), MessageKind.ARREARS_ESTIMATED))
        trusted = pl.col("notice") & pl.col("protected").is_not_null()
        parts.append(rows(trusted, MessageKind.TRUSTED_CONTACT, True))
    if "second_notice" in present:
        parts.append(rows(pl.col("second_notice"), MessageKind.CUT_SOON))
    if ctx.paid_fen is not None and "restore" in present:  # SMS 4 answers a payment
        parts.append(rows(_reconnects(), MessageKind.RESTORED))
    return _concat(parts, MESSAGE_SCHEMA)


def _commands(f: pl.LazyFrame, ctx: Context, present: frozenset[str]) -> pl.LazyFrame | None:
    def rows(flag: pl.Expr, action: CommandAction) -> pl.LazyFrame:
        return f.filter(flag & pl.col("meter_id").is_not_null()).select(
            pl.format(f"{action.value}/{{}}/{{}}", _account_no(), pl.col("cycle")).alias(
                "correlation_id"
            ),
            "account_id",
            "meter_id",
            pl.lit(action.value).alias("action"),
            pl.lit(PRIORITY[action]).alias("priority"),
            _instant_lit(ctx.now).alias("created_at"),
        )

    parts = []
    if "restore" in present:
        parts.append(rows(_reconnects(), CommandAction.RECONNECT))
    if "cut" in present:
        parts.append(rows(pl.col("cut"), CommandAction.DISCONNECT))
    return _concat(parts, COMMAND_SCHEMA)


def _concat(parts: list[pl.LazyFrame], schema: dict[str, Any]) -> pl.LazyFrame | None:
    """The parts as one frame of ``schema``; None when there are none (nothing to plan)."""
    if not parts:
        return None
    return pl.concat([p.cast(schema) for p in parts])  # type: ignore[arg-type]


def _notice_from() -> pl.Expr:
    """When the notice period starts: the notice's delivery, and never before it was sent.

    The delivery time is the SMS provider's report, stamped by its clock, not ours: a receipt
    dated before the sending must not shorten the household's notice period. Null while no
    receipt has come (no notice period runs).
    """
    delivered_at = pl.col("notice_delivered_at")
    return (
        pl.when(delivered_at.is_not_null())
        .then(pl.max_horizontal(delivered_at, pl.col("notice_at")))
        .otherwise(delivered_at)
    )


def _account_no() -> pl.Expr:
    return pl.col("account_id").cast(pl.String).str.zfill(10)


def _decisions(
    f: pl.LazyFrame, policy: CreditPolicy, ctx: Context, present: frozenset[str]
) -> pl.LazyFrame | None:
    parts = []
    balance = format_fen_expr(pl.col("balance_fen"))
    for action, flag in ACTION_FLAGS.items():
        flags = {flag, "firm_notice"} if action is Action.NOTICE else {flag}
        if not flags & present:
            continue  # its sentences are not even built
        code, reason, suffix = _decision_text(action, balance, policy, ctx)
        condition = pl.any_horizontal(*flags)
        if action is Action.HOLD:
            condition = pl.col("hold_code").is_not_null()
        parts.append(
            f.filter(condition).select(
                pl.format(
                    "{}/{}/{}{}", pl.lit(action.value), _account_no(), pl.col("cycle"), suffix
                ).alias("key"),
                "account_id",
                _instant_lit(ctx.now).alias("at"),
                pl.lit(action.value).alias("action"),
                code.alias("reason_code"),
                reason.alias("reason"),
            )
        )
    return _concat(parts, DECISION_SCHEMA)


def _decision_text(
    action: Action, balance: pl.Expr, policy: CreditPolicy, ctx: Context
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """An action's reason code, its reason for people (``balance``: the balance as yuan text),
    and its key's suffix (after the cycle)."""
    no_suffix = pl.lit("")
    if action is Action.WARN:
        return (
            pl.lit("low_balance"),
            pl.format(
                "balance {} yuan covers fewer than {} days of the average daily charge {} yuan",
                balance,
                pl.lit(policy.warn_days_of_credit),
                format_fen_expr(pl.col("average_fen")),
            ),
            no_suffix,
        )
    if action is Action.NOTICE:
        line = pl.lit(format_fen(policy.arrears_balance_fen_max))
        pay_by = pl.lit(pay_by_date(ctx.today, policy).isoformat())
        return (
            pl.when(pl.col("estimated_notice"))
            .then(pl.lit("arrears_estimated"))
            .otherwise(pl.lit("arrears")),
            pl.when(pl.col("estimated_notice"))
            .then(
                pl.format(
                    "balance {} yuan is at or below {} yuan on estimated readings: arrears "
                    "notice without a cut date; the meter must be read",
                    balance,
                    line,
                )
            )
            .when(pl.col("firm_notice"))
            .then(
                pl.format(
                    "the meter was read and balance {} yuan is still at or below {} yuan: "
                    "arrears notice, pay by {}",
                    balance,
                    line,
                    pay_by,
                )
            )
            .otherwise(
                pl.format(
                    "balance {} yuan is at or below {} yuan: arrears notice, pay by {}",
                    balance,
                    line,
                    pay_by,
                )
            ),
            # The notice after the meter is read is a second one in the same cycle.
            pl.when(pl.col("firm_notice")).then(pl.lit("/firm")).otherwise(no_suffix),
        )
    if action is Action.SECOND_NOTICE:
        return (
            pl.lit("cut_soon"),
            pl.format(
                "pay-by date {} passed and a cut is allowed now: second notice, cut from {}",
                pl.col("pay_by").dt.strftime("%Y-%m-%d"),
                pl.lit(_local_hhmm(_cut_at(policy, ctx), ctx)),
            ),
            no_suffix,
        )
    if action is Action.CUT:
        return (
            pl.lit("cut"),
            pl.format(
                "pay-by date {} passed, balance {} yuan, second notice sent {}: disconnect queued",
                pl.col("pay_by").dt.strftime("%Y-%m-%d"),
                balance,
                pl.col("second_notice_at")
                .dt.convert_time_zone(ctx.zone)
                .dt.strftime("%Y-%m-%d %H:%M"),
            ),
            no_suffix,
        )
    if action is Action.HOLD:
        hold_reason = (
            pl.when(pl.col("hold_code") == "protected")
            .then(
                pl.format(
                    "not cut: protected customer ({}); staff and the trusted contact are told "
                    "instead",
                    pl.col("protected").replace_strict(PROTECTED_TEXT, default=pl.col("protected")),
                )
            )
            .when(pl.col("hold_code") == "estimated")
            .then(pl.lit("not cut: the arrears rest on estimated readings; the meter must be read"))
            .when(pl.col("hold_code") == "no_switch")
            .then(pl.lit("not cut: the meter has no remote switch; staff are told"))
            .when((pl.col("hold_code") == "undelivered") & pl.col("notice_delivered_at").is_null())
            .then(
                pl.lit(
                    "not cut: the arrears notice has no delivery receipt; it must reach "
                    "the household first"
                )
            )
            .when(pl.col("hold_code") == "undelivered")
            .then(
                pl.format(
                    "not cut: the arrears notice was delivered {}, less than {} days ago",
                    _notice_from().dt.convert_time_zone(ctx.zone).dt.strftime("%Y-%m-%d %H:%M"),
                    pl.lit(policy.notice_days),
                )
            )
            .otherwise(pl.lit(ctx.cut_hold_reason))
        )
        suffix = pl.format("/{}/{}", pl.lit(ctx.today.isoformat()), pl.col("hold_code"))
        return pl.col("hold_code"), hold_reason, suffix
    if action is Action.RESTORE:
        paid = f" after a payment of {format_fen(ctx.paid_fen)} yuan" if ctx.paid_fen else ""
        return (
            pl.lit("paid" if ctx.paid_fen is not None else "balance_positive"),
            pl.format(
                "balance {} yuan is above zero again{}: {}",
                balance,
                pl.lit(paid),
                pl.when(_reconnects())
                .then(pl.lit("reconnect queued first in line"))
                .otherwise(pl.lit("supply was never cut")),
            ),
            no_suffix,
        )
    assert action is Action.RECOVER, f"no decision text for {action.value}"
    return (
        pl.lit("balance_recovered"),
        pl.format("balance {} yuan covers the warning line again", balance),
        no_suffix,
    )


def _tasks(f: pl.LazyFrame, policy: CreditPolicy, ctx: Context) -> pl.LazyFrame:
    text = {
        "protected": "protected customer in arrears past the pay-by date: call the customer and "
        "the trusted contact, arrange payment; never cut remotely",
        "estimated": "arrears rest on estimated readings: read the meter before any cut",
        "no_switch": "customer in arrears past the pay-by date on a meter without a remote "
        "switch: visit",
    }
    # An arrears notice on estimates asks staff to read the meter at once, as it promises.
    code = pl.when(pl.col("estimated_notice")).then(pl.lit("estimated")).otherwise("hold_code")
    held = f.filter(code.is_in(list(text)))
    tasks = held.select(
        pl.format("{}/{}/{}", code, _account_no(), pl.col("cycle")).alias("key"),
        "account_id",
        code.alias("kind"),
        code.replace_strict(text).alias("reason"),
        _instant_lit(ctx.now).alias("created_at"),
    )
    calls = f.filter(pl.col("call_household")).select(
        pl.format("undelivered_notice/{}/{}", _account_no(), pl.col("cycle")).alias("key"),
        "account_id",
        pl.lit("undelivered_notice").alias("kind"),
        pl.format(
            "the arrears notice sent {} has no delivery receipt after {} hours: call the "
            "household about the debt and the pay-by date; no cut until a notice is delivered",
            pl.col("notice_at").dt.convert_time_zone(ctx.zone).dt.strftime("%Y-%m-%d %H:%M"),
            pl.lit(policy.notice_delivery_task_hours),
        ).alias("reason"),
        _instant_lit(ctx.now).alias("created_at"),
    )
    return pl.concat([tasks.cast(TASK_SCHEMA), calls.cast(TASK_SCHEMA)])  # type: ignore[arg-type]


def _closings(f: pl.LazyFrame, ctx: Context, present: frozenset[str]) -> pl.LazyFrame | None:
    """The staff tasks whose cause went away: every debt task when the debt ends, the task to
    read the meter when it was read. Rows for accounts without such a task close nothing."""
    balance = format_fen_expr(pl.col("balance_fen"))
    now = _instant_lit(ctx.now)
    parts = []
    if "restore" in present:
        paid = ctx.paid_fen is not None
        after = f" after a payment of {format_fen(ctx.paid_fen)} yuan" if ctx.paid_fen else ""
        above = pl.format("balance {} yuan is above zero again{}", balance, pl.lit(after))
        for kind in DEBT_TASK_KINDS:
            trued_up = pl.lit(kind == "estimated" and not paid) & ~pl.col("estimated_recent")
            parts.append(
                f.filter(pl.col("restore")).select(
                    "account_id",
                    pl.lit(kind).alias("kind"),
                    pl.when(trued_up)
                    .then(pl.lit("trued_up"))
                    .otherwise(pl.lit("paid" if paid else "balance_positive"))
                    .alias("close_code"),
                    pl.when(trued_up)
                    .then(pl.format("the meter was read and the estimates trued up: {}", above))
                    .otherwise(above)
                    .alias("close_reason"),
                    now.alias("closed_at"),
                )
            )
    if "notice_delivered" in present:
        parts.append(
            f.filter(pl.col("notice_delivered")).select(
                "account_id",
                pl.lit("undelivered_notice").alias("kind"),
                pl.lit("delivered").alias("close_code"),
                pl.format(
                    "the arrears notice was delivered {}",
                    pl.col("notice_delivered_at")
                    .dt.convert_time_zone(ctx.zone)
                    .dt.strftime("%Y-%m-%d %H:%M"),
                ).alias("close_reason"),
                now.alias("closed_at"),
            )
        )
    if "close_estimated" in present:
        parts.append(
            f.filter(pl.col("close_estimated") & ~pl.col("restore")).select(
                "account_id",
                pl.lit("estimated").alias("kind"),
                pl.lit("trued_up").alias("close_code"),
                pl.lit(
                    "the meter was read: the arrears no longer rest on estimated readings"
                ).alias("close_reason"),
                now.alias("closed_at"),
            )
        )
    return _concat(parts, CLOSING_SCHEMA)


def _local_hhmm(at: dt.datetime, ctx: Context) -> str:
    return at.astimezone(ZoneInfo(ctx.zone)).strftime("%Y-%m-%d %H:%M")
