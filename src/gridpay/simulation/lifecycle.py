"""The lifecycle engine: a seeded synthetic city lives simulated days of the whole cycle.

Readings -> settlement -> credit policy -> SMS -> cuts -> payments -> restoration, every step
through the real services, on a simulated clock (nothing sleeps; a day takes well under a
second). Each local (Asia/Shanghai) day ``D``:

- 02:00: the night (``services.night``): the head-end's readings file for ``D - 1`` is collected
  (a share of the readings arrives a day late, a share of the rows is sent twice, one row names a
  meter the company does not know), ``D - 1`` is settled and the credit policy judges every
  account;
- ticks during the day (08:00, 08:30, 09:00 and a few later) judge the accounts past the warning
  line, dispatch meter commands through a simulated head-end (which fails a share of them) and
  send the due SMS;

all of it through ``gridpay run``'s ``Workers``, ticked at these instants with a ``Timing`` that
says which of their jobs are due (so the simulation runs production's path);
- households react to the SMS they get, by their payment habit (``synthetic.payment_habits``),
  and pay at their own instants through ``take_payment(..., credit=policy)`` on all four
  channels (some payments retried by their channel); a payment that restores supply is followed
  by a dispatch at once, and its latency to the meter's acknowledgement is measured.
- with ``LifeOptions.leavings_per_day``: households leave at a counter
  (``services.enrolment.leave``) and sign a new agreement some days later (``enrol``), online
  in the small hours before the night or at their office with or without an opening payment.

After each local day ``on_day_end(store, clock, day, record)`` is called with the clock at
23:59:59 of that day (the whole-system simulation test checks its invariants there); at the end
the books are audited. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.calendar import DayKind
from gridpay.domain.commands import CommandResult
from gridpay.domain.credit_policy import Action, CreditState, pay_by_date
from gridpay.domain.enrolment import Enrol, EnrolChannel, OpeningPayment
from gridpay.domain.messages import MessageKind
from gridpay.domain.money import format_fen
from gridpay.domain.payments import TakePayment
from gridpay.domain.readings import FILE_COLUMNS, RAW_SCHEMA
from gridpay.domain.settlement import charge_transfers
from gridpay.domain.tariff import REGISTERS, Tariff
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.gateways import HeadEnd, SmsGateway
from gridpay.ports.meters import MeterReader
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.audit import AuditReport, audit
from gridpay.services.collection import HeadEndCollector
from gridpay.services.commands import DispatchReport
from gridpay.services.credit import CreditReport, Policy
from gridpay.services.enrolment import enrol, leave
from gridpay.services.payments import take_payment
from gridpay.services.progress import NullProgress
from gridpay.services.readings import import_readings
from gridpay.services.settlement import with_created_at
from gridpay.services.workers import Schedule, TickReport, Workers
from gridpay.simulation import bench, synthetic
from gridpay.simulation.meter_fleet import MeterFleet

NIGHT = dt.time(2, 0)  # the night's import, settlement and judgement
# Timer ticks: the credit policy judges the accounts past the warning line, then the dispatcher
# and the outbox worker run. A tick only judges when someone may be due for a cut (an arrears
# notice unpaid past its pay-by date) and, on a day the calendar allows no cut, only once (to
# record the day's holds): the rest of the policy's work follows the night and the payments.
# Judging costs ~0.1 s at 5,000 accounts whatever the batch: the cuts of a day are decided by
# 08:30 (second notice at 08:00, cut 30 minutes later), so the later judge ticks only sweep up.
JUDGE_TICKS = (dt.time(8, 0), dt.time(8, 30), dt.time(9, 0), dt.time(14, 0))
# Dispatcher and outbox worker only.
WORK_TICKS = (dt.time(11, 0), dt.time(12, 0), dt.time(17, 0), dt.time(20, 0))
SMS_HOURS = (dt.time(8, 0), dt.time(21, 30))  # the outbox worker does not wake people at night
OFFICE_HOURS = (dt.time(9, 0), dt.time(16, 30))  # counter payments
SMALL_HOURS = (dt.time(0, 5), dt.time(1, 55))  # online sign-ups before the night's settlement
EVENING = (dt.time(19, 0), dt.time(22, 30))  # last-minute payments on the pay-by date
PAYMENT_YUAN = (50, 300)  # a household pays 50-300 yuan (in 10-yuan steps), more if it owes more
FORGETFUL_FALLBACK_DAYS = 10  # a forgetful household never cut remembers after this long
DEBT_MARGIN_FEN = 5_000  # a household in debt pays at least its debt and this much more
UNKNOWN_METER_NO = "999999999999"
CUT_DAY_KINDS = (DayKind.WORKDAY, DayKind.MAKEUP_WORKDAY)  # days a cut may be allowed on


class SettableClock(Clock, Protocol):
    def set(self, now: dt.datetime) -> None: ...


class LifeApp(Protocol):
    """What the engine needs from the composition root (``bootstrap.App`` has it)."""

    @property
    def store(self) -> Store: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def credit(self) -> Policy: ...


@dataclass(frozen=True)
class LifeOptions:
    accounts: int = 5_000
    days: int = 60
    seed: int = 7
    # Crosses Mid-Autumn (25-27 Sep 2026), National Day (1-7 Oct) and two make-up working days.
    first_day: dt.date = dt.date(2026, 9, 15)
    missing_share: float = 0.03  # readings that arrive a day late
    duplicate_share: float = 0.02  # rows the head-end sends twice in the same file
    unknown_meter_row: bool = True  # one row per file names a meter the company does not know
    command_failure_rate: float = 0.05  # the relay did not switch (retried with back-off)
    command_latency_s: tuple[float, float] = (2.0, 30.0)  # head-end submit -> result
    payment_retry_share: float = 0.05  # payments the channel sends twice
    habit_shares_permille: tuple[tuple[str, int], ...] = synthetic.HABIT_SHARES_PERMILLE
    # The agreement's edges: households that leave smart payment during the run (``leave`` at
    # a counter) and, some days later, sign a new agreement (``enrol``, half of them with an
    # opening payment), so that days outside an agreement lie inside the run. Off by default:
    # the demo's tables stay those of a city that lives its agreements in the middle.
    leavings_per_day: int = 0
    rejoin_after_days: tuple[int, int] = (2, 6)  # a household signs again this many days later
    judge_ticks: tuple[dt.time, ...] = JUDGE_TICKS
    work_ticks: tuple[dt.time, ...] = WORK_TICKS


@dataclass(frozen=True)
class LifeDay:
    """One simulated local day, 00:00-23:59:59. Its night run at 02:00 settles the day before:
    ``energy_wh`` and ``charged_fen`` are of ``settled_day``."""

    day: dt.date
    day_kind: str  # DayKind of ``day``
    settled_day: dt.date
    readings_stored: int
    readings_duplicates: int
    readings_quarantined: int
    late_readings: int  # rows of the day before yesterday arriving in last night's file
    estimated: int
    energy_wh: int  # of ``settled_day``
    charged_fen: int  # net revenue of ``settled_day`` (charges less credits)
    payments: int
    paid_fen: int
    retries_absorbed: int  # payments a channel sent twice, credited once
    warnings: int
    arrears_notices: int
    second_notices: int
    cuts_queued: int
    holds: int
    holds_by_reason: dict[str, int]  # accounts whose day ended on a held cut, by reason code
    cuts_confirmed: int  # disconnects the meters acknowledged
    restorations_confirmed: int  # reconnects the meters acknowledged
    messages_sent: int
    commands_sent: int
    commands_retried: int
    commands_failed: int  # given up after the last attempt (staff get a task)
    accounts_at_or_below_zero: int  # at the end of the day
    accounts_disconnected: int  # credit state disconnected at the end of the day
    leavings: int = 0  # agreements ended at a counter (``LifeOptions.leavings_per_day``)
    enrolments: int = 0  # new agreements signed by households that left earlier


@dataclass
class LifeSummary:
    options: LifeOptions
    days: list[LifeDay] = field(default_factory=list)
    # Restoring payments: committed -> reconnect queued (0: same transaction) and -> the
    # meter's acknowledgement, simulated seconds.
    queue_latencies_s: list[float] = field(default_factory=list)
    ack_latencies_s: list[float] = field(default_factory=list)
    sample_messages: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> lang -> body
    messages_by_kind: dict[str, int] = field(default_factory=dict)
    end_balances_fen: list[int] = field(default_factory=list)
    payments_by_channel: dict[str, int] = field(default_factory=dict)
    payments_by_habit: dict[str, int] = field(default_factory=dict)
    habits: dict[str, int] = field(default_factory=dict)
    audit: AuditReport | None = None
    # How often each of the workers' jobs ran (``services.workers.JOBS``): the simulation runs
    # production's path, the same ``Workers`` as ``gridpay run``.
    jobs_run: dict[str, int] = field(default_factory=dict)
    # Wall-clock seconds by phase (build, readings, settle, judge, pay, dispatch, sms, record,
    # audit): where a run's time goes. The only numbers that differ between runs of a seed.
    seconds_by_phase: dict[str, float] = field(default_factory=dict)


# The day-end hook: the store, the clock (at the day's end), the day and its record.
DayEndHook = Callable[[Store, SettableClock, dt.date, LifeDay], None]


def local_at(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """A local wall-clock time as the aware UTC instant the clock gives."""
    return dt.datetime.combine(day, time, tzinfo=zone).astimezone(dt.UTC)


def run_life(
    app: LifeApp,
    clock: SettableClock,
    bench_repo_for: bench.BenchRepoFor,
    tariff_files: Sequence[tuple[Tariff, str]],
    options: LifeOptions,
    *,
    head_end: HeadEnd,
    gateway: SmsGateway | None = None,
    progress: Progress | None = None,
    on_day: Callable[[LifeDay], None] | None = None,
    on_day_end: DayEndHook | None = None,
    fleet: MeterFleet | None = None,
    reader: MeterReader | None = None,
) -> LifeSummary:
    """Build the city on an empty store and live ``options.days`` days (see the module doc).

    ``head_end`` is the meters' head-end (``adapters.head_end.SimulatedHeadEnd``, seeded, with
    ``options.command_failure_rate`` and ``options.command_latency_s``); ``gateway`` the SMS
    gateway (default: one that keeps nothing). With a ``fleet`` and a ``reader`` (the DL/T 645
    head-end in front of it), the nights collect the readings through the head-end from the
    fleet, whose meters follow the households' usage, instead of importing a file.
    """
    life = _Life(app, clock, options, head_end, gateway or _NullGateway(), fleet, reader)
    with life._timed("build"):
        life.build(bench_repo_for, tariff_files, progress or NullProgress())
    progress = progress or NullProgress()
    progress.start("living days", options.days)
    for offset in range(options.days):
        day = options.first_day + dt.timedelta(days=offset)
        record = life.live(day)
        life.summary.days.append(record)
        if on_day is not None:
            on_day(record)
        if on_day_end is not None:
            on_day_end(app.store, clock, day, record)
        progress.advance(1)
    progress.finish()
    life.finish()
    return life.summary


# --- the households and the head-end, as the engine sees them ------------------------------


class _SoleWriter:
    """The store, for a simulation that is its only writer: nobody waits between its long
    transactions, so ``let_other_writers_in`` (a pause on SQLite) is skipped."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    @property
    def dialect(self) -> str:
        return self.inner.dialect

    def unit_of_work(self) -> UnitOfWork:
        return self.inner.unit_of_work()

    def reader(self) -> UnitOfWork:
        return self.inner.reader()

    def migrate(self) -> None:
        self.inner.migrate()

    def let_other_writers_in(self) -> None:
        pass

    def checkpoint(self) -> None:
        self.inner.checkpoint()

    def opener(self) -> Callable[[], Store] | None:
        return self.inner.opener()


