"""The background work of a running system, on whatever clock it is given.

``Workers.tick()`` does the jobs due at the clock's now, in this order: the night (collect,
settle what is due, judge everyone: ``services.night``) once a day after a configured local hour
when yesterday is not settled yet; the credit policy's timer for cuts waiting for a window; the
meter commands; the SMS outbox; the housekeeping of dead sign-in codes, sessions and nonces
(``services.housekeeping``). ``gridpay run`` calls it in a loop against real time with the
``Schedule``'s intervals; the simulation calls it at its simulated instants with a ``Timing`` of
its own, so that it runs production's path. A head-end that sets its meters' clocks is given a
broadcast time sync every ``Schedule.time_sync_every_s`` (outside the jobs a ``Timing`` plans).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from gridpay import limits
from gridpay.domain.commands import RateLimiter
from gridpay.errors import DeliveryFailed
from gridpay.ports.clock import Clock
from gridpay.ports.gateways import AnySmsGateway, HeadEnd
from gridpay.ports.meters import MeterClockSync
from gridpay.ports.payments_online import PaymentProvider
from gridpay.ports.readings import ReadingsCollector
from gridpay.ports.store import Store
from gridpay.services.commands import (
    CutWindow,
    DispatchReport,
    default_limiter,
    dispatch,
    merged,
)
from gridpay.services.credit import CreditReport, Policy, cut_window, judge_all
from gridpay.services.housekeeping import HousekeepingReport, sweep
from gridpay.services.messaging import ReceiptReport, poll_receipts, send_due
from gridpay.services.night import NightReport, run_night
from gridpay.services.restoration import RestorationReport, keep_restoration_promise
from gridpay.services.wallet import QueryReport, query_open_orders

# The jobs of a tick, in the order a tick runs them; then, with a wallet configured, its job.
JOBS = ("night", "credit", "commands", "messages", "housekeeping")
WALLET_JOB = "wallet"


@dataclass(frozen=True)
class Schedule:
    commands_every_s: float = 0.25  # a queued command waits at most this long to go out
    messages_every_s: float = 5.0
    credit_every_s: float = 900.0  # cuts wait for windows: a quarter of an hour is prompt enough
    wallet_every_s: float = 30.0  # orders are asked about minutes after they were made
    # Dead rows cost only space: hourly keeps the tables small without a rush of deletes.
    housekeeping_every_s: float = 3600.0
    settle_after_local: dt.time = dt.time(1, 0)  # yesterday's readings are in by then
    # Send every due message each time the outbox is due, not one batch: for a simulation,
    # whose ticks are hours apart.
    drain_outbox: bool = False
    time_sync_every_s: float = limits.dlt645_time_sync_every_s


class Timing(Protocol):
    """Which jobs are due at an instant (``JOBS``); asked once per job per tick."""

    def due(self, job: str, now: dt.datetime) -> bool: ...


@runtime_checkable
class ResultsWaiter(Protocol):
    """A head-end that answers in real time and can say when results are waiting."""

    def wait_results(self, timeout_s: float) -> bool: ...

    def results_waiting(self) -> bool: ...


class Intervals:
    """Production's timing: each job at most once per its interval; the night at every tick
    (the night itself knows whether a day is due)."""

    def __init__(self, schedule: Schedule) -> None:
        self.every_s: dict[str, float | None] = {
            "night": None,
            "credit": schedule.credit_every_s,
            "wallet": schedule.wallet_every_s,
            "commands": schedule.commands_every_s,
            "messages": schedule.messages_every_s,
            "housekeeping": schedule.housekeeping_every_s,
        }
        self._last: dict[str, dt.datetime] = {}

    def due(self, job: str, now: dt.datetime) -> bool:
        every_s = self.every_s[job]
        if every_s is None:
            return True
        last = self._last.get(job)
        if last is not None and (now - last).total_seconds() < every_s:
            return False
        self._last[job] = now
        return True


@dataclass
class TickReport:
    """What one tick did (zero where a job was not due)."""

    commands_sent: int = 0
    commands_acknowledged: int = 0
    messages_sent: int = 0
    credit_decisions: int = 0
    settled_day: dt.date | None = None  # the last day the night settled
    night: NightReport | None = None
    night_refused: str | None = None  # said once per day it stays refused
    credit: CreditReport | None = None  # the timer's judgement
    wallet: QueryReport | None = None  # orders asked about at the wallet
    dispatch: DispatchReport | None = None
    receipts: ReceiptReport | None = None
    restoration: RestorationReport | None = None
    housekeeping: HousekeepingReport | None = None
    housekeeping_deleted: int = 0  # dead sign-in codes, sessions, failures and nonces
    time_sync_error: str | None = None  # the broadcast could not be sent (tried again later)
    ran: list[str] = field(default_factory=list)
    seconds_by_job: dict[str, float] = field(default_factory=dict)  # wall-clock, jobs run


class Workers:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        credit: Policy,
        head_end: HeadEnd,
        gateway: AnySmsGateway,
        schedule: Schedule | None = None,
        limiter: RateLimiter | None = None,
        *,
        timing: Timing | None = None,
        collector: ReadingsCollector | None = None,
        clock_sync: MeterClockSync | None = None,
        wallet: PaymentProvider | None = None,
    ) -> None:
        self.store, self.clock, self.credit = store, clock, credit
        self.head_end, self.gateway = head_end, gateway
        self.schedule = schedule or Schedule()
        self.timing = timing or Intervals(self.schedule)
        self.collector = collector
        self.clock_sync = clock_sync
        self._synced_at: dt.datetime | None = None
        self.wallet = wallet
        self.limiter = limiter or default_limiter()  # one across passes: the rate stays true
        self.cut_window: CutWindow | None = cut_window(credit)
        self._refused_on: dt.date | None = None

    def tick(self) -> TickReport:
        report = TickReport()
        now = self.clock.now()
        jobs = (*JOBS, WALLET_JOB) if self.wallet is not None else JOBS
        for job in jobs:
            if self.timing.due(job, now) or (job == "commands" and self._results_waiting()):
                started = time.perf_counter()
                getattr(self, f"_{job}")(now, report)
                report.seconds_by_job[job] = time.perf_counter() - started
        if self.clock_sync is not None and self._time_sync_due(now):
            self._time_sync(now, report)
        return report

    def _time_sync_due(self, now: dt.datetime) -> bool:
        last = self._synced_at
        return last is None or (now - last).total_seconds() >= self.schedule.time_sync_every_s

    def _time_sync(self, now: dt.datetime, report: TickReport) -> None:
        assert self.clock_sync is not None
        self._synced_at = now
        try:
            self.clock_sync.sync_time(now)
        except DeliveryFailed as exc:
            report.time_sync_error = exc.message
            return
        report.ran.append("time_sync")

    def seconds_to_next(self) -> float:
        """How long a loop may sleep before something is due again."""
        return min(self.schedule.commands_every_s, self.schedule.messages_every_s)

    def wait(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``; a head-end that answers in real time wakes the loop as
        soon as a meter's confirmation waits to be recorded (the next tick takes it)."""
        if isinstance(self.head_end, ResultsWaiter):
            self.head_end.wait_results(timeout_s)
        else:
            time.sleep(timeout_s)

    def _results_waiting(self) -> bool:
        return isinstance(self.head_end, ResultsWaiter) and self.head_end.results_waiting()

    def _night(self, now: dt.datetime, report: TickReport) -> None:
        """Once yesterday's readings are in: the night, unless more days are due than it may
        catch up on its own (then it says so, once a day, and waits for an operator)."""
        local = now.astimezone(ZoneInfo(self.credit.settings.time_zone))
        if local.time() < self.schedule.settle_after_local or self._refused_on == local.date():
            return
        night = run_night(
            self.store,
            self.clock,
            self.credit,
            catch_up_days_max=self.credit.settings.catch_up_days_max,
            collector=self.collector,
        )
        if not night.days:
            return
        report.ran.append("night")
        if night.refused is not None:
            self._refused_on = local.date()
            report.night_refused = night.refused
            return
        report.night, report.settled_day = night, night.days[-1]

    def _credit(self, now: dt.datetime, report: TickReport) -> None:
        judged = judge_all(self.store, self.clock, self.credit, only_in_debt=True)
        # Reconnects past the restoration promise: a staff task, and compensation if due.
        report.restoration = keep_restoration_promise(self.store, self.clock, self.credit)
        report.credit = judged
        report.credit_decisions = sum(judged.counts.values())
        report.ran.append("credit")

    def _wallet(self, now: dt.datetime, report: TickReport) -> None:
        """Orders whose callback has not come: asked about, credited if paid, else closed."""
        assert self.wallet is not None
        report.wallet = query_open_orders(
            self.store, self.clock, self.credit.settings, self.wallet, self.credit
        )
        report.ran.append("wallet")

    def _commands(self, now: dt.datetime, report: TickReport) -> None:
        """Passes back to back while each sends a full batch: a burst queued at once goes out
        now, not one batch per interval."""
        total = DispatchReport()
        for _ in range(limits.command_dispatch_passes_per_tick_max):
            sent = dispatch(
                self.store,
                self.clock,
                self.head_end,
                limiter=self.limiter,
                cut_window=self.cut_window,
            )
            total = merged(total, sent)
            if sent.sent + sent.refused + sent.postponed < limits.command_dispatch_batch_max:
                break
        report.dispatch = total
        report.commands_sent, report.commands_acknowledged = total.sent, total.acknowledged
        report.ran.append("commands")

    def _messages(self, now: dt.datetime, report: TickReport) -> None:
        while True:
            sent = send_due(self.store, self.clock, self.gateway)
            report.messages_sent += sent.sent
            if not self.schedule.drain_outbox or sent.due < limits.message_send_batch_max:
                break
        # The delivery receipts of what was sent (a provider with receipts only): the credit
        # policy cuts only after a delivered arrears notice.
        report.receipts = poll_receipts(self.store, self.clock, self.gateway)
        report.ran.append("messages")

    def _housekeeping(self, now: dt.datetime, report: TickReport) -> None:
        report.housekeeping = sweep(self.store, self.clock, self.credit.settings)
        report.housekeeping_deleted = report.housekeeping.deleted_total
        report.ran.append("housekeeping")
