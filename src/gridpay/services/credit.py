"""Use cases of the credit policy: judge the city after settlement and on a timer, judge one
account after a payment, and explain an account's decisions.

Every judgement writes its whole outcome in one transaction: the new credit states, the
messages (outbox), the meter commands, the decisions with their reasons and the staff tasks.
So a crash loses nothing and repeats nothing (every message, command and decision has a key).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.calendar import cut_explanation, next_cut_window, rule_set
from gridpay.domain.credit_policy import (
    NOTICE_STATES,
    RESTORABLE_STATES,
    AccountCreditState,
    Context,
    CreditPolicy,
    CreditState,
    Evaluation,
    restores,
)
from gridpay.domain.credit_rules import SCREEN_COLUMNS, evaluate, near_threshold, restore_one
from gridpay.domain.enrolment import position_line
from gridpay.domain.messages import (
    OUTBOX_SCHEMA,
    MessageKind,
    dedupe_key,
    render,
    template_params,
)
from gridpay.domain.payments import format_account_no, parse_account_no
from gridpay.errors import NotFound
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.gateways import HolidayCalendar
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.messaging import brand_from_settings
from gridpay.services.progress import NullProgress


@dataclass
class CreditReport:
    """What one judgement of many accounts did."""

    screened: int = 0
    judged: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # decisions by action
    messages: int = 0
    commands: int = 0
    seconds: float = 0.0

    def add(self, other: dict[str, int]) -> None:
        for key, n in other.items():
            self.counts[key] = self.counts.get(key, 0) + n


@dataclass(frozen=True)
class Policy:
    """The policy with what it needs from the world: the holiday calendar and the settings."""

    policy: CreditPolicy
    calendar: HolidayCalendar
    settings: Settings


def context(clock: Clock, p: Policy, *, paid_fen: int | None = None, cuts: bool = True) -> Context:
    """The moment of a judgement: now, today, and whether the calendar allows a cut now."""
    now = clock.now()
    zone = ZoneInfo(p.settings.time_zone)
    local = now.astimezone(zone)
    rules = rule_set(p.policy.cut_rules)
    horizon = limits.cut_window_horizon_days_default
    check, _, line = cut_explanation(local, rules, p.calendar.day_kind, horizon)
    after = local + dt.timedelta(minutes=p.policy.second_notice_minutes)
    check_after, _, _ = cut_explanation(after, rules, p.calendar.day_kind, horizon)
    return Context(
        now=now,
        today=local.date(),
        cut_allowed_now=check.allowed,
        cut_hold_code=check.reason_code,
        cut_hold_reason=line,
        cut_allowed_after_notice=check_after.allowed,
        paid_fen=paid_fen,
        cuts=cuts,
        zone=p.settings.time_zone,
    )


def cut_window(p: Policy) -> Callable[[dt.datetime], dt.datetime | None]:
    """For the dispatcher: the next instant at or after ``at`` when a cut may go out (``at``
    itself inside a window), in UTC; None when the calendar knows no window ahead."""
    zone = ZoneInfo(p.settings.time_zone)
    rules = rule_set(p.policy.cut_rules)

    def next_window(at: dt.datetime) -> dt.datetime | None:
        local = at.astimezone(zone)
        window = next_cut_window(
            local, rules, p.calendar.day_kind, limits.cut_window_horizon_days_default
        )
        return None if window is None else window.astimezone(dt.UTC)

    return next_window


def judge_all(
    store: Store,
    clock: Clock,
    p: Policy,
    *,
    only_in_debt: bool = False,
    progress: Progress | None = None,
) -> CreditReport:
    """Judge every prepaid account: after the night's settlement, and on a timer.

    A set-based screen over all accounts picks those near a threshold; only they are read in
    full and judged, a chunk per transaction. ``only_in_debt`` (the timer between settlements)
    screens the accounts already past the warning line.
    """
    progress = progress or NullProgress()
    started = clock.now()
    report = CreditReport()
    with store.unit_of_work() as uow:
        day = uow.settlement.last_settled()
        screen = uow.credit.screen(day, p.policy, in_debt_only=only_in_debt)
    report.screened = screen.height
    candidates = _candidates(screen, p.policy, only_in_debt)
    ids = candidates["account_id"].to_list()
    stateless = set(candidates.filter(pl.col("stateless"))["account_id"].to_list())
    progress.start("credit policy", len(ids))
    step = limits.credit_chunk_accounts_max
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        with store.unit_of_work() as uow:
            # States are never deleted: only those the screen found without one may need it.
            uow.credit.ensure_states([i for i in chunk if i in stateless], started)
            uow.credit.lock_states(chunk)
            ctx = context(clock, p)
            outcome = _judge(uow, day, chunk, p, ctx)
            if not _is_empty(outcome):
                _apply(uow, outcome, p, ctx)
            uow.commit()
        report.judged += len(chunk)
        report.add(_counts(outcome))
        report.messages += outcome.messages.height
        report.commands += outcome.commands.height
        progress.advance(len(chunk))
        store.let_other_writers_in()
    progress.finish()
    report.seconds = (clock.now() - started).total_seconds()
    return report


def after_payment(
    uow: UnitOfWork,
    clock: Clock,
    p: Policy,
    account_id: int,
    paid_fen: int,
    balance_fen: int | None = None,
) -> dict[str, int]:
    """Inside a payment's own transaction: restore at once if the balance is back above zero.

    The reconnect command and SMS 4 are written with the payment, so they exist the moment
    the payment does. Cuts are never decided here. ``balance_fen``: the balance the payment
    left, when the caller has it (read under the same locks).
    """
    current = uow.credit.state_of(account_id, lock=True)
    if current is None or current.state not in RESTORABLE_STATES:
        return {}  # not in debt: the next judgement sees the new balance
    if balance_fen is None:
        balance_fen = uow.ledger.balance_fen(account_id)
    if not restores(current.state, balance_fen, p.policy):
        return {}  # not in debt, or still in debt: the next judgement sees the new balance
    now = clock.now()
    ctx = Context(
        now=now,
        today=now.astimezone(ZoneInfo(p.settings.time_zone)).date(),
        cut_allowed_now=False,  # cuts are never judged here
        cut_hold_code="payment",
        cut_hold_reason="",
        paid_fen=paid_fen,
        cuts=False,
        zone=p.settings.time_zone,
    )
    in_service = [m for m in uow.registry.meters_of(account_id) if m.in_service]
    meter_id = in_service[-1].id if in_service else None
    outcome = restore_one(current, balance_fen, meter_id, p.policy, ctx)
    _apply(uow, outcome, p, ctx)
    return _counts(outcome)


def after_adjustment(uow: UnitOfWork, clock: Clock, p: Policy, account_id: int) -> dict[str, int]:
    """Inside a correcting transfer's transaction (a refund, a reversal): judge the account
    at once, as the night's run would (warning, arrears notice, restoration; never a cut)."""
    now = clock.now()
    uow.credit.ensure_states([account_id], now)
    uow.credit.lock_states([account_id])
    ctx = context(clock, p, cuts=False)
    outcome = _judge(uow, uow.settlement.last_settled(), [account_id], p, ctx)
    _apply(uow, outcome, p, ctx)
    return _counts(outcome)