class _NullGateway:
    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        pass


class _ListeningGateway:
    """Forwards every SMS and remembers its key, so the households can read their SMS."""

    def __init__(self, inner: SmsGateway) -> None:
        self.inner = inner
        self.heard: list[str] = []

    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        self.inner.send(phone, body, dedupe_key)
        self.heard.append(dedupe_key)


class _WatchedHeadEnd:
    """Forwards to the head-end and remembers the results it reports (the meters' switches)."""

    def __init__(self, inner: HeadEnd) -> None:
        self.inner = inner
        self.seen: list[CommandResult] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        self.inner.submit(correlation_id, meter_id, action, at)

    def results(self, now: dt.datetime) -> list[CommandResult]:
        results = self.inner.results(now)
        self.seen.extend(results)
        return results


class _LifeTiming:
    """The workers' timing at the simulation's instants (``services.workers.Timing``): the night
    at 02:00; the credit timer at the judge ticks when the simulation finds a judgement worth
    it; the dispatcher at every instant; the outbox in SMS hours only; housekeeping at night."""

    def __init__(self, zone: ZoneInfo, judging_worth_it: Callable[[], bool]) -> None:
        self.zone = zone
        self.judging_worth_it = judging_worth_it
        self.kind = ""  # night | tick | work | dispatch: the instant being ticked
        self.day = dt.date.min
        self.first = False  # the day's first judge tick

    def due(self, job: str, now: dt.datetime) -> bool:
        if job == "night":
            return self.kind == "night"
        if job == "credit":
            return self.kind == "tick" and self.judging_worth_it()
        if job == "commands":
            return True
        if job == "housekeeping":
            return self.kind == "night"
        assert job == "messages"
        return SMS_HOURS[0] <= now.astimezone(self.zone).time() <= SMS_HOURS[1]


