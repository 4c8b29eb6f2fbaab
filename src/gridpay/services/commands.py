"""Use cases: dispatch remote meter commands, list them.

``dispatch`` is one pass of the dispatcher, in three short transactions:

1. results the head-end has for us: an acknowledgement finishes the command and, in the same
   transaction, tells the credit policy the supply the meter confirmed; a failure is retried
   with back-off, and after the last attempt the command fails and staff get a task;
2. commands sent ``timeout_s`` ago with no answer time out and are retried (or given up) the same
   way;
3. due commands are sent, reconnects first, as fast as the head-end's rate limit allows; a
   head-end that refuses a command (busy) counts as a failed attempt.

Sending is at least once: a command sent but not recorded (a crash between the two) is sent
again after its timeout, and a meter told twice to switch the same way simply stays there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import polars as pl

from gridpay import limits
from gridpay.domain.commands import (
    CommandAction,
    CommandResult,
    CommandState,
    MeterCommand,
    RateLimiter,
    assert_transition,
    escalation_kind,
    gives_up,
    retry_at,
    staff_task_key,
    supply_after,
)
from gridpay.domain.credit_policy import TASK_SCHEMA
from gridpay.domain.registry import account_id_from_no, account_no_from_id
from gridpay.errors import DeliveryFailed, InvalidInput, NotFound
from gridpay.ports.clock import Clock
from gridpay.ports.gateways import HeadEnd
from gridpay.ports.store import Store, UnitOfWork


@dataclass
class DispatchReport:
    """What one pass did. ``latencies_s`` are created -> acknowledged, one per acknowledgement."""

    results: int = 0  # results collected from the head-end
    acknowledged: int = 0
    retried: int = 0  # failed or timed-out attempts queued again after their back-off
    failed: int = 0  # given up after the last attempt failed
    timed_out: int = 0  # attempts not answered within timeout_s (retried or given up)
    given_up_timed_out: int = 0  # of which given up
    escalated: int = 0  # staff tasks raised for commands given up
    ignored: int = 0  # results the command's state no longer takes (late, repeated, unknown)
    late_confirmations: int = 0  # of which the meter's switch was still passed on (see below)
    sent: int = 0
    refused: int = 0  # the head-end would not take the command (counted as a failed attempt)
    rate_limit_wait_s: float = 0.0  # until the head-end may take the next command
    postponed: int = 0  # cuts held back until their next allowed window
    latencies_s: list[float] = field(default_factory=list)


def merged(first: DispatchReport, second: DispatchReport) -> DispatchReport:
    """Two passes' reports as one (the rate limit's wait is the later pass's)."""
    out = DispatchReport()
    for f in fields(DispatchReport):
        a, b = getattr(first, f.name), getattr(second, f.name)
        setattr(out, f.name, a + b if f.name != "rate_limit_wait_s" else b)
    return out


# The next instant at or after the given one when a cut may be sent; None if none is known.
CutWindow = Callable[[dt.datetime], dt.datetime | None]


def default_limiter() -> RateLimiter:
    """The per-head-end rate limit of ``limits``; keep one across passes of a running worker."""
    return RateLimiter(limits.command_rate_per_head_end_per_s, limits.command_burst_per_head_end)


def dispatch(
    store: Store,
    clock: Clock,
    head_end: HeadEnd,
    *,
    limiter: RateLimiter | None = None,
    limit: int = limits.command_dispatch_batch_max,
    timeout_s: float = limits.command_timeout_s,
    cut_window: CutWindow | None = None,
) -> DispatchReport:
    """One pass: take results, time out the silent, send what is due (see the module's doc).

    A worker keeps the same ``limiter`` across passes; without one, this pass may use a full
    burst of the head-end's rate limit. ``cut_window`` (the credit policy's calendar) keeps a
    disconnect from going out outside the allowed windows -- a cut queued at 17:50 whose first
    attempt fails is not retried at night, but in the next window.
    """
    assert limit >= 1
    assert timeout_s > 0
    limiter = limiter or default_limiter()
    now = clock.now()
    report = DispatchReport()
    results = head_end.results(now)
    report.results = len(results)
    for start in range(0, len(results), limit):
        with store.unit_of_work() as uow:
            _take_results(uow, results[start : start + limit], now, report)
            uow.commit()
    deadline = now - dt.timedelta(seconds=timeout_s)
    with store.unit_of_work() as uow:
        # Most passes of a running worker find nothing sent long ago and nothing due: one
        # indexed query says so, and the transaction ends with nothing written.
        if uow.commands.anything_to_do(now, deadline):
            _time_out(uow, deadline, timeout_s, now, limit, report)
            _send_due(uow, head_end, limiter, now, limit, report, cut_window)
            uow.commit()
    report.rate_limit_wait_s = limiter.wait_s(now)
    return report


