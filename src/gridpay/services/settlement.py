"""Daily settlement (日结): settle a day for every prepaid account, in chunks, crash-safe.

Each chunk of accounts is one transaction: its usage rows, its charge transfers, the relative
balance updates and the run's counters commit together or not at all. Re-running a day settles
only the accounts without a usage row for it, so a second run, or a run after a crash half way,
ends with exactly the ledger of one clean run. Payments keep landing between chunks; balances are
only ever moved by relative updates, so none is lost.

Inside a chunk the accounts go in batches through a two-stage pipeline: a reader thread, on a
connection of its own, reads a batch's state and readings and prices it with the kernel, while
this thread writes the batch before it. The reader starts only once the chunk holds the
settlement lock (SQLite: the chunk's transaction holds the database's one write lock;
PostgreSQL: the advisory lock that readings imports share), so nothing it reads can change
before the chunk commits: no other settlement, true-up or readings import can commit meanwhile,
and payments, which can, touch only balances and transfers, never the state the kernel reads.
The chunk's own writes cannot change what the reader reads either: batches are disjoint account
ranges, and a reader never sees uncommitted rows anyway.

For a big day the reader is a process of its own rather than a thread. SQLite's driver lets go
of the GIL for every row it steps through, so a writer beside a busy reader thread waits for the
GIL once a row: on 550,000 accounts that cost the writes about 2 s (``docs/benchmarks.md``).
"""

from __future__ import annotations

import atexit
import datetime as dt
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace

import polars as pl

from gridpay import limits
from gridpay.domain.settlement import (
    RunTotals,
    attach_readings,
    charge_transfers,
    settle_batch,
    trueup_transfers,
)
from gridpay.domain.tariff import prices_in_force
from gridpay.errors import Conflict, InvalidInput
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.prepared import PreparedWrite
from gridpay.ports.store import Store, UnitOfWork

CHUNK_RETRIES_MAX = 3


@dataclass
class SettlementReport:
    run_id: int
    day: dt.date
    accounts: int = 0
    energy_wh: int = 0
    charged_fen: int = 0
    credited_fen: int = 0
    estimated: int = 0
    quarantined: int = 0
    waiting_first_reading: int = 0
    trued_up_accounts: int = 0
    seconds: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)
    reader: str = ""  # where the batches were read and priced: how many on a thread, a process


_TOTALS = ("accounts", "energy_wh", "charged_fen", "credited_fen", "estimated", "quarantined")


def _chunk_totals(usage: pl.DataFrame, quarantined: pl.DataFrame) -> dict[str, int]:
    charge = usage["charge_fen"]
    return {
        "accounts": usage.height,
        "energy_wh": int(usage["energy_wh"].sum()),
        "charged_fen": int(charge.filter(charge > 0).sum()),
        "credited_fen": int(-charge.filter(charge < 0).sum()),
        "estimated": int(usage["estimated"].sum()),
        "quarantined": quarantined.height,
    }


def with_created_at(transfers: pl.DataFrame, at: dt.datetime) -> pl.DataFrame:
    naive_utc = at.astimezone(dt.UTC).replace(tzinfo=None)
    return transfers.with_columns(pl.lit(naive_utc, dtype=pl.Datetime("us")).alias("created_at"))


def settle_day(
    store: Store,
    clock: Clock,
    day: dt.date,
    *,
    nominal_voltage_v: int = 220,
    progress: Progress | None = None,
    chunk_accounts: int = limits.settle_chunk_accounts_max,
    batch_accounts: int = limits.settle_batch_accounts_max,
    reader_process: bool | None = None,
) -> SettlementReport:
    """Settle ``day`` for every prepaid account not yet settled for it.

    ``reader_process``: read and price the batches in a process of their own (True), on a
    thread (False), or decide by the day's size (None, see ``limits``).
    """
    if day >= clock.today():
        raise InvalidInput(
            f"cannot settle {day}: the day has not ended yet (today is {clock.today()})"
        )
    started = time.perf_counter()
    with store.unit_of_work() as uow:
        prepaid = uow.settlement.prepaid_account_count()
    if reader_process is None:
        reader_process = prepaid >= limits.settle_reader_process_accounts_min
    # A reader process starts now, so that it is ready by the chunks' second batch.
    with _Reader.start(store, reader_process) as reader:
        trued_up = process_trueups(store, clock, nominal_voltage_v=nominal_voltage_v)
        with store.unit_of_work() as uow:
            run_id = uow.settlement.start_run(day, clock.now())
            tariffs = uow.registry.tariffs()
            account_ids = uow.settlement.prepaid_account_ids()
            uow.commit()
        report = SettlementReport(run_id=run_id, day=day, trued_up_accounts=trued_up)
        report.phases_s["load_day"] = time.perf_counter() - started
        prices = prices_in_force(tariffs, day)
        if progress:
            progress.start(f"settling {day}", account_ids.len())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle-checkpoint") as folder:
            for offset in range(0, account_ids.len(), chunk_accounts):
                chunk = account_ids.slice(offset, chunk_accounts)
                bounds = _batch_bounds(chunk, batch_accounts)
                job = _Job(day, run_id, prices, nominal_voltage_v, bounds)
                totals = _settle_chunk(store, clock, job, reader)
                for key, value in totals.items():
                    setattr(report, key, getattr(report, key) + value)
                if progress:
                    progress.advance(chunk.len())
                if offset + chunk_accounts < account_ids.len():
                    # The chunk's log is folded into the database while the next chunk is
                    # written (the last chunk's is left to the database's own checkpoints).
                    folder.submit(store.checkpoint)
                    store.let_other_writers_in()
        report.reader = reader.describe()
    if progress:
        progress.finish()
    report.seconds = time.perf_counter() - started
    with store.unit_of_work() as uow:
        uow.settlement.finish_run(run_id, "done", clock.now(), report.seconds)
        uow.commit()
    return report