class _HeadEndFiles:
    """The head-end's nightly readings file, as the night's collection step
    (``ports.ReadingsCollector``): the day's readings, less a share arriving a day late, plus
    the last file's late ones, some rows twice and one for an unknown meter."""

    def __init__(self, life: _Life) -> None:
        self.life = life
        self.counts: dict[str, int] = {}

    def collect(self, days: Sequence[dt.date]) -> int:
        life, o = self.life, self.life.options
        (settled_day,) = days
        if settled_day < o.first_day:  # the first night's readings came with the bulk build
            return 0
        seed = o.seed + (settled_day - o.first_day).days + 1
        full, after = synthetic.readings(life.town, settled_day, life.registers, seed=seed)
        late = synthetic.reading_missing(full, settled_day, seed, o.missing_share)
        todays, missing = full.filter(~late), full.filter(late)
        twice = todays.sample(fraction=o.duplicate_share, seed=seed)
        rows = pl.concat([frame for frame in (life.late, todays, twice) if frame.height])
        unknown = settled_day if o.unknown_meter_row else None
        report = import_readings(
            life.store,
            life.clock,
            readings_file_rows(rows, extra_unknown_meter=unknown),
            f"head-end-{settled_day.isoformat()}.csv",
        )
        self.counts = {
            "stored": report.stored,
            "duplicates": report.duplicates,
            "quarantined": report.quarantined,
            "late": life.late.height,
        }
        life.registers, life.late = after, missing
        return report.stored


class _FleetCollection:
    """The night's collection through the head-end from a simulated meter fleet whose meters
    follow the households' synthetic usage: each meter's daily freeze closing the day is the
    day's synthetic registers; the head-end reads every prepaid meter's freeze over DL/T 645 and
    the readings import takes them (``services.collection``), as in production."""

    def __init__(self, life: _Life, fleet: MeterFleet, reader: MeterReader) -> None:
        self.life, self.fleet = life, fleet
        self.collector = HeadEndCollector(life.store, life.clock, reader)
        self.counts: dict[str, int] = {}
        self.collected: dict[int, tuple[int, ...]] = {}  # the last night's, by meter

    def collect(self, days: Sequence[dt.date]) -> int:
        life, o = self.life, self.life.options
        (settled_day,) = days
        if settled_day < o.first_day:  # the first night's readings came with the bulk build
            return 0
        seed = o.seed + (settled_day - o.first_day).days + 1
        _, after = synthetic.readings(life.town, settled_day, life.registers, seed=seed)
        closing = dt.datetime.combine(settled_day + dt.timedelta(days=1), dt.time(), life.zone)
        for row in after.iter_rows():
            self.fleet.load_freeze(row[0], closing, [wh or 0 for wh in row[1:]])
        stored = self.collector.collect(days)
        report = self.collector.reports[-1]
        self.collector.reports.clear()
        imported = report.imported
        self.counts = {
            "stored": stored,
            "duplicates": imported.duplicates if imported is not None else 0,
            "quarantined": imported.quarantined if imported is not None else 0,
            "late": 0,
            "collected": report.collected,
            "failed": report.failed,
        }
        self.collected = {m: tuple(r) for m, *r in after.iter_rows()}
        life.registers = after
        return stored


