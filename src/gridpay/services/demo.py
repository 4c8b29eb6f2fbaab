"""The demo: a seeded synthetic city lives through a month of daily settlement.

Every day, on a simulated clock: the head-end's readings file is imported (a few readings go
missing and arrive a day late, one row names a meter the company does not know), the day is
settled (missing days estimated, late readings trued up), and households whose balance runs low
pay through the app, at a counter, at a bank or at a collection agent, some payments retried by
their channel. At the end the books are audited.

The opening state (accounts, meters, a year of prior usage, the first day's readings, opening
payments) is loaded in bulk like the benchmark's; every later step uses the real services.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from gridpay.config import Settings
from gridpay.domain.money import format_fen
from gridpay.domain.payments import TakePayment
from gridpay.domain.readings import FILE_COLUMNS, RAW_SCHEMA
from gridpay.domain.settlement import charge_transfers
from gridpay.domain.tariff import REGISTERS, Tariff
from gridpay.ports import Clock, Progress, Store
from gridpay.services import bench, synthetic
from gridpay.services.audit import AuditReport, audit
from gridpay.services.payments import take_payment
from gridpay.services.readings import import_readings
from gridpay.services.settlement import settle_day, with_created_at

ACCOUNTS_DEFAULT = 5_000
DAYS_DEFAULT = 30
SEED_DEFAULT = 7
MISSING_SHARE = 0.03  # readings that reach us a day late
LOW_BALANCE_FEN = 2_000  # households below 20 yuan consider paying
PAYS_WHEN_LOW = 0.6
RETRY_SHARE = 0.05  # channels that send the same payment twice
CHANNEL_WEIGHTS = {"app": 50, "counter": 20, "bank": 15, "agent": 15}
UNKNOWN_METER_NO = "999999999999"


class SettableClock(Clock, Protocol):
    def set(self, now: dt.datetime) -> None: ...


@dataclass(frozen=True)
class DemoDay:
    day: dt.date
    readings_stored: int
    readings_quarantined: int
    late_readings: int
    settled: int
    estimated: int
    trued_up: int
    energy_wh: int
    charged_fen: int
    credited_fen: int
    payments: int
    paid_fen: int
    retries_absorbed: int
    accounts_at_or_below_zero: int


@dataclass
class DemoSummary:
    accounts: int
    first_day: dt.date
    days: list[DemoDay] = field(default_factory=list)
    audit: AuditReport | None = None
    payments_by_channel: dict[str, int] = field(default_factory=dict)


def _morning_after(day: dt.date, zone_offset_h: int = 8) -> dt.datetime:
    """02:00 local time the next day, when the night's settlement runs."""
    local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(2, 0))
    return (local - dt.timedelta(hours=zone_offset_h)).replace(tzinfo=dt.UTC)


