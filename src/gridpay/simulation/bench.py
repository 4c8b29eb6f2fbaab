"""The settlement benchmark: build a synthetic city, measure the engine's floor, settle one day.

Orchestration only, through ports: the database work is the store's and a ``BenchRepo``'s, the
settlement itself is run by a callable the entry point supplies (in a child process, so that
its peak memory is its own).

The floor is the time the same database takes, in the same run, for the writes no settlement can
avoid: inserting N ledger rows and updating N balances by its fastest bulk path. The settlement
also reads the state and the readings and writes N usage rows, so a good engine stays within a
small multiple of the floor (the target is 3x).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import polars as pl

from gridpay import limits
from gridpay.domain.settlement import charge_transfers
from gridpay.domain.tariff import Tariff
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.progress import NullProgress
from gridpay.services.setup import initialize
from gridpay.simulation import synthetic

ACCOUNTS_DEFAULT = 550_000  # Luoyang's direct-supply accounts
SEED_DEFAULT = 1
# A fixed day keeps runs comparable: late in the year, so the year-to-date tiers are all in play.
DAY_DEFAULT = dt.date(2026, 11, 26)
READING_SOURCE = "bench"


class BenchRepo(Protocol):
    """What the bench needs from a store beyond the ordinary repositories (one transaction)."""

    def insert_usage(self, usage: pl.DataFrame) -> int: ...

    def insert_readings(self, readings: pl.DataFrame) -> int: ...

    def analyze(self) -> None: ...

    def create_floor_tables(self) -> int: ...

    def floor_insert_transfers(self, transfers: pl.DataFrame) -> int: ...

    def floor_add_debits(self, deltas: pl.DataFrame) -> int: ...

    def drop_floor_tables(self) -> None: ...

    def charges_for_day(self, day: dt.date) -> tuple[int, int]: ...

    def insert_history(
        self, first_day: dt.date, last_day: dt.date, template_day: dt.date, created_at: dt.datetime
    ) -> int: ...

    def mark_history_start(self, day: dt.date) -> None: ...

    def undo_settlement(self, day: dt.date) -> int: ...


# The bench repository working inside a unit of work's transaction.
BenchRepoFor = Callable[[UnitOfWork], BenchRepo]


@dataclass(frozen=True)
class BenchOptions:
    accounts: int = ACCOUNTS_DEFAULT
    seed: int = SEED_DEFAULT
    day: dt.date = DAY_DEFAULT
    missing_share: float = 0.0
    # Days of earlier charges in the ledger before the prior day (a production ledger's
    # history: each day's transfers then go into indexes that already hold every earlier day's).
    history_days: int = 0
    # Several ages in one run (``--ages``): the day is settled at each, oldest history added
    # between them, the settlement taken back out before the next (ascending, first used
    # as the base of the ratios). Empty: settle once at ``history_days``.
    ages: tuple[int, ...] = ()
    # Settlements of the day at each age (``--repeats``), taken back out between: one sample
    # on a shared machine is as much the neighbours' load as the code, the median of a few
    # is steadier.
    repeats: int = 1
    chunk_rows: int = limits.import_batch_rows_max  # rows per bulk call (progress steps)


@dataclass(frozen=True)
class Phase:
    name: str
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Floor:
    rows: int
    insert_seconds: float  # N rows into a table shaped like ``transfers``, committed
    update_seconds: float  # N relative balance updates in a copy of ``ledger_accounts``, committed

    @property
    def seconds(self) -> float:
        return self.insert_seconds + self.update_seconds


@dataclass(frozen=True)
class SettleMeasurement:
    seconds: float  # ``settle_day`` itself, timed inside the child process
    process_seconds: float  # the child process, start-up and imports included
    peak_rss_bytes: int  # the child's peak resident memory
    reader_peak_rss_bytes: int  # its reader process's (0: read on a thread)
    report: Mapping[str, Any]  # the ``SettlementReport`` fields
    # CPU time of the child and the processes it waited for (its reader): on a shared machine
    # the wall time varies with the load, the CPU time much less.
    cpu_seconds: float = 0.0

    @property
    def total_peak_rss_bytes(self) -> int:
        """Both peaks added: an upper bound of what the settlement held at once."""
        return self.peak_rss_bytes + self.reader_peak_rss_bytes


@dataclass(frozen=True)
class AgeMeasurement:
    """The day settled once more with ``age`` days of history before it."""

    age_days: int
    history_seconds: float  # adding the history since the previous age, in the database
    settle: SettleMeasurement  # the sample of median wall time
    samples: tuple[SettleMeasurement, ...] = ()  # every settlement at this age, in order

    @property
    def cpu_seconds_median(self) -> float:
        """The median CPU time of the samples (the settle sample's own if there are none)."""
        cpu = sorted(s.cpu_seconds for s in self.samples) or [self.settle.cpu_seconds]
        return cpu[(len(cpu) - 1) // 2]


@dataclass(frozen=True)
class BenchReport:
    accounts: int
    seed: int
    day: dt.date
    phases: tuple[Phase, ...]
    floor: Floor
    settle: SettleMeasurement | None
    settle_note: str | None  # why there is no settle measurement, if there is none
    settle_failed: bool  # the settlement was run and did not finish
    charges_posted: int | None  # charge transfers found for the day after the settlement
    charged_fen: int | None
    machine: Mapping[str, str] = field(default_factory=dict)
    ages: tuple[AgeMeasurement, ...] = ()

    def age_ratio(self, age: AgeMeasurement) -> float | None:
        """Settle time at ``age`` over settle time at the first age measured."""
        if not self.ages or self.ages[0].settle.seconds <= 0:
            return None
        return age.settle.seconds / self.ages[0].settle.seconds

    @property
    def accounts_per_s(self) -> float | None:
        if self.settle is None or self.settle.seconds <= 0:
            return None
        return self.accounts / self.settle.seconds

    @property
    def settle_floor_ratio(self) -> float | None:
        if self.settle is None or self.floor.seconds <= 0:
            return None
        return self.settle.seconds / self.floor.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "seed": self.seed,
            "day": self.day.isoformat(),
            "phases": [{**asdict(p), "rows_per_s": round(p.rows_per_s)} for p in self.phases],
            "floor": {**asdict(self.floor), "seconds": self.floor.seconds},
            "settle": None
            if self.settle is None
            else {**asdict(self.settle), "total_peak_rss_bytes": self.settle.total_peak_rss_bytes},
            "settle_note": self.settle_note,
            "settle_failed": self.settle_failed,
            "accounts_per_s": self.accounts_per_s,
            "settle_floor_ratio": self.settle_floor_ratio,
            "charges_posted": self.charges_posted,
            "charged_fen": self.charged_fen,
            "machine": dict(self.machine),
            "ages": [
                {
                    "age_days": a.age_days,
                    "history_seconds": a.history_seconds,
                    "settle_seconds": a.settle.seconds,
                    "settle_cpu_seconds": a.settle.cpu_seconds,
                    "settle_cpu_seconds_median": a.cpu_seconds_median,
                    "settle_seconds_samples": [s.seconds for s in a.samples],
                    "settle_cpu_seconds_samples": [s.cpu_seconds for s in a.samples],
                    "ratio_to_first_age": self.age_ratio(a),
                    "settle_floor_ratio": a.settle.seconds / self.floor.seconds
                    if self.floor.seconds > 0
                    else None,
                }
                for a in self.ages
            ],
        }


@dataclass(frozen=True, eq=False)
class BuiltCity:
    phases: tuple[Phase, ...]
    account_ids: pl.Series


class SettleFailed(Exception):
    """The settlement step did not produce a measurement; the message says why."""


class _Phases:
    """Times phases and tells the caller about each one as it ends."""

    def __init__(self, on_phase: Callable[[Phase], None] | None) -> None:
        self.done: list[Phase] = []
        self._on_phase = on_phase

    @contextmanager
    def timed(self, name: str, rows: int) -> Iterator[None]:
        start = time.perf_counter()
        yield
        phase = Phase(name, rows, time.perf_counter() - start)
        self.done.append(phase)
        if self._on_phase is not None:
            self._on_phase(phase)


def _in_chunks(
    frame: pl.DataFrame,
    write: Callable[[pl.DataFrame], int],
    chunk_rows: int,
    progress: Progress,
    description: str,
) -> int:
    progress.start(description, frame.height)
    written = 0
    try:
        for offset in range(0, frame.height, chunk_rows):
            chunk = frame.slice(offset, chunk_rows)
            written += write(chunk)
            progress.advance(chunk.height)
    finally:
        progress.finish()
    return written


def build_city(
    store: Store,
    clock: Clock,
    bench_repo_for: BenchRepoFor,
    options: BenchOptions,
    office_names: Sequence[str],
    tariff_files: Sequence[tuple[Tariff, str]],
    *,
    progress: Progress | None = None,
    on_phase: Callable[[Phase], None] | None = None,
) -> BuiltCity:
    """Create the schema and load a seeded city, its prior day and the day's readings."""
    progress = progress or NullProgress()
    phases = _Phases(on_phase)
    n, seed, day = options.accounts, options.seed, options.day
    day_before = day - dt.timedelta(days=1)
    with phases.timed("create schema, load tariffs", 0):
        initialize(store, clock, office_names, tariff_files)
    oldest = day_before - dt.timedelta(days=max((options.history_days, *options.ages)))
    with store.unit_of_work() as uow:
        # As the night would have made them: the history's months get their partitions.
        uow.ledger.ensure_partitions(
            oldest, day + dt.timedelta(days=limits.ledger_partitions_ahead_days)
        )
        uow.commit()
    with store.unit_of_work() as uow:
        tariffs = uow.registry.tariffs()
    with phases.timed("generate accounts and meters", n):
        town = synthetic.city(n, seed, day, offices=len(office_names))
    with phases.timed("generate a year of prior state", n):
        prior = synthetic.prior_usage(town, day_before, seed, tariffs=tariffs)
    with phases.timed("generate the day's readings", n):
        day_readings, _ = synthetic.readings(
            town, day, synthetic.registers_from_usage(prior), missing_share=options.missing_share
        )
        day_readings = day_readings.with_columns(
            pl.lit(READING_SOURCE).alias("source"),
            pl.lit(clock.now()).dt.convert_time_zone("UTC").alias("received_at"),
        )
    with phases.timed("generate opening payments", n):
        payments = synthetic.payment_transfers(
            town, synthetic.opening_payments(town, seed), day_before, clock.now()
        )
    chunk = options.chunk_rows
    loads: list[tuple[str, pl.DataFrame, Callable[[UnitOfWork], Callable[[Any], int]]]] = [
        ("insert accounts", town.accounts, lambda u: u.registry.insert_accounts),
        ("insert meters", town.meters, lambda u: u.registry.insert_meters),
        ("insert prior state", prior, lambda u: bench_repo_for(u).insert_usage),
        ("insert readings", day_readings, lambda u: bench_repo_for(u).insert_readings),
        ("post opening payments", payments, lambda u: u.ledger.post_many),
    ]
    for name, frame, writer in loads:
        with phases.timed(name, frame.height), store.unit_of_work() as uow:
            _in_chunks(frame, writer(uow), chunk, progress, name)
            uow.commit()
    if options.history_days and not options.ages:
        name = f"post {options.history_days} earlier days of charges"
        with phases.timed(name, n * options.history_days):
            add_history(store, clock, bench_repo_for, day, 0, options.history_days, progress)
    with phases.timed("analyze", 0), store.unit_of_work() as uow:
        bench_repo_for(uow).analyze()
        uow.commit()
    return BuiltCity(tuple(phases.done), town.accounts["id"])


def add_history(
    store: Store,
    clock: Clock,
    bench_repo_for: BenchRepoFor,
    day: dt.date,
    from_age: int,
    to_age: int,
    progress: Progress | None = None,
) -> int:
    """Add the days ``from_age + 1`` to ``to_age`` before the prior day, oldest first, made
    inside the database from the prior day's rows (a usage row and a charge per account), a
    calendar month per statement and transaction: a year of history in minutes, where posting
    it from Python took hours."""
    progress = progress or NullProgress()
    day_before = day - dt.timedelta(days=1)
    written = 0
    progress.start(f"history: days {from_age + 1}-{to_age} before", to_age - from_age)
    try:
        first = day_before - dt.timedelta(days=to_age)
        last = day_before - dt.timedelta(days=from_age + 1)
        for start, end in _month_spans(first, last):
            with store.unit_of_work() as uow:
                repo = bench_repo_for(uow)
                written += repo.insert_history(start, end, day_before, clock.now())
                if start == first:
                    repo.mark_history_start(first)
                uow.commit()
            progress.advance((end - start).days + 1)
    finally:
        progress.finish()
    return written


def _month_spans(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """``first`` to ``last`` cut at month ends: (first day, last day) of each piece."""
    spans = []
    start = first
    while start <= last:
        next_month = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        end = min(last, next_month - dt.timedelta(days=1))
        spans.append((start, end))
        start = end + dt.timedelta(days=1)
    return spans


def floor_frames(accounts: pl.Series, day: dt.date, created_at: dt.datetime) -> pl.DataFrame:
    """N ledger rows shaped like the day's charges (what the settlement writes per account),
    made by the settlement's own ``charge_transfers``."""
    amount = (pl.col("account_id") % 997 + 1) * 10  # any positive amount: the engine's cost
    usage = pl.DataFrame({"account_id": accounts.cast(pl.Int64)}).with_columns(
        amount.alias("charge_fen"), pl.lit(day).alias("day")
    )
    return charge_transfers(usage).with_columns(
        pl.lit(created_at.astimezone(dt.UTC).replace(tzinfo=None))
        .cast(pl.Datetime("us"))
        .alias("created_at")
    )


def measure_floor(
    store: Store,
    clock: Clock,
    bench_repo_for: BenchRepoFor,
    accounts: pl.Series,
    day: dt.date,
) -> Floor:
    """Insert N transfer rows, then update N balances, each committed, in scratch tables."""
    transfers = floor_frames(accounts, day, clock.now())
    deltas = transfers.select(
        pl.col("debit_account_id").alias("id"), pl.col("amount_fen").alias("debits_posted_fen")
    )
    with store.unit_of_work() as uow:
        copied = bench_repo_for(uow).create_floor_tables()
        uow.commit()
    assert copied >= accounts.len()
    try:
        with store.unit_of_work() as uow:
            start = time.perf_counter()
            inserted = bench_repo_for(uow).floor_insert_transfers(transfers)
            uow.commit()
            insert_seconds = time.perf_counter() - start
        with store.unit_of_work() as uow:
            start = time.perf_counter()
            updated = bench_repo_for(uow).floor_add_debits(deltas)
            uow.commit()
            update_seconds = time.perf_counter() - start
    finally:
        with store.unit_of_work() as uow:
            bench_repo_for(uow).drop_floor_tables()
            uow.commit()
    assert inserted == transfers.height
    assert updated == deltas.height
    return Floor(
        rows=transfers.height, insert_seconds=insert_seconds, update_seconds=update_seconds
    )


def run_bench(
    store: Store,
    clock: Clock,
    bench_repo_for: BenchRepoFor,
    options: BenchOptions,
    office_names: Sequence[str],
    tariff_files: Sequence[tuple[Tariff, str]],
    *,
    settle: Callable[[dt.date], SettleMeasurement] | None,
    settle_note: str | None = None,
    machine: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    on_phase: Callable[[Phase], None] | None = None,
) -> BenchReport:
    """Build the city, measure the floor, then settle the day with ``settle`` (if given)."""
    built = build_city(
        store,
        clock,
        bench_repo_for,
        options,
        office_names,
        tariff_files,
        progress=progress,
        on_phase=on_phase,
    )
    phases = list(built.phases)
    floor = measure_floor(store, clock, bench_repo_for, built.account_ids, options.day)
    floor_phase = Phase("floor (insert + update, scratch tables)", floor.rows, floor.seconds)
    phases.append(floor_phase)
    if on_phase is not None:
        on_phase(floor_phase)
    measurement: SettleMeasurement | None = None
    charges: tuple[int, int] | None = None
    settle_failed = False
    ages: list[AgeMeasurement] = []
    if settle is not None and options.ages:
        try:
            ages = _settle_at_ages(store, clock, bench_repo_for, options, settle, progress)
        except SettleFailed as exc:
            settle_note = str(exc)
            settle_failed = True
        else:
            measurement = ages[-1].settle
            with store.unit_of_work() as uow:
                charges = bench_repo_for(uow).charges_for_day(options.day)
    elif settle is not None:
        try:
            measurement = settle(options.day)
        except SettleFailed as exc:
            settle_note = str(exc)
            settle_failed = True
        else:
            with store.unit_of_work() as uow:
                charges = bench_repo_for(uow).charges_for_day(options.day)
    return BenchReport(
        accounts=options.accounts,
        seed=options.seed,
        day=options.day,
        phases=tuple(phases),
        floor=floor,
        settle=measurement,
        settle_note=settle_note,
        settle_failed=settle_failed,
        charges_posted=None if charges is None else charges[0],
        charged_fen=None if charges is None else charges[1],
        machine=dict(machine or {}),
        ages=tuple(ages),
    )


def _settle_at_ages(
    store: Store,
    clock: Clock,
    bench_repo_for: BenchRepoFor,
    options: BenchOptions,
    settle: Callable[[dt.date], SettleMeasurement],
    progress: Progress | None,
) -> list[AgeMeasurement]:
    """Settle the day at each age, youngest first; the settlement is taken back out between."""
    measured: list[AgeMeasurement] = []
    previous = 0
    for age in sorted(set(options.ages)):
        if measured:
            with store.unit_of_work() as uow:
                bench_repo_for(uow).undo_settlement(options.day)
                uow.commit()
        start = time.perf_counter()
        add_history(store, clock, bench_repo_for, options.day, previous, age, progress)
        with store.unit_of_work() as uow:
            bench_repo_for(uow).analyze()
            uow.commit()
        history_seconds = time.perf_counter() - start
        samples = []
        for repeat in range(options.repeats):
            if repeat:
                with store.unit_of_work() as uow:
                    bench_repo_for(uow).undo_settlement(options.day)
                    uow.commit()
            samples.append(settle(options.day))
        measured.append(
            AgeMeasurement(age, history_seconds, median_sample(samples), tuple(samples))
        )
        previous = age
    return measured


def median_sample(samples: Sequence[SettleMeasurement]) -> SettleMeasurement:
    """The sample of median wall time (the lower middle one of an even count)."""
    assert samples
    ordered = sorted(samples, key=lambda s: s.seconds)
    return ordered[(len(ordered) - 1) // 2]