@dataclass(frozen=True)
class Explanation:
    account_no: str
    state: AccountCreditState | None
    decisions: pl.DataFrame  # newest first: at, action, reason_code, reason
    now_line: str  # what the calendar says about a cut right now
    position_line: str = ""  # the opening position the agreement's first days were priced from


def explain(store: Store, clock: Clock, p: Policy, account_no: str, limit: int) -> Explanation:
    account_id = parse_account_no(account_no)
    with store.unit_of_work() as uow:
        if uow.registry.account(account_id) is None:
            raise NotFound(f"account {format_account_no(account_id)} does not exist")
        state = uow.credit.state_of(account_id)
        decisions = uow.credit.decisions(account_id, limit)
        agreement = uow.enrolment.latest_enrolment(account_id)
    return Explanation(
        account_no=format_account_no(account_id),
        state=state,
        decisions=decisions,
        now_line=context(clock, p).cut_hold_reason or "a cut would be allowed now",
        position_line=position_line(agreement),
    )


def staff_tasks(store: Store, *, open_only: bool, limit: int) -> pl.DataFrame:
    """The staff queue, oldest first: account_no, kind, reason, created_at, closed_at."""
    with store.unit_of_work() as uow:
        frame = uow.credit.staff_tasks(open_only, limit)
    return frame.select(
        pl.col("account_id").cast(pl.String).str.zfill(10).alias("account_no"),
        pl.exclude("account_id"),
    )


# --- helpers: decisions above, work here -------------------------------------------------


def _candidates(screen: pl.DataFrame, policy: CreditPolicy, only_in_debt: bool) -> pl.DataFrame:
    """account_id, and ``stateless``: the account has no credit state yet."""
    columns = screen.lazy().select(*SCREEN_COLUMNS, pl.col("state").is_null().alias("stateless"))
    near = near_threshold(columns, policy)
    if only_in_debt:
        near = near.filter(pl.col("state") != CreditState.NORMAL)
    return near.select("account_id", "stateless").collect()


def _is_empty(outcome: Evaluation) -> bool:
    """Nothing to write: no state, message, command, cancellation, decision, task or closing."""
    frames = (
        outcome.states,
        outcome.messages,
        outcome.commands,
        outcome.decisions,
        outcome.tasks,
        outcome.closings,
    )
    return outcome.cancel_cuts.len() == 0 and all(f.height == 0 for f in frames)


