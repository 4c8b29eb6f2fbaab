"""The background work of a running system, on whatever clock it is given.

``Workers.tick()`` does what is due at the clock's now: meter commands (every second), the SMS
outbox (every few seconds), the credit policy's timer for cuts waiting for a window (every few
minutes), and the night's settlement of yesterday followed by the policy (once a day, after a
configured local hour, when yesterday is not settled yet). ``gridpay run`` calls it in a loop
against real time; the demo and the simulation test call the same services on a simulated clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from gridpay.domain.commands import RateLimiter
from gridpay.ports import Clock, HeadEnd, SmsGateway, Store
from gridpay.services.commands import default_limiter, dispatch
from gridpay.services.credit import Policy, cut_window, judge_all
from gridpay.services.messaging import send_due
from gridpay.services.rebase import raise_quarantine_tasks
from gridpay.services.settlement import settle_day, settle_range


@dataclass(frozen=True)
class Schedule:
    commands_every_s: float = 1.0
    messages_every_s: float = 5.0
    credit_every_s: float = 900.0  # cuts wait for windows: a quarter of an hour is prompt enough
    settle_after_local: dt.time = dt.time(1, 0)  # yesterday's readings are in by then


@dataclass
class TickReport:
    """What one tick did (zero where a job was not due)."""

    commands_sent: int = 0
    commands_acknowledged: int = 0
    messages_sent: int = 0
    credit_decisions: int = 0
    settled_day: dt.date | None = None
    ran: list[str] = field(default_factory=list)


class Workers:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        credit: Policy,
        head_end: HeadEnd,
        gateway: SmsGateway,
        schedule: Schedule | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store, self.clock, self.credit = store, clock, credit
        self.head_end, self.gateway = head_end, gateway
        self.schedule = schedule or Schedule()
        self.limiter = limiter or default_limiter()  # one across passes: the rate stays true
        self.cut_window = cut_window(credit)
        self._last: dict[str, dt.datetime] = {}

    def tick(self) -> TickReport:
        report = TickReport()
        now = self.clock.now()
        if self._due("settle", now, None):
            report.settled_day = self._settle_yesterday(now)
            if report.settled_day is not None:
                report.ran.append("settle")
        if self._due("credit", now, self.schedule.credit_every_s):
            judged = judge_all(self.store, self.clock, self.credit, only_in_debt=True)
            report.credit_decisions = sum(judged.counts.values())
            report.ran.append("credit")
        if self._due("commands", now, self.schedule.commands_every_s):
            sent = dispatch(
                self.store,
                self.clock,
                self.head_end,
                limiter=self.limiter,
                cut_window=self.cut_window,
            )
            report.commands_sent, report.commands_acknowledged = sent.sent, sent.acknowledged
            report.ran.append("commands")
        if self._due("messages", now, self.schedule.messages_every_s):
            report.messages_sent = send_due(self.store, self.clock, self.gateway).sent
            report.ran.append("messages")
        return report

    def seconds_to_next(self) -> float:
        """How long a loop may sleep before something is due again."""
        return min(self.schedule.commands_every_s, self.schedule.messages_every_s)

    def _due(self, job: str, now: dt.datetime, every_s: float | None) -> bool:
        last = self._last.get(job)
        if every_s is not None and last is not None and (now - last).total_seconds() < every_s:
            return False
        if every_s is not None:
            self._last[job] = now
        return True

    def _settle_yesterday(self, now: dt.datetime) -> dt.date | None:
        """Settle yesterday once its readings are in, then judge everyone; None if not yet."""
        local = now.astimezone(ZoneInfo(self.credit.settings.time_zone))
        yesterday = local.date() - dt.timedelta(days=1)
        if local.time() < self.schedule.settle_after_local:
            return None
        with self.store.unit_of_work() as uow:
            last = uow.settlement.last_settled()
        if last is not None and last >= yesterday:
            return None
        voltage = self.credit.settings.nominal_voltage_v
        if last is None:
            settle_day(self.store, self.clock, yesterday, nominal_voltage_v=voltage)
        else:  # catch up every day missed while the system was down, oldest first
            first = last + dt.timedelta(days=1)
            settle_range(self.store, self.clock, first, yesterday, nominal_voltage_v=voltage)
        task_days = self.credit.settings.readings_quarantine_task_days
        raise_quarantine_tasks(self.store, self.clock, yesterday, task_days)
        judge_all(self.store, self.clock, self.credit)
        return yesterday