def list_commands(
    store: Store,
    account_no: str | None = None,
    state: str | None = None,
    limit: int = limits.command_list_rows_default,
) -> pl.DataFrame:
    """Commands, newest first, optionally of one account and in one state."""
    if not 1 <= limit <= limits.page_rows_max:
        raise InvalidInput(f"limit must be from 1 to {limits.page_rows_max}")
    states = [s.value for s in CommandState]
    if state is not None and state not in states:
        raise InvalidInput(f"command state {state!r} is not one of {', '.join(states)}")
    account_id = account_id_from_no(account_no) if account_no is not None else None
    with store.unit_of_work() as uow:
        if account_id is not None and uow.registry.account(account_id) is None:
            raise NotFound(f"account {account_no_from_id(account_id)} does not exist")
        return uow.commands.list(account_id, state, limit)


# --- helpers: decisions above, work here -------------------------------------------------


def _take_results(
    uow: UnitOfWork, results: list[CommandResult], now: dt.datetime, report: DispatchReport
) -> None:
    """Confirmations first, together (a burst of them is a few statements); then failures one
    by one (a command both confirmed and failed in one batch ends confirmed either way)."""
    _acknowledge_all(uow, [r for r in results if r.ok], report)
    for result in results:
        if not result.ok:
            _take_failure(uow, result, now, report)


def _acknowledge_all(uow: UnitOfWork, results: list[CommandResult], report: DispatchReport) -> None:
    if not results:
        return
    finished = uow.commands.acknowledge_many([(r.correlation_id, r.at) for r in results])
    confirmations = []
    for result in results:
        command = finished.pop(result.correlation_id, None)  # a repeat is late
        if command is None:
            late = _late_confirmation(uow, result, report)
            if late is not None:
                confirmations.append(late)
            continue
        confirmations.append((command.account_id, supply_after(command.action), result.at))
        report.acknowledged += 1
        report.latencies_s.append((result.at - command.created_at).total_seconds())
    uow.credit.confirm_supplies(confirmations)


def _take_failure(
    uow: UnitOfWork, result: CommandResult, now: dt.datetime, report: DispatchReport
) -> None:
    command = uow.commands.get(result.correlation_id)
    if command is None or command.state is not CommandState.SENT:
        report.ignored += 1  # already final, or waiting for a retry because it timed out
        return
    error = result.error or "the meter reported a failure"
    _retry_or_give_up(uow, command, CommandState.FAILED, error, now, report)


def _late_confirmation(
    uow: UnitOfWork, result: CommandResult, report: DispatchReport
) -> tuple[int, str, dt.datetime] | None:
    """An acknowledgement the command's state no longer takes: repeated, or after the command
    was cancelled or given up. The command stays as it is; but in the second case the meter did
    switch, and the credit policy follows the meter (the confirmation returned, to be passed on
    in its place among the batch's), unless a later confirmation overtook it."""
    report.ignored += 1
    command = uow.commands.get(result.correlation_id)
    if command is None or command.state is CommandState.ACKNOWLEDGED:
        return None
    if _confirmed_since(uow, command.account_id, result.at):
        return None
    report.late_confirmations += 1
    return command.account_id, supply_after(command.action), result.at


def _confirmed_since(uow: UnitOfWork, account_id: int, at: dt.datetime) -> bool:
    """Has another command of the account been confirmed at or after ``at``?"""
    acknowledged = uow.commands.list(
        account_id, CommandState.ACKNOWLEDGED.value, limits.command_confirmations_checked_max
    )
    latest = acknowledged["finished_at"].max()
    if latest is None:
        return False
    assert isinstance(latest, dt.datetime)
    return latest >= at