def _batch_bounds(chunk: pl.Series, batch_accounts: int) -> list[tuple[int, int]]:
    """(first, last) account id of each batch of a chunk of sorted account ids.

    The first batch is read while nothing is written, so it is small, and the batches grow to
    ``batch_accounts``: each is read while the one before, half its size, is written.
    """
    bounds = []
    offset, size = 0, max(1, batch_accounts // 4)
    while offset < chunk.len():
        last = min(offset + size, chunk.len()) - 1
        bounds.append((int(chunk[offset]), int(chunk[last])))
        offset, size = last + 1, min(size * 2, batch_accounts)
    return bounds


@dataclass(frozen=True)
class _Job:
    """A chunk's pricing, as handed to the reader (a process's too: it pickles)."""

    day: dt.date
    run_id: int
    prices: pl.DataFrame
    nominal_voltage_v: int
    batches: Sequence[tuple[int, int]]  # (first, last) account id of each batch
    at: dt.datetime | None = None  # the chunk's transfers' time, set once it holds the lock


@dataclass(frozen=True)
class _PricedBatch:
    """A batch ready to write: its usage rows and transfers as prepared writes (the reader
    does all the work a write can do outside the chunk's transaction), and its counts."""

    usage: PreparedWrite
    postings: PreparedWrite
    quarantined: pl.DataFrame
    totals: dict[str, int]
    waiting_first_reading: int


def _read_and_price(store: Store, job: _Job, bounds: tuple[int, int]) -> _PricedBatch:
    """The reader's stage: a batch's state and readings, read beside the writer, and priced."""
    assert job.at is not None
    lo, hi = bounds
    with store.reader() as reading:
        kernel_input = reading.settlement.load_input(job.day, lo, hi)
        usage, quarantined = settle_batch(kernel_input, job.prices, job.day, job.nominal_voltage_v)
        transfers = with_created_at(charge_transfers(usage), job.at)
        return _PricedBatch(
            reading.settlement.prepare_usage(usage, job.run_id),
            reading.ledger.prepare_postings(transfers),
            quarantined,
            _chunk_totals(usage, quarantined),
            kernel_input.height - usage.height,
        )


# --- the reader: a thread, or for a big day a process of its own -----------------------------

_READER_STORE: list[Store] = []  # in a reader process: its own connection to the database


def _start_reader_process(opener: Callable[[], Store]) -> None:
    """A reader process's start: open the database; leave Ctrl-C to the settlement, which
    stops its reader itself; end with the settlement if that is killed.

    At its end the process leaves at once (``os._exit``, the last thing at exit): it holds
    nothing to flush, only a read-only connection, and tearing down Python's modules would keep
    the settlement waiting for it 0.2-0.3 s.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit.register(os._exit, 0)
    parent = multiprocessing.parent_process()
    if parent is not None:
        # Killed outright, the settlement never tells the pool to stop, and the pool's queue
        # stays open in this process: without this the reader would wait on it for ever.
        threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    _READER_STORE.append(opener())


def _end_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(0)


def _read_and_price_in_reader(job: _Job, bounds: tuple[int, int]) -> _PricedBatch:
    """``_read_and_price`` in a reader process, on the database it opened at its start."""
    return _read_and_price(_READER_STORE[0], job, bounds)


def _started() -> None:
    """Nothing: submitted first, so that the reader process starts at once."""


class _Reader:
    """Where a chunk's batches after its first are read and priced while the one before is
    written: a thread, or for a big day a process of its own.

    The process is started with ``spawn`` (a fork would copy the writer's threads and open
    connections) and takes about a second of the other core to import; until it is up, the
    thread reads. It reads on a connection of its own, as the thread does, so what it may read
    is the same (module doc). If it cannot start, the thread reads the whole day.
    """

    def __init__(self, thread: ThreadPoolExecutor, process: ProcessPoolExecutor | None) -> None:
        self._thread = thread
        self._process = process
        self._started = process.submit(_started) if process is not None else None
        self._batches = {"thread": 0, "process": 0}

    @classmethod
    @contextmanager
    def start(cls, store: Store, process: bool) -> Iterator[_Reader]:
        opener = store.opener() if process else None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle-reader") as thread:
            if opener is None:
                yield cls(thread, None)
                return
            with ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_reader_process,
                initargs=(opener,),
            ) as pool:
                yield cls(thread, pool)

    def _process_up(self) -> bool:
        if self._started is None or not self._started.done():
            return False
        if self._started.exception() is not None:
            self._started = None  # broken: the thread from now on
            return False
        return True

    def submit(self, store: Store, job: _Job, bounds: tuple[int, int]) -> Future[_PricedBatch]:
        if self._process is not None and self._process_up():
            self._batches["process"] += 1
            return self._process.submit(_read_and_price_in_reader, job, bounds)
        self._batches["thread"] += 1
        return self._thread.submit(_read_and_price, store, job, bounds)

    def describe(self) -> str:
        """Which reader read how many batches, for the run's report."""
        parts = [f"{n} on the {where}" for where, n in self._batches.items() if n]
        if self._process is not None and self._started is None:
            parts.append("the process did not start")
        return ", ".join(parts) or "none (each chunk was one batch, read by the writer)"


def _prefetched(store: Store, reader: _Reader, job: _Job) -> Generator[_PricedBatch, None, None]:
    """The job's batches, each prepared on the reader while the caller works on those before.

    The reader runs up to ``limits.settle_batches_ahead`` batches ahead, so that a batch that
    takes it longer than usual does not keep the writer waiting. It starts on the second batch
    at once, while the first, smaller, is read here.
    """
    bounds = job.batches
    pending: deque[Future[_PricedBatch]] = deque()
    ahead = 1  # the next batch to hand to the reader
    try:
        for i in range(len(bounds)):
            while ahead < len(bounds) and ahead <= i + limits.settle_batches_ahead:
                pending.append(reader.submit(store, job, bounds[ahead]))
                ahead += 1
            yield _read_and_price(store, job, bounds[0]) if i == 0 else pending.popleft().result()
    finally:
        # The caller stopped early (an error): let the reader finish before the chunk's
        # transaction ends, so that it never reads once the settlement lock is released.
        for future in pending:
            if not future.cancel():
                future.exception()


def _settle_chunk(store: Store, clock: Clock, job: _Job, reader: _Reader) -> dict[str, int]:
    for attempt in range(CHUNK_RETRIES_MAX):
        try:
            with store.unit_of_work() as uow:
                uow.lock_settlement(shared=False)
                uow.defer_checkpoint()  # done beside the next chunk (settle_day)
                # From here until commit nothing the batches read can change (module doc).
                now = clock.now()
                totals = dict.fromkeys(_TOTALS, 0)
                waiting = 0
                with closing(_prefetched(store, reader, replace(job, at=now))) as batches:
                    for batch in batches:
                        uow.settlement.save_prepared_usage(batch.usage)
                        uow.ledger.post_prepared(batch.postings)
                        uow.settlement.quarantine_readings(
                            batch.quarantined, f"settlement of {job.day}", now
                        )
                        for key, value in batch.totals.items():
                            totals[key] += value
                        waiting += batch.waiting_first_reading
                uow.settlement.add_to_run(job.run_id, RunTotals(**totals))
                uow.commit()
            return {**totals, "waiting_first_reading": waiting}
        except Conflict:
            # Another run settled part of this chunk meanwhile: reload and settle what is left.
            if attempt == CHUNK_RETRIES_MAX - 1:
                raise
    raise AssertionError("unreachable")


def settle_range(
    store: Store,
    clock: Clock,
    first: dt.date,
    last: dt.date,
    *,
    nominal_voltage_v: int = 220,
    progress: Progress | None = None,
    chunk_accounts: int = limits.settle_chunk_accounts_max,
) -> list[SettlementReport]:
    """Catch up: settle each day from ``first`` to ``last`` in order."""
    if last < first:
        raise InvalidInput(f"--to {last} is before --from {first}")
    reports = []
    day = first
    while day <= last:
        reports.append(
            settle_day(
                store,
                clock,
                day,
                nominal_voltage_v=nominal_voltage_v,
                progress=progress,
                chunk_accounts=chunk_accounts,
            )
        )
        day += dt.timedelta(days=1)
    return reports


def process_trueups(store: Store, clock: Clock, *, nominal_voltage_v: int = 220) -> int:
    """Re-settle accounts whose real reading arrived for a day already settled on an estimate.

    For each such account the days from the late reading's day to its last settled day are
    recomputed by the same kernel, with the readings now known. The derived usage rows are
    replaced; the ledger is not rewritten: each day's difference is posted as a correcting
    transfer (``trueup/<account>/<day>/<late day>``), so every (account, day) nets to what the
    real readings alone would have given. One transaction per group of accounts.
    """
    with store.unit_of_work() as uow:
        pending = uow.settlement.pending_trueups()
    done = 0
    for (start,), group in pending.group_by(["day"], maintain_order=True):
        ids = sorted(group["account_id"].to_list())
        with store.unit_of_work() as uow:
            uow.lock_settlement(shared=False)
            tariffs = uow.registry.tariffs()
            old = uow.settlement.usage_rows(ids, start, dt.date.max)
            day = start
            last = old["day"].max() if old.height else None
            while last is not None and day <= last:
                old_today = old.filter(pl.col("day") == day)
                todays_ids = old_today["account_id"].to_list()
                if todays_ids:
                    uow.settlement.delete_usage(day, todays_ids)
                    state = uow.settlement.load_state(day, ids[0], ids[-1], only=todays_ids)
                    meters = state["meter_id"].to_list()
                    readings = uow.settlement.readings_for_meters(meters, day)
                    usage, quarantined = settle_batch(
                        attach_readings(state, readings),
                        prices_in_force(tariffs, day),
                        day,
                        nominal_voltage_v,
                    )
                    uow.settlement.save_usage(usage, run_id=None)
                    corrections = trueup_transfers(old_today, usage, start)
                    uow.ledger.post_many(with_created_at(corrections, clock.now()))
                    if day == start:
                        uow.settlement.quarantine_readings(
                            quarantined, f"late reading for {start}", clock.now()
                        )
                day += dt.timedelta(days=1)
            uow.settlement.clear_trueups(ids)
            uow.commit()
        done += len(ids)
    return done


@dataclass(frozen=True)
class RepricingResult:
    day: dt.date | None
    rows_checked: int
    mismatched_account_ids: list[int]


def reprice_settled_day(
    store: Store, day: dt.date | None = None, *, nominal_voltage_v: int = 220
) -> RepricingResult:
    """``reprice_in`` in a unit of work of its own."""
    with store.unit_of_work() as uow:
        return reprice_in(uow, day, nominal_voltage_v=nominal_voltage_v)


def reprice_in(
    uow: UnitOfWork, day: dt.date | None = None, *, nominal_voltage_v: int = 220
) -> RepricingResult:
    """Re-run the kernel for a settled day from the stored state and readings, and compare.

    Every stored usage row (energy, estimate flag, charge, year-to-date position) must be what
    its readings and tariff give. Accounts with a true-up still pending are skipped: their rows
    are about to change. Defaults to the last settled day.
    """
    compared = [
        "energy_wh",
        "estimated",
        "charge_fen",
        "ytd_wh",
        "ytd_cost_nyuan",
        "ytd_charged_fen",
    ]
    day = day or uow.settlement.last_settled()
    if day is None:
        return RepricingResult(None, 0, [])
    stored = uow.settlement.usage_for_day(day)
    if stored.height == 0:
        return RepricingResult(day, 0, [])
    pending = uow.settlement.pending_trueups()["account_id"]
    ids = stored["account_id"]
    lo, hi = ids.min(), ids.max()
    assert isinstance(lo, int) and isinstance(hi, int)
    state = uow.settlement.load_state(day, lo, hi, include_settled=True)
    readings = uow.settlement.readings_for_day(day)
    prices = prices_in_force(uow.registry.tariffs(), day)
    state = state.filter(pl.col("account_id").is_in(ids.implode()))
    recomputed, _ = settle_batch(attach_readings(state, readings), prices, day, nominal_voltage_v)
    joined = stored.select("account_id", *compared).join(
        recomputed.select("account_id", *compared),
        on="account_id",
        how="left",
        suffix="_expected",
        validate="1:1",
    )
    differs = pl.any_horizontal(*(pl.col(c).ne_missing(pl.col(f"{c}_expected")) for c in compared))
    bad = joined.filter(differs & ~pl.col("account_id").is_in(pending.implode()))
    return RepricingResult(day, stored.height, sorted(bad["account_id"].to_list()))