def _kwh_text(wh: pl.Expr) -> pl.Expr:
    return (wh // 1000).cast(pl.String) + "." + (wh % 1000).cast(pl.String).str.zfill(3)


def readings_file_rows(readings: pl.DataFrame, extra_unknown_meter: dt.date | None) -> pl.DataFrame:
    """Readings as the text rows a head-end's CSV file gives the import (``RAW_SCHEMA``)."""
    text = readings.sort("meter_id").select(
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


def run_demo(
    store: Store,
    clock: SettableClock,
    settings: Settings,
    bench_repo_for: bench.BenchRepoFor,
    tariff_files: Sequence[tuple[Tariff, str]],
    *,
    accounts: int = ACCOUNTS_DEFAULT,
    days: int = DAYS_DEFAULT,
    seed: int = SEED_DEFAULT,
    first_day: dt.date,
    progress: Progress | None = None,
    on_day: Callable[[DemoDay], None] | None = None,
) -> DemoSummary:
    clock.set(_morning_after(first_day))
    options = bench.BenchOptions(accounts=accounts, seed=seed, day=first_day)
    bench.build_city(
        store, clock, bench_repo_for, options, settings.offices, tariff_files, progress=progress
    )
    with store.unit_of_work() as uow:
        tariffs = uow.registry.tariffs()
    town = synthetic.city(accounts, seed, first_day, offices=len(settings.offices))
    prior = synthetic.prior_usage(town, first_day - dt.timedelta(days=1), seed, tariffs=tariffs)
    _, registers = synthetic.readings(town, first_day, synthetic.registers_from_usage(prior))
    # The bulk load writes the prior day's usage rows; post their charges too, so the books
    # hold from the start (the audit checks that each settled day has its transfer).
    with store.unit_of_work() as uow:
        uow.ledger.post_many(with_created_at(charge_transfers(prior), clock.now()))
        uow.commit()
    rng = random.Random(seed)
    summary = DemoSummary(accounts=accounts, first_day=first_day)
    late = pl.DataFrame()
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        clock.set(_morning_after(day))
        stored = quarantined = late_count = 0
        if offset > 0:
            todays, after = synthetic.readings(
                town, day, registers, missing_share=MISSING_SHARE, seed=seed + offset
            )
            full, _ = synthetic.readings(town, day, registers, seed=seed + offset)
            missing = full.join(todays, on="meter_id", how="anti")
            rows = pl.concat([late, todays]) if late.height else todays
            late_count = late.height
            report = import_readings(
                store,
                clock,
                readings_file_rows(rows, extra_unknown_meter=day),
                f"head-end-{day.isoformat()}.csv",
            )
            stored, quarantined = report.stored, report.quarantined
            registers, late = after, missing
        settled = settle_day(store, clock, day, nominal_voltage_v=settings.nominal_voltage_v)
        payments, paid_fen, retries = _pay_when_low(store, clock, settings, rng, day, summary)
        with store.unit_of_work() as uow:
            balances = uow.ledger.customer_balances()
        record = DemoDay(
            day=day,
            readings_stored=stored,
            readings_quarantined=quarantined,
            late_readings=late_count,
            settled=settled.accounts,
            estimated=settled.estimated,
            trued_up=settled.trued_up_accounts,
            energy_wh=settled.energy_wh,
            charged_fen=settled.charged_fen,
            credited_fen=settled.credited_fen,
            payments=payments,
            paid_fen=paid_fen,
            retries_absorbed=retries,
            accounts_at_or_below_zero=balances.filter(pl.col("balance_fen") <= 0).height,
        )
        summary.days.append(record)
        if on_day:
            on_day(record)
    summary.audit = audit(store)
    return summary


def _pay_when_low(
    store: Store,
    clock: SettableClock,
    settings: Settings,
    rng: random.Random,
    day: dt.date,
    summary: DemoSummary,
) -> tuple[int, int, int]:
    """Households below the threshold pay during the day through their usual channel."""
    with store.unit_of_work() as uow:
        low = uow.ledger.customer_balances().filter(pl.col("balance_fen") < LOW_BALANCE_FEN)
    channels = list(CHANNEL_WEIGHTS)
    weights = list(CHANNEL_WEIGHTS.values())
    payments = paid_fen = retries = 0
    clock.set(_morning_after(day) + dt.timedelta(hours=8))  # 10:00 local: offices are open
    for account_id in low["account_id"].to_list():
        if rng.random() >= PAYS_WHEN_LOW:
            continue
        channel = rng.choices(channels, weights)[0]
        amount_fen = rng.choice((5_000, 10_000, 20_000, 30_000))
        cmd = TakePayment(
            account_no=f"{account_id:010d}",
            amount_yuan=format_fen(amount_fen),
            channel=channel,
            ref=f"{channel}-{day:%Y%m%d}-{account_id}",
            office_id=rng.randint(1, len(settings.offices)) if channel == "counter" else None,
        )
        take_payment(store, clock, settings, cmd)
        payments += 1
        paid_fen += amount_fen
        summary.payments_by_channel[channel] = summary.payments_by_channel.get(channel, 0) + 1
        if rng.random() < RETRY_SHARE:
            again = take_payment(store, clock, settings, cmd)
            assert again.already_recorded
            retries += 1
    return payments, paid_fen, retries
