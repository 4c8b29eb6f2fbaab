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
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial

import polars as pl

from gridpay import limits
from gridpay.domain.settlement import (
    attach_readings,
    charge_transfers,
    settle_batch,
    trueup_transfers,
)
from gridpay.domain.tariff import prices_in_force
from gridpay.errors import Conflict, InvalidInput
from gridpay.ports import Clock, Progress, Store, UnitOfWork

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
) -> SettlementReport:
    """Settle ``day`` for every prepaid account not yet settled for it."""
    if day >= clock.today():
        raise InvalidInput(
            f"cannot settle {day}: the day has not ended yet (today is {clock.today()})"
        )
    started = time.perf_counter()
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
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle-reader") as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle-checkpoint") as folder,
    ):
        for offset in range(0, account_ids.len(), chunk_accounts):
            chunk = account_ids.slice(offset, chunk_accounts)
            bounds = _batch_bounds(chunk, batch_accounts)
            totals = _settle_chunk(
                store, clock, day, run_id, bounds, prices, nominal_voltage_v, reader
            )
            for key, value in totals.items():
                setattr(report, key, getattr(report, key) + value)
            if progress:
                progress.advance(chunk.len())
            if offset + chunk_accounts < account_ids.len():
                # The chunk's log is folded into the database while the next chunk is written
                # (the last chunk's is left to the database's own checkpoints).
                folder.submit(store.checkpoint)
                store.let_other_writers_in()
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
class _PricedBatch:
    usage: pl.DataFrame
    quarantined: pl.DataFrame
    transfers: pl.DataFrame
    waiting_first_reading: int


def _read_and_price(
    store: Store,
    day: dt.date,
    prices: pl.DataFrame,
    nominal_voltage_v: int,
    at: dt.datetime,
    bounds: tuple[int, int],
) -> _PricedBatch:
    """The reader's stage: a batch's state and readings, read beside the writer, and priced."""
    lo, hi = bounds
    with store.reader() as reading:
        state = reading.settlement.load_state(day, lo, hi)
        meters = state["meter_id"].to_list()
        readings = reading.settlement.readings_for_meters(meters, day)
    usage, quarantined = settle_batch(
        attach_readings(state, readings), prices, day, nominal_voltage_v
    )
    transfers = with_created_at(charge_transfers(usage), at)
    return _PricedBatch(usage, quarantined, transfers, state.height - usage.height)


def _prefetched(
    reader: ThreadPoolExecutor,
    prepare: Callable[[tuple[int, int]], _PricedBatch],
    bounds: Sequence[tuple[int, int]],
) -> Generator[_PricedBatch, None, None]:
    """Each batch prepared on the reader thread while the caller works on the one before."""
    pending: Future[_PricedBatch] | None = None
    try:
        for i in range(len(bounds)):
            current = pending.result() if pending else prepare(bounds[i])
            pending = reader.submit(prepare, bounds[i + 1]) if i + 1 < len(bounds) else None
            yield current
    finally:
        # The caller stopped early (an error): let the reader finish before the chunk's
        # transaction ends, so that it never reads once the settlement lock is released.
        if pending is not None and not pending.cancel():
            pending.exception()


def _settle_chunk(
    store: Store,
    clock: Clock,
    day: dt.date,
    run_id: int,
    bounds: Sequence[tuple[int, int]],
    prices: pl.DataFrame,
    nominal_voltage_v: int,
    reader: ThreadPoolExecutor,
) -> dict[str, int]:
    for attempt in range(CHUNK_RETRIES_MAX):
        try:
            with store.unit_of_work() as uow:
                uow.lock_settlement(shared=False)
                uow.defer_checkpoint()  # done beside the next chunk (settle_day)
                # From here until commit nothing the batches read can change (module doc).
                now = clock.now()
                totals = dict.fromkeys(_TOTALS, 0)
                waiting = 0

                prepare = partial(_read_and_price, store, day, prices, nominal_voltage_v, now)
                with closing(_prefetched(reader, prepare, bounds)) as batches:
                    for batch in batches:
                        uow.settlement.save_usage(batch.usage, run_id)
                        uow.ledger.post_many(batch.transfers)
                        uow.settlement.quarantine_readings(
                            batch.quarantined, f"settlement of {day}", now
                        )
                        for key, value in _chunk_totals(batch.usage, batch.quarantined).items():
                            totals[key] += value
                        waiting += batch.waiting_first_reading
                uow.settlement.add_to_run(run_id, totals)
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