@dataclass(order=True)
class _Event:
    at: dt.datetime
    seq: int
    kind: str = field(compare=False)  # tick | dispatch | pay | leave | enrol
    account_id: int = field(default=0, compare=False)
    cycle: int = field(default=0, compare=False)
    channel: str = field(default="", compare=False)


@dataclass
class _Tally:
    """What happened during one local day, before it becomes a ``LifeDay``."""

    payments: int = 0
    paid_fen: int = 0
    retries: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    cuts_confirmed: int = 0
    restorations_confirmed: int = 0
    messages_sent: int = 0
    commands_sent: int = 0
    commands_retried: int = 0
    commands_failed: int = 0
    leavings: int = 0
    enrolments: int = 0

    def judged(self, report: CreditReport) -> None:
        for action, n in report.counts.items():
            self.decisions[action] = self.decisions.get(action, 0) + n

    def dispatched(self, report: DispatchReport) -> None:
        self.commands_sent += report.sent
        self.commands_retried += report.retried
        self.commands_failed += report.failed + report.given_up_timed_out


class _Life:
    def __init__(
        self,
        app: LifeApp,
        clock: SettableClock,
        options: LifeOptions,
        head_end: HeadEnd,
        gateway: SmsGateway,
        fleet: MeterFleet | None = None,
        reader: MeterReader | None = None,
    ) -> None:
        self.store: Store = _SoleWriter(app.store)
        self.settings, self.credit = app.settings, app.credit
        self.clock = clock
        self.options = options
        self.zone = ZoneInfo(self.settings.time_zone)
        self.head_end = _WatchedHeadEnd(head_end)
        self.gateway = _ListeningGateway(gateway)
        self.timing = _LifeTiming(self.zone, self._judging_worth_it)
        self.collector: _HeadEndFiles | _FleetCollection = (
            _FleetCollection(self, fleet, reader)
            if fleet is not None and reader is not None
            else _HeadEndFiles(self)
        )
        self.workers = Workers(
            self.store,
            clock,
            app.credit,
            self.head_end,
            self.gateway,
            Schedule(drain_outbox=True),
            timing=self.timing,
            collector=self.collector,
        )
        self.rng = random.Random(options.seed)
        self.summary = LifeSummary(options=options)
        self.events: list[_Event] = []
        self.seq = 0
        self.dispatch_at: set[dt.datetime] = set()
        self.scheduled: dict[tuple[int, int], dt.datetime] = {}  # (account, cycle) -> pay at
        self.paid: set[tuple[int, int]] = set()
        self.awaiting_ack: dict[str, dt.datetime] = {}  # reconnect correlation id -> paid at
        self.cut_off: set[int] = set()  # accounts whose meter confirmed a cut, not paid since
        self.first_tick_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        # account -> (cycle, pay-by date): heard an arrears notice and not paid since
        self.owing: dict[int, tuple[int, dt.date]] = {}
        self.late = pl.DataFrame()
        self.tally = _Tally()
        self.leaving: list[int] = []  # households that will leave, in the order they do
        self.left: set[int] = set()  # out of smart payment now: they pay nothing into it

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            seconds = self.summary.seconds_by_phase
            seconds[phase] = seconds.get(phase, 0.0) + spent

    # --- the opening state ----------------------------------------------------------------

    def build(
        self,
        bench_repo_for: bench.BenchRepoFor,
        tariff_files: Sequence[tuple[Tariff, str]],
        progress: Progress,
    ) -> None:
        """The bulk city (accounts, meters, prior year, the eve's readings, opening payments),
        its protected customers with their trusted contacts, and the prior day's charges."""
        o = self.options
        eve = o.first_day - dt.timedelta(days=1)
        self.clock.set(local_at(eve, NIGHT, self.zone))
        bench.build_city(
            self.store,
            self.clock,
            bench_repo_for,
            bench.BenchOptions(accounts=o.accounts, seed=o.seed, day=eve),
            self.settings.offices,
            tariff_files,
            progress=progress,
        )
        with self.store.unit_of_work() as uow:
            tariffs = uow.registry.tariffs()
        self.town = synthetic.city(o.accounts, o.seed, eve, offices=len(self.settings.offices))
        prior = synthetic.prior_usage(
            self.town, eve - dt.timedelta(days=1), o.seed, tariffs=tariffs
        )
        _, self.registers = synthetic.readings(
            self.town, eve, synthetic.registers_from_usage(prior)
        )
        habits = synthetic.payment_habits(self.town, o.seed, o.habit_shares_permille)
        self.habit = dict(
            zip(habits["account_id"].to_list(), habits["habit"].to_list(), strict=True)
        )
        self.office = dict(
            zip(
                self.town.accounts["id"].to_list(),
                self.town.accounts["office_id"].to_list(),
                strict=True,
            )
        )
        self.summary.habits = {
            str(h): int(n) for h, n in habits.group_by("habit").len().sort("habit").rows()
        }
        now = self.clock.now()
        with self.store.unit_of_work() as uow:
            # The bulk load writes the prior day's usage rows; post their charges too, so the
            # books hold from the start (the audit checks each settled day has its transfer).
            uow.ledger.post_many(with_created_at(charge_transfers(prior), now))
            protected = habits.filter(pl.col("protection_reason").is_not_null()).join(
                self.town.accounts.select(pl.col("id").alias("account_id"), "language"),
                on="account_id",
                how="left",
                validate="1:1",
            )
            for account_id, reason, phone, language in protected.select(
                "account_id", "protection_reason", "trusted_phone", "language"
            ).iter_rows():
                # The family reads the household's language.
                uow.enrolment.set_protection(account_id, reason, "synthetic city", now)
                uow.enrolment.add_contact(account_id, phone, "trusted", language, None, now)
            self._sign_leaving_pool(uow, habits, now)
            uow.commit()

    def _sign_leaving_pool(self, uow: UnitOfWork, habits: pl.DataFrame, now: dt.datetime) -> None:
        """The households that will leave during the run, drawn now (deterministic for the
        seed), with the agreements they signed before it: from the day before the eve, the
        city's first settled day. Protected customers stay (their holds are exercised)."""
        o = self.options
        if o.leavings_per_day == 0:
            return
        free = habits.filter(pl.col("protection_reason").is_null())["account_id"].to_list()
        count = min(len(free), o.leavings_per_day * o.days)
        self.leaving = self.rng.sample(sorted(free), count)
        since = o.first_day - dt.timedelta(days=2)
        for account_id in self.leaving:
            uow.enrolment.add_enrolment(
                account_id, since, now, EnrolChannel.OFFICE.value, self.office[account_id]
            )

    # --- a day ----------------------------------------------------------------------------

    def live(self, day: dt.date) -> LifeDay:
        """Live one local calendar day, 00:00 to 23:59:59: what happens before the night run
        at 02:00, the night run, then the day's events."""
        self.tally = _Tally()
        self._run_until(local_at(day, NIGHT, self.zone), day)
        night = self._night(day)
        cut_day = self.credit.calendar.day_kind(day) in CUT_DAY_KINDS
        judge_ticks = self.options.judge_ticks if cut_day else self.options.judge_ticks[:1]
        self.first_tick_at = local_at(day, judge_ticks[0], self.zone)
        for at in judge_ticks:
            self._push(local_at(day, at, self.zone), "tick")
        for at in self.options.work_ticks:
            self._push(local_at(day, at, self.zone), "work")
        for _ in range(min(self.options.leavings_per_day, len(self.leaving))):
            self._push(self._between(day, OFFICE_HOURS), "leave", self.leaving.pop(0))
        midnight = local_at(day + dt.timedelta(days=1), dt.time(0, 0), self.zone)
        self._run_until(midnight, day)
        self.clock.set(midnight - dt.timedelta(seconds=1))
        with self._timed("record"):
            return self._record(day, night)

    def _run_until(self, end: dt.datetime, day: dt.date) -> None:
        """Handle the queued events before ``end``, in time order."""
        while self.events and self.events[0].at < end:
            event = heapq.heappop(self.events)
            self.clock.set(event.at)
            if event.kind == "pay":
                with self._timed("pay"):
                    self._pay(event)
            elif event.kind == "tick":
                self._tick("tick", day, first=event.at == self.first_tick_at)
            elif event.kind == "work":
                self._tick("work", day)
            elif event.kind == "leave":
                with self._timed("agreements"):
                    self._leave(event)
            elif event.kind == "enrol":
                with self._timed("agreements"):
                    self._enrol(event)
            else:
                self.dispatch_at.discard(event.at)
                self._tick("dispatch", day)

    def _night(self, day: dt.date) -> dict[str, int]:
        """02:00: the workers' night (yesterday's readings file, its settlement, a judgement of
        everyone), then their dispatcher."""
        self.clock.set(local_at(day, NIGHT, self.zone))
        self.collector.counts = {"stored": 0, "duplicates": 0, "quarantined": 0, "late": 0}
        night = self._tick("night", day).night
        assert night is not None, f"the night of {day} settled nothing"
        assert night.days == (day - dt.timedelta(days=1),), f"the night of {day}: {night.days}"
        settled = night.settled[0]
        return self.collector.counts | {
            "estimated": settled.estimated,
            "energy_wh": settled.energy_wh,
            "charged_fen": settled.charged_fen - settled.credited_fen,
        }

    def _judging_worth_it(self) -> bool:
        """The credit timer judges at the day's first tick whenever an unpaid notice is past its
        pay-by date (the day's holds are recorded); at later ones only while someone may still
        be cut today."""
        day, first = self.timing.day, self.timing.first
        due = [a for a, (_, pay_by) in self.owing.items() if pay_by < day]
        if not first:
            due = [a for a in due if a not in self.cut_off and self.habit[a] != "protected"]
        return bool(due)

    def _tick(self, kind: str, day: dt.date, *, first: bool = False) -> TickReport:
        """One tick of the workers at this instant of ``kind`` (``_LifeTiming``); then the
        dispatcher's follow-ups are planned and the households hear what happened."""
        self.timing.kind, self.timing.day, self.timing.first = kind, day, first
        now = self.clock.now()
        report = self.workers.tick()
        for job in report.ran:
            self.summary.jobs_run[job] = self.summary.jobs_run.get(job, 0) + 1
        phases = self.summary.seconds_by_phase
        spent = dict(report.seconds_by_job)
        if report.night is not None:
            self.tally.judged(report.night.credit or CreditReport())
            steps = report.night.seconds_by_step
            spent["readings"], spent["settle"] = steps["collect"], steps["settle"]
            spent["judge"] = steps["judge"]
        if report.credit is not None:
            self.tally.judged(report.credit)
            spent["judge"] = spent.get("judge", 0.0) + spent["credit"]
        for job, phase in (("commands", "dispatch"), ("messages", "sms")):
            if job in spent:
                spent[phase] = spent[job]
        for phase in ("readings", "settle", "judge", "dispatch", "sms"):
            if phase in spent:
                phases[phase] = phases.get(phase, 0.0) + spent[phase]
        assert report.dispatch is not None  # the simulation's timing dispatches at every tick
        self.tally.dispatched(report.dispatch)
        self.tally.messages_sent += report.messages_sent
        if report.dispatch.sent:
            self._push_dispatch(now + dt.timedelta(seconds=self.options.command_latency_s[1] + 1))
        if report.dispatch.retried or report.dispatch.refused:
            self._push_dispatch(now + dt.timedelta(seconds=limits.command_retry_base_s + 1))
            self._push_dispatch(now + dt.timedelta(seconds=3 * limits.command_retry_base_s + 1))
        self._hear_results()
        self._read_sms()
        return report

    def _hear_results(self) -> None:
        for result in self.head_end.seen:
            action, account_no, cycle = result.correlation_id.split("/")
            if not result.ok:
                continue
            if action == "disconnect":
                self.tally.cuts_confirmed += 1
                self.cut_off.add(int(account_no))
                # The lights go out: whoever has not paid yet notices within hours.
                account_id = int(account_no)
                hours = (
                    1 + 23 * self.rng.random()
                    if self.habit[account_id] == "forgetful"
                    else 1 + 5 * self.rng.random()
                )
                self._schedule(account_id, int(cycle), result.at + dt.timedelta(hours=hours), "app")
            else:
                self.tally.restorations_confirmed += 1
                paid_at = self.awaiting_ack.pop(result.correlation_id, None)
                if paid_at is not None:
                    self.summary.ack_latencies_s.append((result.at - paid_at).total_seconds())
        self.head_end.seen.clear()

    def _read_sms(self) -> None:
        """Each household reacts to the SMS it got, by its habit."""
        for key in self.gateway.heard:
            kind, account_no, cycle_text, _ = key.split("/")
            self.summary.messages_by_kind[kind] = self.summary.messages_by_kind.get(kind, 0) + 1
            account_id, cycle = int(account_no), int(cycle_text)
            if kind == MessageKind.ARREARS:
                notice_day = self.clock.now().astimezone(self.zone).date()
                self.owing[account_id] = (cycle, pay_by_date(notice_day, self.credit.policy))
            reaction = _reaction(self.habit[account_id], MessageKind(kind))
            if reaction is not None:
                at, channel = self._when(reaction, self.clock.now())
                self._schedule(account_id, cycle, at, channel)
        self.gateway.heard.clear()

    def _when(self, reaction: str, heard_at: dt.datetime) -> tuple[dt.datetime, str]:
        rng = self.rng
        local = heard_at.astimezone(self.zone)
        if reaction == "now":  # the app, within a few hours
            return heard_at + dt.timedelta(minutes=10 + 170 * rng.random()), "app"
        if reaction == "counter":  # the next working day, in office hours
            day = local.date() + dt.timedelta(days=1)
            while self.credit.calendar.day_kind(day) not in CUT_DAY_KINDS:
                day += dt.timedelta(days=1)
            return self._between(day, OFFICE_HOURS), "counter"
        if reaction == "pay_by":  # the evening of the pay-by date
            pay_by = pay_by_date(local.date(), self.credit.policy)
            return self._between(pay_by, EVENING), rng.choice(("app", "bank", "agent"))
        if reaction == "family":  # the family pays by app one to six days later: now and then
            # after the pay-by date, when the policy holds the cut and calls in staff instead
            return heard_at + dt.timedelta(hours=24 + 120 * rng.random()), "app"
        assert reaction == "fallback"
        day = local.date() + dt.timedelta(days=FORGETFUL_FALLBACK_DAYS)
        return self._between(day, OFFICE_HOURS), rng.choice(("agent", "bank"))

    def _between(self, day: dt.date, hours: tuple[dt.time, dt.time]) -> dt.datetime:
        start, end = (local_at(day, t, self.zone) for t in hours)
        return start + (end - start) * self.rng.random()

    # --- payments -------------------------------------------------------------------------

    def _schedule(self, account_id: int, cycle: int, at: dt.datetime, channel: str) -> None:
        key = (account_id, cycle)
        if key in self.paid or (key in self.scheduled and self.scheduled[key] <= at):
            return
        self.scheduled[key] = at
        self._push(at.replace(microsecond=0), "pay", account_id, cycle, channel)

    def _pay(self, event: _Event) -> None:
        key = (event.account_id, event.cycle)
        if event.account_id in self.left:
            return  # out of smart payment: the bill comes monthly again
        if key in self.paid or self.scheduled.get(key, event.at) < event.at:
            return  # paid already, or an earlier payment of the same need was planned
        self.paid.add(key)
        account_id, at = event.account_id, event.at
        owing = account_id in self.owing and self.owing[account_id][0] == event.cycle
        state, balance_fen = None, 0
        if owing:  # the household looks at what it owes; the rest pay their usual amount
            del self.owing[account_id]  # the payment covers the debt and a margin
            self.cut_off.discard(account_id)
            with self.store.unit_of_work() as uow:
                state = uow.credit.state_of(account_id)
                balance_fen = uow.ledger.balance_fen(account_id)
        amount_fen = 1_000 * self.rng.randint(PAYMENT_YUAN[0] // 10, PAYMENT_YUAN[1] // 10)
        if balance_fen < 0:
            amount_fen = max(amount_fen, -balance_fen // 1_000 * 1_000 + DEBT_MARGIN_FEN)
        cmd = TakePayment(
            account_no=f"{account_id:010d}",
            amount_yuan=format_fen(amount_fen),
            channel=event.channel,
            ref=f"{event.channel}-{account_id}-{event.cycle}",
            office_id=self.office[account_id] if event.channel == "counter" else None,
        )
        take_payment(self.store, self.clock, self.settings, cmd, credit=self.credit)
        self.tally.payments += 1
        self.tally.paid_fen += amount_fen
        counts = self.summary.payments_by_channel
        counts[event.channel] = counts.get(event.channel, 0) + 1
        habit = self.habit[account_id]
        self.summary.payments_by_habit[habit] = self.summary.payments_by_habit.get(habit, 0) + 1
        if self.rng.random() < self.options.payment_retry_share:
            again = take_payment(self.store, self.clock, self.settings, cmd, credit=self.credit)
            assert again.already_recorded
            self.tally.retries += 1
        cut = state is not None and (
            state.state in (CreditState.DISCONNECTING, CreditState.DISCONNECTED)
            or state.supply == "off"
        )
        if cut:
            self._await_reconnect(f"reconnect/{account_id:010d}/{event.cycle}", at)

    # --- the agreement's edges --------------------------------------------------------------

    def _leave(self, event: _Event) -> None:
        """A household ends its agreement at the counter (``services.enrolment.leave``), and
        plans to sign a new one some days later."""
        account_id = event.account_id
        leave(self.store, self.clock, self.settings, f"{account_id:010d}", "simulated leaving")
        self.left.add(account_id)
        self.owing.pop(account_id, None)
        self.cut_off.discard(account_id)
        self.tally.leavings += 1
        low, high = self.options.rejoin_after_days
        day = event.at.astimezone(self.zone).date() + dt.timedelta(self.rng.randint(low, high))
        # Half sign again online in the small hours, before that night's settlement: the day
        # before, settled that night, lies outside the new agreement although the account is
        # prepaid by then.
        if self.rng.random() < 0.5:
            self._push(self._between(day, SMALL_HOURS), "enrol", account_id, channel="online")
        else:
            self._push(self._between(day, OFFICE_HOURS), "enrol", account_id, channel="counter")

    def _enrol(self, event: _Event) -> None:
        """A household that left signs a new agreement, online or at its office; at the
        office every other one brings an opening payment, the rest start from the new
        agreement's grace."""
        account_id = event.account_id
        if event.channel == "online":
            enrol(self.store, self.clock, self.settings, Enrol(f"{account_id:010d}", online=True))
            self.left.discard(account_id)
            self.tally.enrolments += 1
            return
        opening = None
        if self.rng.random() < 0.5:
            amount_fen = 1_000 * self.rng.randint(PAYMENT_YUAN[0] // 10, PAYMENT_YUAN[1] // 10)
            ref = f"opening-{account_id}-{event.at:%Y%m%d}"
            opening = OpeningPayment(format_fen(amount_fen), "counter", ref)
        office_id = self.office[account_id]
        enrol(
            self.store,
            self.clock,
            self.settings,
            Enrol(f"{account_id:010d}", office_id=office_id, opening=opening),
        )
        self.left.discard(account_id)
        self.tally.enrolments += 1

    def _await_reconnect(self, correlation_id: str, paid_at: dt.datetime) -> None:
        with self.store.unit_of_work() as uow:
            command = uow.commands.get(correlation_id)
        assert command is not None, f"a restoring payment queued no {correlation_id}"
        self.summary.queue_latencies_s.append((command.created_at - paid_at).total_seconds())
        self.awaiting_ack[correlation_id] = paid_at
        self._push_dispatch(paid_at + dt.timedelta(seconds=1))

    # --- bookkeeping ----------------------------------------------------------------------

    def _push(
        self, at: dt.datetime, kind: str, account_id: int = 0, cycle: int = 0, channel: str = ""
    ) -> None:
        self.seq += 1
        heapq.heappush(self.events, _Event(at, self.seq, kind, account_id, cycle, channel))

    def _push_dispatch(self, at: dt.datetime) -> None:
        at = at.replace(microsecond=0)
        if at not in self.dispatch_at:
            self.dispatch_at.add(at)
            self._push(at, "dispatch")

    def _record(self, day: dt.date, night: dict[str, int]) -> LifeDay:
        t = self.tally
        with self.store.unit_of_work() as uow:
            balances = uow.ledger.customer_balances()
            states = uow.credit.state_counts()
            # Accounts whose last decision of the day held a due cut, by the hold's reason. Only
            # accounts noticed and not paid since can be held (in arrears, past pay-by).
            holds_by_reason: dict[str, int] = {}
            midnight = local_at(day, dt.time(0, 0), self.zone)
            for last in uow.credit.latest_decisions(sorted(self.owing), midnight):
                if last.action is Action.HOLD and last.at.astimezone(self.zone).date() == day:
                    code = last.reason_code
                    holds_by_reason[code] = holds_by_reason.get(code, 0) + 1
        return LifeDay(
            day=day,
            day_kind=self.credit.calendar.day_kind(day).value,
            settled_day=day - dt.timedelta(days=1),
            readings_stored=night["stored"],
            readings_duplicates=night["duplicates"],
            readings_quarantined=night["quarantined"],
            late_readings=night["late"],
            estimated=night["estimated"],
            energy_wh=night["energy_wh"],
            charged_fen=night["charged_fen"],
            payments=t.payments,
            paid_fen=t.paid_fen,
            retries_absorbed=t.retries,
            warnings=t.decisions.get("warn", 0),
            arrears_notices=t.decisions.get("notice", 0),
            second_notices=t.decisions.get("second_notice", 0),
            cuts_queued=t.decisions.get("cut", 0),
            holds=sum(holds_by_reason.values()),
            holds_by_reason=dict(sorted(holds_by_reason.items())),
            cuts_confirmed=t.cuts_confirmed,
            restorations_confirmed=t.restorations_confirmed,
            messages_sent=t.messages_sent,
            commands_sent=t.commands_sent,
            commands_retried=t.commands_retried,
            commands_failed=t.commands_failed,
            leavings=t.leavings,
            enrolments=t.enrolments,
            accounts_at_or_below_zero=balances.filter(pl.col("balance_fen") <= 0).height,
            accounts_disconnected=states.get(CreditState.DISCONNECTED.value, 0),
        )

    def finish(self) -> None:
        with self.store.unit_of_work() as uow:
            balances = uow.ledger.customer_balances()
            samples: dict[str, dict[str, str]] = {}
            for kind in MessageKind:
                sent = uow.outbox.list(None, "sent", kind.value, limits.page_rows_max)
                for language, body in sent.sort("id").select("language", "body").iter_rows():
                    samples.setdefault(kind.value, {}).setdefault(language, body)
        self.summary.sample_messages = samples
        self.summary.end_balances_fen = sorted(balances["balance_fen"].to_list())
        with self._timed("audit"):
            self.summary.audit = audit(
                self.store, nominal_voltage_v=self.settings.nominal_voltage_v
            )


def _reaction(habit: str, kind: MessageKind) -> str | None:
    """How a household with ``habit`` answers an SMS of ``kind`` (None: it does not)."""
    table: Mapping[str, Mapping[MessageKind, str]] = {
        synthetic.HABIT_REGULAR: {
            MessageKind.WARNING: "now",
            MessageKind.ARREARS: "now",
            MessageKind.ARREARS_ESTIMATED: "now",
            MessageKind.CUT_SOON: "now",
        },
        synthetic.HABIT_ELDERLY: {
            MessageKind.WARNING: "counter",
            MessageKind.ARREARS: "counter",
            MessageKind.ARREARS_ESTIMATED: "counter",
        },
        synthetic.HABIT_LAST_MINUTE: {MessageKind.ARREARS: "pay_by", MessageKind.CUT_SOON: "now"},
        synthetic.HABIT_FORGETFUL: {MessageKind.ARREARS: "fallback"},
        synthetic.HABIT_PROTECTED: {MessageKind.TRUSTED_CONTACT: "family"},
    }
    return table[habit].get(kind)


# --- the head-end's readings file --------------------------------------------------------------


def _kwh_text(wh: pl.Expr) -> pl.Expr:
    return (wh // 1000).cast(pl.String) + "." + (wh % 1000).cast(pl.String).str.zfill(3)


def readings_file_rows(readings: pl.DataFrame, extra_unknown_meter: dt.date | None) -> pl.DataFrame:
    """Readings as the text rows a head-end's CSV file gives the import (``RAW_SCHEMA``), in the
    order given (duplicates stay duplicates), with one row for an unknown meter if asked."""
    text = readings.select(
        pl.col("meter_id").cast(pl.String).str.zfill(12).alias("meter_no"),
        pl.col("day").dt.strftime("%Y-%m-%d").alias("date"),
        _kwh_text(pl.col("total_wh")).alias("total_kwh"),
        *(_kwh_text(pl.col(f"{r}_wh")).alias(f"{r}_kwh") for r in REGISTERS),
    )
    if extra_unknown_meter is not None:
        unknown: dict[str, str | None] = dict.fromkeys(FILE_COLUMNS)
        unknown.update(
            meter_no=UNKNOWN_METER_NO, date=extra_unknown_meter.isoformat(), total_kwh="12.34"
        )
        text = pl.concat(
            [text, pl.DataFrame([unknown], schema=dict.fromkeys(FILE_COLUMNS, pl.String))]
        )
    return (
        text.with_row_index("row_no", offset=1)
        .select(
            pl.col("row_no").cast(pl.Int64),
            pl.concat_str([pl.col(c).fill_null("") for c in FILE_COLUMNS], separator=",").alias(
                "raw"
            ),
            pl.lit(None, dtype=pl.String).alias("row_error"),
            *FILE_COLUMNS,
        )
        .cast(RAW_SCHEMA)  # type: ignore[arg-type]
    )