def _judge(
    uow: UnitOfWork, day: dt.date | None, ids: list[int], p: Policy, ctx: Context
) -> Evaluation:
    inputs = uow.credit.policy_inputs(day, ids)
    notices = inputs.filter(pl.col("notice_at").is_not_null()).select("account_id", "notice_at")
    first_days = _first_days(notices, p.settings.time_zone) | _noticed_now(inputs, day, p.policy)
    if first_days:
        flagged = uow.credit.estimated_since(first_days)
        inputs = inputs.with_columns(
            pl.col("account_id").is_in(sorted(flagged)).alias("estimated_recent")
        )
    return evaluate(inputs, p.policy, ctx)


def _first_days(notices: pl.DataFrame, zone: str) -> dict[int, dt.date]:
    """An account's arrears "come from estimated readings" when a day settled on an estimate
    lies between the day before its notice (whose charge tipped it under) and now: that day,
    per account in arrears."""
    local = ZoneInfo(zone)
    return {
        int(account_id): notice_at.astimezone(local).date() - dt.timedelta(days=1)
        for account_id, notice_at in notices.iter_rows()
    }


def _noticed_now(
    inputs: pl.DataFrame, day: dt.date | None, policy: CreditPolicy
) -> dict[int, dt.date]:
    """The accounts an arrears notice may go to now, with ``day``, the last settled day: the
    notice rests on estimated readings when that day's charge does (see ``_first_days``)."""
    if day is None:
        return {}
    before = inputs.filter(
        pl.col("notice_at").is_null()
        & pl.col("state")
        .fill_null(CreditState.NORMAL.value)
        .is_in([s.value for s in NOTICE_STATES])
        & (pl.col("balance_fen") <= policy.arrears_balance_fen_max)
    )
    return dict.fromkeys(before["account_id"].to_list(), day)


def _apply(uow: UnitOfWork, outcome: Evaluation, p: Policy, ctx: Context) -> None:
    uow.credit.save_states(outcome.states)
    for account_id in outcome.cancel_cuts.to_list():
        uow.commands.cancel_queued(account_id, "disconnect", ctx.now)
    uow.commands.enqueue(outcome.commands)
    if outcome.messages.height:
        uow.outbox.add(_outbox_rows(uow, outcome.messages, p, ctx))
    uow.credit.add_decisions(outcome.decisions)
    uow.credit.add_staff_tasks(outcome.tasks)
    uow.credit.close_staff_tasks(outcome.closings)


def _outbox_rows(uow: UnitOfWork, messages: pl.DataFrame, p: Policy, ctx: Context) -> pl.DataFrame:
    """Each message rendered for each of its recipients, in the recipient's language."""
    schema = OUTBOX_SCHEMA
    if messages.height == 0:
        return pl.DataFrame(schema=schema)
    recipients: dict[int, list[dict[str, Any]]] = {}
    # the accounts, first seen first, without a Polars query (Series.unique is one)
    account_ids = list(dict.fromkeys(messages["account_id"].to_list()))
    listed = uow.credit.recipients(account_ids)
    for person in listed.iter_rows(named=True):
        recipients.setdefault(person["account_id"], []).append(person)
    brand = brand_from_settings(p.settings)
    zone = ZoneInfo(p.settings.time_zone)
    kinds = {k.value: k for k in MessageKind}
    rows = []
    for m in messages.iter_rows(named=True):
        kind = kinds[m["kind"]]
        cut_at = m["cut_at"].astimezone(zone) if m["cut_at"] is not None else None
        for person in recipients.get(m["account_id"], []):
            if (person["role"] == "trusted") != m["to_trusted"]:
                continue  # notices go to the customer; the trusted contact hears its own
            values = {
                "account_no": person["account_no"],
                "customer_name": person["name"],
                "as_of": ctx.today,
                "balance_fen": m["balance_fen"],
                "pay_by": m["pay_by"],
                "cut_at": cut_at,
                "paid_fen": m["paid_fen"],
            }
            body = render(kind, person["language"], brand, **values)
            key = dedupe_key(kind, m["account_id"], m["cycle"], person["phone"])
            rows.append(
                (
                    key,
                    m["account_id"],
                    person["phone"],
                    person["language"],
                    kind.value,
                    body,
                    ctx.now,
                    template_params(kind, **values),
                )
            )
    return pl.DataFrame(rows, schema=schema, orient="row")


def _counts(outcome: Evaluation) -> dict[str, int]:
    """Decisions by action."""
    decisions = outcome.decisions
    if decisions.height <= limits.credit_outcome_python_rows_max:  # a payment's one decision
        return dict(Counter(decisions["action"].to_list()))
    grouped = decisions.group_by("action").len()
    return {str(a): int(n) for a, n in grouped.iter_rows()}
