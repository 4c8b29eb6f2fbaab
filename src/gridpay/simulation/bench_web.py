"""The households' home page under load: a synthetic city with days of history, signed-in
sessions for random accounts, and the page's work measured without HTTP (the floor).

The city is the settlement bench's (``synthetic.city``), its newest day from
``synthetic.prior_usage``; the days before it are that day stepped back (energy varied a little
per day and account, the registers and year-to-date moved back by it, one day in fifty marked
estimated), which is what the page reads: ``daily_usage`` by (day, account) and the ledger.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from gridpay.domain.household import Role, Session, token_hash
from gridpay.domain.tariff import REGISTERS
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.credit import Policy
from gridpay.services.household_view import home
from gridpay.services.setup import initialize
from gridpay.simulation import synthetic
from gridpay.simulation.bench import NullProgress

ESTIMATED_EVERY_DAYS = 50


@dataclass(frozen=True)
class WebCity:
    account_ids: list[int]
    usage_rows: int
    build_s: float


@dataclass(frozen=True)
class PageFloor:
    pages: int
    seconds: float
    p50_ms: float
    p95_ms: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


def build_web_city(
    store: Store,
    clock: Clock,
    insert_usage: Callable[[UnitOfWork], Callable[[pl.DataFrame], int]],
    *,
    accounts: int,
    history_days: int,
    newest_day: dt.date,
    seed: int,
    office_names: list[str],
    tariff_files: list,  # type: ignore[type-arg]
    chunk_rows: int = 50_000,
    progress: Progress | None = None,
) -> WebCity:
    progress = progress or NullProgress()
    started = time.perf_counter()
    initialize(store, clock, office_names, tariff_files)
    with store.unit_of_work() as uow:
        tariffs = uow.registry.tariffs()
    town = synthetic.city(
        accounts, seed, newest_day + dt.timedelta(days=1), offices=len(office_names)
    )
    newest = synthetic.prior_usage(town, newest_day, seed, tariffs=tariffs)
    payments = synthetic.payment_transfers(
        town, synthetic.opening_payments(town, seed), newest_day, clock.now()
    )
    with store.unit_of_work() as uow:
        for start in range(0, town.accounts.height, chunk_rows):
            uow.registry.insert_accounts(town.accounts.slice(start, chunk_rows))
        for start in range(0, town.meters.height, chunk_rows):
            uow.registry.insert_meters(town.meters.slice(start, chunk_rows))
        for start in range(0, payments.height, chunk_rows):
            uow.ledger.post_many(payments.slice(start, chunk_rows))
        uow.commit()
    rows = 0
    progress.start("insert days of usage", accounts * history_days)
    # Oldest first: appending days touches only the end of the primary key (day, account).
    for back in range(history_days - 1, -1, -1):
        day_rows = _day_back(newest, back, history_days - 1)
        with store.unit_of_work() as uow:
            write = insert_usage(uow)
            for start in range(0, day_rows.height, chunk_rows):
                rows += write(day_rows.slice(start, chunk_rows))
                progress.advance(min(chunk_rows, day_rows.height - start))
            uow.commit()
    progress.finish()
    return WebCity(town.accounts["id"].to_list(), rows, time.perf_counter() - started)


def open_sessions(
    store: Store, clock: Clock, account_ids: list[int], count: int, seed: int, valid_days: int
) -> list[str]:
    """Signed-in sessions for ``count`` random accounts (as the code page would leave them):
    their cookie tokens."""
    rng = random.Random(seed)
    chosen = rng.sample(account_ids, min(count, len(account_ids)))
    now = clock.now()
    tokens = []
    with store.unit_of_work() as uow:
        for account_id in chosen:
            account = uow.registry.account(account_id)
            assert account is not None and account.phone, account_id
            token = secrets.token_urlsafe(32)
            uow.household.add_session(
                Session(
                    token_hash=token_hash(token),
                    account_id=account_id,
                    phone=account.phone,
                    role=Role.OWNER,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + dt.timedelta(days=valid_days),
                )
            )
            tokens.append(token)
        uow.commit()
    return tokens


def measure_floor(
    store: Store,
    clock: Clock,
    policy: Policy,
    account_ids: list[int],
    pages: int,
    seed: int,
    render: Callable[[object], object] | None = None,
) -> PageFloor:
    """The home page's work without HTTP, one page after another for random accounts: the
    service's reads and arithmetic, and ``render`` (the entrypoint's chart and template) if
    given."""
    rng = random.Random(seed)
    times_s = []
    started = time.perf_counter()
    for _ in range(pages):
        t0 = time.perf_counter()
        view = home(store, clock, policy, rng.choice(account_ids), 30)
        if render is not None:
            render(view)
        times_s.append(time.perf_counter() - t0)
    total_s = time.perf_counter() - started
    times_s.sort()
    return PageFloor(
        pages=pages,
        seconds=total_s,
        p50_ms=times_s[len(times_s) // 2] * 1000,
        p95_ms=times_s[int(len(times_s) * 0.95) - 1] * 1000,
    )


def _day_back(newest: pl.DataFrame, back: int, oldest: int) -> pl.DataFrame:
    """The newest day's rows moved ``back`` days earlier: each earlier day's energy is the
    newest's varied by up to +-30 % per account and day; registers and year to date step back
    by the days in between (kept at zero or above)."""
    if back == 0:
        # The newest day continues the run the oldest day starts (unless it is the only one).
        return newest.with_columns(pl.lit(oldest == 0).alias("starts_run"))
    day = newest["day"][0] - dt.timedelta(days=back)
    vary = ((pl.col("account_id") * 7919 + back * 104729) % 61 - 30).cast(pl.Int64)
    energy = (pl.col("energy_wh") * (100 + vary) // 100).alias("energy_wh")
    # Everything after this day, approximately: ``back`` days at the newest day's energy.
    later = pl.col("energy_wh") * back
    moved = [
        pl.lit(day).alias("day"),
        energy,
        (pl.col("charge_fen") * (100 + vary) // 100).alias("charge_fen"),
        (pl.col("ytd_wh") - later).clip(lower_bound=0).alias("ytd_wh"),
        (pl.col("ytd_charged_fen") - pl.col("charge_fen") * back)
        .clip(lower_bound=0)
        .alias("ytd_charged_fen"),
        (pl.col("reading_wh") - later).alias("reading_wh"),
        (pl.col("last_real_wh") - later).alias("last_real_wh"),
        pl.lit(day).alias("last_real_day"),
        (((pl.col("account_id") + back) % ESTIMATED_EVERY_DAYS) == 0).alias("estimated"),
        pl.lit(back == oldest).alias("starts_run"),
        *((pl.col(f"{r}_wh") - later // len(REGISTERS)).alias(f"{r}_wh") for r in REGISTERS),
    ]
    return newest.with_columns(moved).select(newest.columns).cast(newest.schema)  # type: ignore[arg-type]
