"""The night: collect the meters' readings, settle the days that are due, oldest first, and let
the credit policy judge everyone after each (which queues the warnings, notices and cuts).

One use case for every caller: ``gridpay run``'s workers once a day, ``gridpay settle`` for the
days an operator names, and the simulation on its simulated clock (through the same workers).

Days are settled in order. A day's charge is priced from the register of the account's last
settled day, so a day settled past unsettled earlier days would be charged for all of them, and
each of them charged again once settled: a day whose earlier days are unsettled is refused with
the days to settle first (``DaysUnsettled``), never settled past them. The night itself settles
every missed day from the last settled one, oldest first, up to the configured number of days
(``Settings.catch_up_days_max``); a longer outage waits for an operator's ``gridpay settle``.

A catch-up is fair: the customer does not lose by our lateness. The policy judges after each
day settled, oldest first, so the days decide what is said (a warning before the arrears notice
when the days went through the warning line first), while every message is sent now and every
pay-by date counts from today: the full notice period runs from the notice actually sent.
Messages, commands and decisions carry keys, so judging again repeats nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gridpay import limits
from gridpay.errors import DaysUnsettled, InvalidInput, Refused
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.readings import ReadingsCollector
from gridpay.ports.store import Store
from gridpay.services.credit import CreditReport, Policy, judge_all
from gridpay.services.leaving import ClosedOut, close_out_leavings
from gridpay.services.rebase import raise_quarantine_tasks
from gridpay.services.settlement import SettlementReport, settle_range


@dataclass(frozen=True)
class NightReport:
    """What a night did. ``refused`` says why nothing was settled (then nothing was done)."""

    days: tuple[dt.date, ...]  # the days settled (or that would have been), oldest first
    settled: tuple[SettlementReport, ...] = ()
    credit: CreditReport | None = None
    readings_collected: int | None = None  # None: no collection step
    quarantine_tasks: int = 0  # staff tasks raised for meters stuck in the quarantine
    closed_out: int = 0  # agreements closed out (their leaving day settled)
    refused: str | None = None
    seconds_by_step: dict[str, float] = field(default_factory=dict)  # collect, settle, tasks, judge


def days_due(store: Store, today: dt.date) -> tuple[dt.date, ...]:
    """The days a night owes: yesterday, or every day since the last settled one (oldest
    first); none when yesterday is settled."""
    with store.unit_of_work() as uow:
        last = uow.settlement.last_settled()
    yesterday = today - dt.timedelta(days=1)
    if last is None:
        return (yesterday,)
    return _days(last + dt.timedelta(days=1), yesterday)


def check_order(store: Store, first: dt.date) -> None:
    """Refuse to settle from ``first`` when that would not be in order: ``DaysUnsettled`` when
    earlier days after the last settled one are not settled yet; ``Refused`` for a day before
    the first settled day or in a hole between settled days (the days after it were priced
    without it already, so settling it now would charge its energy twice). Re-running a
    settled day is in order."""
    with store.unit_of_work() as uow:
        last = uow.settlement.last_settled()
        if last is None or first == last + dt.timedelta(days=1):
            return
        if first > last:
            gap = _days(last + dt.timedelta(days=1), first - dt.timedelta(days=1))
            raise DaysUnsettled(
                f"cannot settle {first}: {_span(gap)} {'is' if len(gap) == 1 else 'are'} not "
                f"settled yet, and a day is priced from the day before it. Settle in order: "
                f"gridpay settle --from {gap[0]} --to {first}",
                gap,
            )
        # One seek a day, newest first, back to the day before ``first`` if the days are whole.
        settled = set(uow.audit.settled_days((last - first).days + 2))
    if first in settled:
        return
    earliest = min(settled)
    where = (
        f"the books start on {earliest}"
        if first < earliest
        else "days after it are settled already, priced without it"
    )
    raise Refused(
        f"cannot settle {first}: {where}, so its energy would be charged twice. "
        f"Days are settled in order, from the last settled day ({last})."
    )


def run_night(
    store: Store,
    clock: Clock,
    credit: Policy,
    *,
    days: Sequence[dt.date] | None = None,
    catch_up_days_max: int | None = None,
    collector: ReadingsCollector | None = None,
    judge: bool = True,
    progress: Progress | None = None,
    chunk_accounts: int = limits.settle_chunk_accounts_max,
) -> NightReport:
    """Collect, then settle ``days`` in order (default: the days due), judging every account
    after each day settled (``judge``).

    ``catch_up_days_max``: when more days than this were missed before yesterday, settle
    nothing and say so in ``refused`` (an operator confirms them). Raises ``DaysUnsettled``
    when the first day would skip earlier unsettled days (``check_order``).
    """
    todo = days_due(store, clock.today()) if days is None else tuple(sorted(set(days)))
    if not todo:
        return NightReport(days=())
    assert todo == _days(todo[0], todo[-1]), f"days to settle must follow each other: {todo}"
    if catch_up_days_max is not None and len(todo) > catch_up_days_max + 1:
        return NightReport(days=todo, refused=_catch_up_refusal(todo, catch_up_days_max))
    if todo[-1] >= clock.today():
        raise InvalidInput(
            f"cannot settle {todo[-1]}: the day has not ended yet (today is {clock.today()})"
        )
    check_order(store, todo[0])
    # The ledger's room for the coming weeks is made by the night itself, before any posting.
    with store.unit_of_work() as uow:
        uow.ledger.ensure_partitions(
            todo[0], todo[-1] + dt.timedelta(days=limits.ledger_partitions_ahead_days)
        )
        uow.commit()
    seconds = dict.fromkeys(("collect", "settle", "tasks", "judge"), 0.0)
    started = time.perf_counter()
    collected = collector.collect(todo) if collector is not None else None
    seconds["collect"] = time.perf_counter() - started
    settled: list[SettlementReport] = []
    judged: CreditReport | None = None
    quarantine_tasks = 0
    closed: list[ClosedOut] = []
    # A catch-up judges after each day it settles, oldest first, as the nights we missed
    # would have: an account the days take from credit to arrears is warned before it is
    # told of arrears. Every judgement is made now, so its messages are sent now and a
    # pay-by date counts from today, never from the past day that was settled.
    for day in todo:
        started = time.perf_counter()
        settled += settle_range(
            store,
            clock,
            day,
            day,
            nominal_voltage_v=credit.settings.nominal_voltage_v,
            progress=progress,
            chunk_accounts=chunk_accounts,
        )
        # Agreements whose leaving day is now settled are closed out before the policy judges,
        # so nothing is sent to a household after its leaving day.
        closed += close_out_leavings(store, clock)
        seconds["settle"] += time.perf_counter() - started
        started = time.perf_counter()
        # Meters stuck in the quarantine reach staff before the policy judges on their
        # estimates.
        quarantine_tasks += raise_quarantine_tasks(
            store, clock, day, credit.settings.readings_quarantine_task_days
        )
        seconds["tasks"] += time.perf_counter() - started
        started = time.perf_counter()
        if judge:
            judged = _merged(judged, judge_all(store, clock, credit, progress=progress))
        seconds["judge"] += time.perf_counter() - started
    return NightReport(
        days=todo,
        settled=tuple(settled),
        credit=judged,
        readings_collected=collected,
        quarantine_tasks=quarantine_tasks,
        closed_out=len(closed),
        seconds_by_step=seconds,
    )


def _merged(so_far: CreditReport | None, day: CreditReport) -> CreditReport:
    """The judgements of a catch-up's days as one report: what they did, added up; the
    accounts screened and judged, as many as on the day with the most (the same accounts
    come back each day)."""
    if so_far is None:
        return day
    merged = CreditReport(
        screened=max(so_far.screened, day.screened),
        judged=max(so_far.judged, day.judged),
        counts=dict(so_far.counts),
        messages=so_far.messages + day.messages,
        commands=so_far.commands + day.commands,
        seconds=so_far.seconds + day.seconds,
    )
    merged.add(day.counts)
    return merged


def _catch_up_refusal(days: tuple[dt.date, ...], catch_up_days_max: int) -> str:
    return (
        f"{len(days)} days are not settled ({_span(days)}): {len(days) - 1} missed before "
        f"yesterday, more than the {catch_up_days_max} the night catches up on its own "
        f"(catch_up_days_max). Nothing was settled. Check that "
        f"their readings are in, then settle them with "
        f"gridpay settle --from {days[0]} --to {days[-1]}"
    )


def _days(first: dt.date, last: dt.date) -> tuple[dt.date, ...]:
    return tuple(first + dt.timedelta(days=i) for i in range((last - first).days + 1))


def _span(days: tuple[dt.date, ...]) -> str:
    return str(days[0]) if len(days) == 1 else f"{days[0]} to {days[-1]}"
