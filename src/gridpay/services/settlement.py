"""Daily settlement (日结): settle a day for every prepaid account, in chunks, crash-safe.

Each chunk of accounts is one transaction: its usage rows, its charge transfers, the relative
balance updates and the run's counters commit together or not at all. Re-running a day settles
only the accounts without a usage row for it, so a second run, or a run after a crash half way,
ends with exactly the ledger of one clean run. Payments keep landing between chunks; balances are
only ever moved by relative updates, so none is lost.

A chunk is: take the settlement lock; for each batch of its accounts load the state and
readings, price them with the kernel, write the usage rows and post the charges; check that the
charges posted are the usage rows' charges, to the fen; commit. The batches are loaded and priced
on a reader (``settlement_reader``: a thread, or a process for a big day) while the batch before
is written; the lock is what makes that safe (that module's doc).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace

import polars as pl

from gridpay import limits
from gridpay.config import NOMINAL_VOLTAGE_V
from gridpay.domain.settlement import (
    ChargeSums,
    RunTotals,
    assert_charges_posted_as_settled,
    attach_readings,
    charge_transfers,
    posted_charge_sums,
    settle_batch,
    trueup_transfers,
    usage_charge_sums,
)
from gridpay.domain.tariff import prices_in_force
from gridpay.errors import Conflict, InvalidInput
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.prepared import PreparedWrite
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.settlement_reader import Bounds, Reader, batch_bounds


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


def with_created_at(transfers: pl.DataFrame, at: dt.datetime) -> pl.DataFrame:
    naive_utc = at.astimezone(dt.UTC).replace(tzinfo=None)
    return transfers.with_columns(pl.lit(naive_utc, dtype=pl.Datetime("us")).alias("created_at"))


def settle_day(
    store: Store,
    clock: Clock,
    day: dt.date,
    *,
    nominal_voltage_v: int = NOMINAL_VOLTAGE_V,
    progress: Progress | None = None,
    chunk_accounts: int = limits.settle_chunk_accounts_max,
    batch_accounts: int = limits.settle_batch_accounts_max,
    reader_process: bool | None = None,
) -> SettlementReport:
    """Settle ``day`` for every prepaid account not yet settled for it.

    ``reader_process``: load and price the batches in a process of their own (True), on a
    thread (False), or decide by the day's size (None, see ``limits``).
    """
    if day >= clock.today():
        raise InvalidInput(
            f"cannot settle {day}: the day has not ended yet (today is {clock.today()})"
        )
    started = time.perf_counter()
    if reader_process is None:
        with store.unit_of_work() as uow:
            prepaid = uow.settlement.prepaid_account_count()
        reader_process = prepaid >= limits.settle_reader_process_accounts_min
    # A reader process starts now, so that it is ready by the chunks' second batch.
    with (
        Reader.start(store, _load_and_price, reader_process) as reader,
        _between_chunks(store) as between_chunks,
    ):
        trued_up = process_trueups(store, clock, nominal_voltage_v=nominal_voltage_v)
        with store.unit_of_work() as uow:
            run_id = uow.settlement.start_run(day, clock.now())
            prices = prices_in_force(uow.registry.tariffs(), day)
            account_ids = uow.settlement.prepaid_account_ids()
            uow.commit()
        report = SettlementReport(run_id=run_id, day=day, trued_up_accounts=trued_up)
        report.phases_s["load_day"] = time.perf_counter() - started
        job = _Job(day, run_id, prices, nominal_voltage_v)
        if progress:
            progress.start(f"settling {day}", account_ids.len())
        for offset in range(0, account_ids.len(), chunk_accounts):
            if offset:
                between_chunks()
            chunk = account_ids.slice(offset, chunk_accounts)
            totals = _settle_chunk(store, clock, reader, job, batch_bounds(chunk, batch_accounts))
            for key, value in totals.items():
                setattr(report, key, getattr(report, key) + value)
            if progress:
                progress.advance(chunk.len())
        report.reader = reader.describe()
    if progress:
        progress.finish()
    report.seconds = time.perf_counter() - started
    with store.unit_of_work() as uow:
        uow.settlement.finish_run(run_id, "done", clock.now(), report.seconds)
        uow.commit()
    return report


def _settle_chunk(
    store: Store,
    clock: Clock,
    reader: Reader[_Job, _PricedBatch],
    job: _Job,
    batches: Sequence[Bounds],
) -> dict[str, int]:
    """Settle a chunk in one transaction, again if another run settled part of it meanwhile
    (the second attempt settles what is left)."""
    for attempt in range(limits.settle_chunk_attempts_max):
        try:
            return _settle_chunk_once(store, clock, reader, job, batches)
        except Conflict:
            if attempt == limits.settle_chunk_attempts_max - 1:
                raise
    raise AssertionError("unreachable")


def _settle_chunk_once(
    store: Store,
    clock: Clock,
    reader: Reader[_Job, _PricedBatch],
    job: _Job,
    batches: Sequence[Bounds],
) -> dict[str, int]:
    """Under the settlement lock, each batch loaded and priced (on the reader) and written;
    then the ledger checked against the usage rows, and one commit."""
    with store.unit_of_work() as uow:
        uow.lock_settlement(shared=False)
        uow.defer_checkpoint()  # done beside the next chunk (_between_chunks)
        # From here until commit nothing the batches read can change (settlement_reader).
        job = replace(job, at=clock.now())
        totals = dict.fromkeys((*_TOTALS, "waiting_first_reading"), 0)
        settled, posted = ChargeSums(), ChargeSums()
        with closing(reader.priced(store, job, batches)) as priced:
            for batch in priced:
                _write(uow, job, batch)
                totals = {key: value + batch.totals[key] for key, value in totals.items()}
                settled, posted = settled + batch.settled, posted + batch.posted
        assert_charges_posted_as_settled(settled, posted)
        uow.settlement.add_to_run(job.run_id, RunTotals(**{key: totals[key] for key in _TOTALS}))
        uow.commit()
    return totals


@dataclass(frozen=True)
class _Job:
    """What pricing a batch needs, as handed to the reader (a process's too: it pickles)."""

    day: dt.date
    run_id: int
    prices: pl.DataFrame
    nominal_voltage_v: int
    at: dt.datetime | None = None  # the chunk's transfers' time, set once it holds the lock


@dataclass(frozen=True)
class _PricedBatch:
    """A batch ready to write: its usage rows and transfers as prepared writes (the reader
    does all the work a write can do outside the chunk's transaction), and its sums."""

    usage: PreparedWrite
    postings: PreparedWrite
    quarantined: pl.DataFrame
    totals: dict[str, int]  # the run's counters, and the accounts waiting for a first reading
    settled: ChargeSums  # the usage rows' charges
    posted: ChargeSums  # the transfers' charges


def _load_and_price(store: Store, job: _Job, bounds: Bounds) -> _PricedBatch:
    """A batch's state and readings, loaded and priced with the kernel (on the reader)."""
    assert job.at is not None
    lo, hi = bounds
    with store.reader() as reading:
        kernel_input = reading.settlement.load_input(job.day, lo, hi)
        usage, quarantined = settle_batch(kernel_input, job.prices, job.day, job.nominal_voltage_v)
        transfers = with_created_at(charge_transfers(usage), job.at)
        settled = usage_charge_sums(usage)
        return _PricedBatch(
            usage=reading.settlement.prepare_usage(usage, job.run_id),
            postings=reading.ledger.prepare_postings(transfers),
            quarantined=quarantined,
            totals={
                "accounts": usage.height,
                "energy_wh": int(usage["energy_wh"].sum()),
                "charged_fen": settled.charged_fen,
                "credited_fen": settled.credited_fen,
                "estimated": int(usage["estimated"].sum()),
                "quarantined": quarantined.height,
                "waiting_first_reading": kernel_input.height - usage.height,
            },
            settled=settled,
            posted=posted_charge_sums(transfers),
        )


def _write(uow: UnitOfWork, job: _Job, batch: _PricedBatch) -> None:
    """A priced batch into the chunk's transaction: usage rows, charges, quarantined readings."""
    assert job.at is not None
    uow.settlement.save_prepared_usage(batch.usage)
    uow.ledger.post_prepared(batch.postings)
    uow.settlement.quarantine_readings(batch.quarantined, f"settlement of {job.day}", job.at)


@contextmanager
def _between_chunks(store: Store) -> Iterator[Callable[[], None]]:
    """What is done between two chunks: the chunk's log is folded into the database on a thread
    while the next chunk is written (the last chunk's is left to the database's own
    checkpoints), and writers waiting for the database get in (SQLite's pause)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle-checkpoint") as folder:

        def between() -> None:
            folder.submit(store.checkpoint)
            store.let_other_writers_in()

        yield between


def settle_range(
    store: Store,
    clock: Clock,
    first: dt.date,
    last: dt.date,
    *,
    nominal_voltage_v: int = NOMINAL_VOLTAGE_V,
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


def process_trueups(
    store: Store, clock: Clock, *, nominal_voltage_v: int = NOMINAL_VOLTAGE_V
) -> int:
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
            resettle_days(
                uow,
                clock,
                ids,
                start,
                functools.partial(_late_reading_corrections, trigger_day=start),
                nominal_voltage_v=nominal_voltage_v,
                quarantine_reason=f"late reading for {start}",
            )
            uow.settlement.clear_trueups(ids)
            uow.commit()
        done += len(ids)
    return done


def _late_reading_corrections(
    old: pl.DataFrame, new: pl.DataFrame, *, trigger_day: dt.date
) -> pl.DataFrame:
    return trueup_transfers(old, new, trigger_day)


def resettle_days(
    uow: UnitOfWork,
    clock: Clock,
    ids: Sequence[int],
    start: dt.date,
    corrections: Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame],
    *,
    nominal_voltage_v: int = NOMINAL_VOLTAGE_V,
    quarantine_reason: str | None = None,
) -> int:
    """Settle the accounts' settled days from ``start`` on again, in the caller's unit of work
    (which holds the settlement lock), and post ``corrections(old rows, new rows)`` of each
    day. Returns the net corrected (positive: the customers owe more)."""
    ids = sorted(ids)
    tariffs = uow.registry.tariffs()
    old = uow.settlement.usage_rows(ids, start, dt.date.max)
    day = start
    last = old["day"].max() if old.height else None
    assert last is None or isinstance(last, dt.date), last
    net_fen = 0
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
            posted = corrections(old_today, usage)
            uow.ledger.post_many(with_created_at(posted, clock.now()))
            sums = posted_charge_sums(posted)
            net_fen += sums.charged_fen - sums.credited_fen
            if day == start and quarantine_reason is not None:
                uow.settlement.quarantine_readings(quarantined, quarantine_reason, clock.now())
        day += dt.timedelta(days=1)
    return net_fen


@dataclass(frozen=True)
class RepricingResult:
    day: dt.date | None
    rows_checked: int
    mismatched_account_ids: list[int]


def reprice_settled_day(
    store: Store, day: dt.date | None = None, *, nominal_voltage_v: int = NOMINAL_VOLTAGE_V
) -> RepricingResult:
    """``reprice_in`` in a unit of work of its own."""
    with store.unit_of_work() as uow:
        return reprice_in(uow, day, nominal_voltage_v=nominal_voltage_v)


def reprice_in(
    uow: UnitOfWork, day: dt.date | None = None, *, nominal_voltage_v: int = NOMINAL_VOLTAGE_V
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