def _time_out(
    uow: UnitOfWork,
    deadline: dt.datetime,
    timeout_s: float,
    now: dt.datetime,
    limit: int,
    report: DispatchReport,
) -> None:
    for command in uow.commands.sent_before(deadline, limit):
        report.timed_out += 1
        error = f"no answer from head-end {command.head_end} within {timeout_s:g} s"
        _retry_or_give_up(uow, command, CommandState.TIMED_OUT, error, now, report)


def _send_due(
    uow: UnitOfWork,
    head_end: HeadEnd,
    limiter: RateLimiter,
    now: dt.datetime,
    limit: int,
    report: DispatchReport,
    cut_window: CutWindow | None,
) -> None:
    allowed = min(limit, limiter.available(now))
    if allowed == 0:
        return
    sent: list[int] = []
    refused: list[tuple[MeterCommand, str]] = []
    for command in uow.commands.due(now, allowed):
        if command.action is CommandAction.DISCONNECT and cut_window is not None:
            window = cut_window(now)
            if window is None or window > now:
                # no later than a day on: a window may open once the calendar is known
                uow.commands.postpone(command.id, window or now + dt.timedelta(days=1))
                report.postponed += 1
                continue
        try:
            head_end.submit(command.correlation_id, command.meter_id, command.action.value, now)
        except DeliveryFailed as exc:
            refused.append((command, exc.message))
            continue
        sent.append(command.id)
    # available() said so, and nothing else takes from this limiter meanwhile
    limiter.take_many(now, len(sent) + len(refused))
    # One statement for the pass's sends; a refused command counts as a failed attempt.
    uow.commands.mark_sent_many(sent + [c.id for c, _ in refused], now, head_end.name)
    report.sent += len(sent)
    for command, error in refused:
        report.refused += 1
        attempted = replace(command, attempts=command.attempts + 1)
        _retry_or_give_up(uow, attempted, CommandState.FAILED, error, now, report)


def _retry_or_give_up(
    uow: UnitOfWork,
    command: MeterCommand,
    final: CommandState,
    error: str,
    now: dt.datetime,
    report: DispatchReport,
) -> None:
    """A sent command's attempt failed or timed out: queue it again, or give up after the last."""
    attempts = command.attempts
    if not gives_up(attempts):
        assert_transition(CommandState.SENT, CommandState.QUEUED)
        uow.commands.retry_later(command.id, retry_at(attempts, now), error)
        report.retried += 1
        return
    assert_transition(CommandState.SENT, final)
    finished = uow.commands.finish(command.correlation_id, final.value, now, error)
    assert finished is not None  # it was sent, and this transaction holds it
    if final is CommandState.TIMED_OUT:
        report.given_up_timed_out += 1
    else:
        report.failed += 1
    _escalate(uow, finished, attempts, error, now)
    report.escalated += 1


def _escalate(
    uow: UnitOfWork, command: MeterCommand, attempts: int, error: str, now: dt.datetime
) -> None:
    action = command.action
    if action is CommandAction.DISCONNECT:
        what, next_step = "cut supply to", "supply stays on until it is cut on site"
    else:
        what, next_step = "restore supply to", "restore supply on site"
    reason = (
        f"could not {what} account {account_no_from_id(command.account_id)} "
        f"(meter {command.meter_id}) after {attempts} attempts: {error}; {next_step}"
    )
    key = staff_task_key(action, command.correlation_id)
    _add_staff_task(uow, key, command, escalation_kind(action), reason, now)


def _add_staff_task(
    uow: UnitOfWork,
    key: str,
    command: MeterCommand,
    kind: str,
    reason: str,
    at: dt.datetime,
) -> None:
    task = pl.DataFrame(
        {
            "key": [key],
            "account_id": [command.account_id],
            "kind": [kind],
            "reason": [reason[: limits.staff_task_reason_chars_max]],
            "created_at": [at],
        },
        schema=TASK_SCHEMA,
    )
    uow.credit.add_staff_tasks(task)
