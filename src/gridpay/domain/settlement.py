"""The daily settlement kernel: state + the day's readings + tariff -> charges + new state.

A pure function over a *batch of accounts* (a Polars frame, one row per account), with no I/O and
no per-account Python: the same code settles a chunk of a city on one machine or a partition of
a province on a distributed engine (e.g. Spark ``mapInArrow`` over Arrow batches).

For each account and day D the kernel

1. finds the baseline register: yesterday's row (``prev_*``); or, when the meter was replaced,
   the new meter's initial register plus what the old meter counted up to its final reading
   (``carry_wh``); or, for the first settled day of an account or of its agreement (rows of an
   earlier agreement are no baseline), the new meter's initial register, monthly billing's
   closing reading (``opening_wh``), or the raw reading of D-1 (``first_base_wh``) — if none
   exists the day is only a baseline;
2. validates today's reading against the last *real* register (VEE): going backwards, or a jump
   larger than the breaker could deliver since then, quarantines the reading. A *first* reading
   (a baseline, or D-1's raw reading) has no real register before it, so it is held to the same
   rule from the meter's initial register on its installation day: never below it, and never
   more above it than the breaker delivers since then. Every later reading is checked against
   the first, so one that slipped through would refuse them all;
3. takes the energy: real reading - baseline, or an estimate from the recent average (flagged);
   a real reading after estimates may give negative energy, which corrects them;
4. prices it exactly (register prices + annual band surcharges on the year-to-date position,
   which restarts on 1 January, and starts an agreement's first day from the kWh monthly
   billing already billed that year, ``opening_ytd_wh``) and rounds *cumulatively*:
   ``charge = fen(ytd_cost_after) - ytd_charged_before``, so the year's charges add up to the
   annual bill to the fen, and any correction of an estimate lands automatically.

The rolling average is a decaying 30-day window (``window_*``): until 30 days are seen it is a
plain sum; after that each day adds its value and drops 1/30 of the sum. It needs only
yesterday's row, never the row of 30 days ago.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from gridpay import limits
from gridpay.domain.ledger import REVENUE_ID, TransferKind, charge_id, credit_id
from gridpay.domain.money import fen_from_nyuan_expr
from gridpay.domain.tariff import REGISTERS, band_surcharge_expr

HOURS_PER_DAY = 24
WINDOW_DAYS = limits.usage_window_days

# What the kernel reads, per account. Prices and bands come from ``tariff_price_frame``.
INPUT_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "meter_id": pl.Int64,
    "tariff_code": pl.String,
    "breaker_a": pl.Int64,
    "meter_installed_on": pl.Date,
    "meter_initial_wh": pl.Int64,
    "prev_day": pl.Date,  # null: the account has never been settled
    "prev_meter_id": pl.Int64,
    "prev_meter_final_wh": pl.Int64,  # the previous meter's final register, if it was replaced
    "prev_reading_wh": pl.Int64,
    **{f"prev_{r}_wh": pl.Int64 for r in REGISTERS},
    "prev_last_real_day": pl.Date,
    "prev_last_real_wh": pl.Int64,
    "prev_ytd_wh": pl.Int64,
    "prev_ytd_cost_nyuan": pl.Int64,
    "prev_ytd_charged_fen": pl.Int64,
    "prev_window_energy_wh": pl.Int64,
    "prev_window_charge_fen": pl.Int64,
    "prev_window_days": pl.Int64,
    "first_base_wh": pl.Int64,  # raw reading of D-1, for an account's first settled day
    # The agreement covering D (null: none on record): its first day and monthly billing's
    # closing position there (register, kWh billed that tier year; null when not given).
    "agreement_from": pl.Date,
    "opening_wh": pl.Int64,
    "opening_ytd_wh": pl.Int64,
    "r_total_wh": pl.Int64,  # today's reading; null when missing
    **{f"r_{r}_wh": pl.Int64 for r in REGISTERS},
}

USAGE_COLUMNS = (
    "day",
    "account_id",
    "meter_id",
    "tariff_code",
    "estimated",
    "reading_wh",
    *(f"{r}_wh" for r in REGISTERS),
    "last_real_day",
    "last_real_wh",
    "energy_wh",
    "charge_fen",
    "ytd_wh",
    "ytd_cost_nyuan",
    "ytd_charged_fen",
    "window_energy_wh",
    "window_charge_fen",
    "window_days",
    "starts_run",
)

# A stored usage row (table ``daily_usage``): what the kernel writes, plus the run that wrote it.
USAGE_SCHEMA: dict[str, Any] = {
    "day": pl.Date,
    "account_id": pl.Int64,
    "meter_id": pl.Int64,
    "tariff_code": pl.String,
    "estimated": pl.Boolean,
    "reading_wh": pl.Int64,
    **{f"{r}_wh": pl.Int64 for r in REGISTERS},
    "last_real_day": pl.Date,
    "last_real_wh": pl.Int64,
    "energy_wh": pl.Int64,
    "charge_fen": pl.Int64,
    "ytd_wh": pl.Int64,
    "ytd_cost_nyuan": pl.Int64,
    "ytd_charged_fen": pl.Int64,
    "window_energy_wh": pl.Int64,
    "window_charge_fen": pl.Int64,
    "window_days": pl.Int64,
    "starts_run": pl.Boolean,  # no row for the account the day before (its first, or a gap)
    "run_id": pl.Int64,
}
assert tuple(USAGE_SCHEMA)[:-1] == USAGE_COLUMNS

QUARANTINE_COLUMNS = ("account_id", "meter_id", "day", "total_wh", "reason_code", "reason")


@dataclass(frozen=True)
class RunTotals:
    """What a chunk of a settlement run settled, added to the run's counters."""

    accounts: int
    energy_wh: int
    charged_fen: int
    credited_fen: int
    estimated: int
    quarantined: int


@dataclass(frozen=True)
class UnfinishedRunDay:
    """A day that runs began to settle and none finished: its latest run."""

    day: dt.date
    run_id: int
    status: str
    accounts: int


@dataclass(frozen=True)
class SettlementRun:
    """A settlement run as recorded: its day, status (running | done | failed | died), what its
    chunks settled so far, and the process that ran it (host, pid: how a died run is told)."""

    id: int
    day: dt.date
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    totals: RunTotals
    seconds: float | None
    host: str | None = None  # None: recorded before runs said where they ran
    pid: int | None = None


def settle_batch(
    batch: pl.DataFrame,
    prices: pl.DataFrame,
    day: dt.date,
    nominal_voltage_v: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Settle ``day`` for a batch of accounts.

    ``batch`` has ``INPUT_SCHEMA``; ``prices`` is ``tariff_price_frame`` of the tariff versions in
    force on ``day``. Returns (usage rows with ``USAGE_COLUMNS``, quarantined readings with
    ``QUARANTINE_COLUMNS``). Accounts with no baseline and no reading yet get no row.
    """
    missing = set(INPUT_SCHEMA) - set(batch.columns)
    assert not missing, missing
    frame = batch.lazy().join(prices.lazy(), on="tariff_code", how="left", validate="m:1")
    frame = frame.with_columns(_baseline(day, nominal_voltage_v))
    frame = frame.with_columns(_validation(day, nominal_voltage_v))
    frame = frame.with_columns(_energy()).with_columns(_registers_out())
    frame = frame.with_columns(_pricing(day)).with_columns(_charge())
    frame = frame.with_columns(_window()).with_columns(_last_real(day))
    result = frame.collect()
    unpriced = result.filter(pl.col("p_rest").is_null() & pl.col("settle"))
    if unpriced.height:
        codes = sorted(set(unpriced["tariff_code"].to_list()))
        raise LookupError(f"no tariff version in force on {day} for {codes}")
    usage = result.filter(pl.col("settle")).select(
        pl.lit(day).alias("day"),
        "account_id",
        "meter_id",
        "tariff_code",
        pl.col("estimated"),
        pl.col("reading_out_wh").alias("reading_wh"),
        *(pl.col(f"{r}_out_wh").alias(f"{r}_wh") for r in REGISTERS),
        pl.col("last_real_day_out").alias("last_real_day"),
        pl.col("last_real_wh_out").alias("last_real_wh"),
        "energy_wh",
        "charge_fen",
        "ytd_wh",
        "ytd_cost_nyuan",
        "ytd_charged_fen",
        "window_energy_wh",
        "window_charge_fen",
        "window_days",
        (
            pl.col("prev_day").is_null()
            | (pl.col("prev_day") != pl.lit(day - dt.timedelta(days=1)))
        ).alias("starts_run"),
    )
    quarantined = result.filter(pl.col("rejected")).select(
        "account_id",
        "meter_id",
        pl.lit(day).alias("day"),
        pl.col("r_total_wh").alias("total_wh"),
        "reason_code",
        "reason",
    )
    return usage, quarantined


def _capacity_per_day_wh(nominal_voltage_v: int) -> pl.Expr:
    return pl.col("breaker_a") * nominal_voltage_v * HOURS_PER_DAY


def _plausible_first(reading_wh: pl.Expr, on_day: dt.date, nominal_voltage_v: int) -> pl.Expr:
    """A register at the end of ``on_day`` that the meter can show: not below its initial
    register, and not more above it than the breaker delivers from the installation day on."""
    rise_wh = reading_wh - pl.col("meter_initial_wh")
    return (rise_wh >= 0) & (rise_wh <= _first_capacity_wh(on_day, nominal_voltage_v))


def _first_capacity_wh(day: dt.date, nominal_voltage_v: int) -> pl.Expr:
    """What the breaker delivers from the meter's installation day to the end of ``day``."""
    days = (pl.lit(day) - pl.col("meter_installed_on")).dt.total_days() + 1
    return _capacity_per_day_wh(nominal_voltage_v) * days.clip(lower_bound=0)


def _opening() -> pl.Expr:
    """D is the first settled day of its agreement: no row yet, or only rows of an earlier
    agreement, whose last register is no baseline (the days away were billed monthly)."""
    return pl.col("agreement_from").is_not_null() & (
        pl.col("prev_day").is_null() | (pl.col("prev_day") < pl.col("agreement_from"))
    )


def _baseline(day: dt.date, nominal_voltage_v: int) -> list[pl.Expr]:
    opening = _opening()
    has_prev = pl.col("prev_day").is_not_null() & ~opening
    replaced = has_prev & (pl.col("prev_meter_id") != pl.col("meter_id"))
    continuing = has_prev & ~replaced
    new_meter_today = pl.col("meter_installed_on") == pl.lit(day)
    yesterday = day - dt.timedelta(days=1)
    # An implausible D-1 reading is no baseline: today's reading becomes the first instead.
    first_base_ok = _plausible_first(pl.col("first_base_wh"), yesterday, nominal_voltage_v)
    # Monthly billing's closing reading, at the start of the agreement's first day.
    from_opening = opening & pl.col("opening_wh").is_not_null() & ~new_meter_today
    base_wh = (
        pl.when(continuing)
        .then(pl.col("prev_reading_wh"))
        .when(replaced | new_meter_today)
        .then(pl.col("meter_initial_wh"))
        .when(from_opening)
        .then(pl.col("opening_wh"))
        .when(first_base_ok)
        .then(pl.col("first_base_wh"))
    )
    carry_wh = (
        pl.when(replaced)
        .then(
            pl.col("prev_meter_final_wh").fill_null(pl.col("prev_reading_wh"))
            - pl.col("prev_reading_wh")
        )
        .otherwise(0)
    )
    return [
        continuing.alias("continuing"),
        base_wh.alias("base_wh"),
        carry_wh.alias("carry_wh"),
        pl.when(continuing).then(pl.col("prev_last_real_wh")).otherwise(base_wh).alias("check_wh"),
        pl.when(continuing)
        .then(pl.col("prev_last_real_day"))
        .when(from_opening)
        .then(pl.col("agreement_from") - pl.duration(days=1))
        .otherwise(pl.lit(day - dt.timedelta(days=1)))
        .alias("check_day"),
        *(
            pl.when(continuing).then(pl.col(f"prev_{r}_wh")).alias(f"base_{r}_wh")
            for r in REGISTERS
        ),
    ]


def _validation(day: dt.date, nominal_voltage_v: int) -> list[pl.Expr]:
    present = pl.col("r_total_wh").is_not_null()
    known_base = pl.col("base_wh").is_not_null()
    gap_days = (pl.lit(day) - pl.col("check_day")).dt.total_days().clip(lower_bound=1)
    capacity_wh = _capacity_per_day_wh(nominal_voltage_v) * gap_days
    rise_wh = pl.col("r_total_wh") - pl.col("check_wh")
    backwards = present & known_base & (rise_wh < 0)
    jump = present & known_base & (rise_wh > capacity_wh)
    register_backwards = pl.lit(False)
    for r in REGISTERS:
        register_backwards = register_backwards | (
            pl.col(f"r_{r}_wh") < pl.col(f"base_{r}_wh")
        ).fill_null(False)
    register_backwards = present & known_base & register_backwards & ~backwards & ~jump
    first_implausible = (
        present & ~known_base & ~_plausible_first(pl.col("r_total_wh"), day, nominal_voltage_v)
    )
    rejected = backwards | jump | register_backwards | first_implausible
    reason_code = (
        pl.when(backwards)
        .then(pl.lit("register_backwards"))
        .when(jump)
        .then(pl.lit("implausible_jump"))
        .when(register_backwards)
        .then(pl.lit("tou_register_backwards"))
        .when(first_implausible)
        .then(pl.lit("implausible_first_reading"))
    )
    kwh = lambda e: (e / 1000).round(2).cast(pl.String)  # noqa: E731  (message text only)
    reason = (
        pl.when(backwards)
        .then(
            pl.format(
                "register went backwards: {} kWh after {} kWh on {}",
                kwh(pl.col("r_total_wh")),
                kwh(pl.col("check_wh")),
                pl.col("check_day"),
            )
        )
        .when(jump)
        .then(
            pl.format(
                "implausible jump: {} kWh since {}, more than a {} A breaker delivers ({} kWh)",
                kwh(rise_wh),
                pl.col("check_day"),
                pl.col("breaker_a"),
                kwh(capacity_wh),
            )
        )
        .when(register_backwards)
        .then(pl.lit("a time-of-use register went backwards"))
        .when(first_implausible)
        .then(
            pl.format(
                "implausible first reading: {} kWh, but meter installed on {} at {} kWh with a "
                "{} A breaker can show {} to {} kWh by {}",
                kwh(pl.col("r_total_wh")),
                pl.col("meter_installed_on"),
                kwh(pl.col("meter_initial_wh")),
                pl.col("breaker_a"),
                kwh(pl.col("meter_initial_wh")),
                kwh(pl.col("meter_initial_wh") + _first_capacity_wh(day, nominal_voltage_v)),
                pl.lit(day),
            )
        )
    )
    real = present & known_base & ~rejected
    baseline_only = present & ~known_base & ~first_implausible
    settle = known_base | baseline_only
    return [
        rejected.alias("rejected"),
        reason_code.alias("reason_code"),
        reason.alias("reason"),
        real.alias("real"),
        baseline_only.alias("baseline_only"),
        settle.alias("settle"),
    ]


def _energy() -> list[pl.Expr]:
    prev_days = pl.col("prev_window_days").fill_null(0)
    average_wh = pl.col("prev_window_energy_wh").fill_null(0) // prev_days.clip(lower_bound=1)
    estimate_wh = (
        pl.when(prev_days > 0)
        .then(average_wh.clip(lower_bound=0))
        .otherwise(pl.col("default_daily_wh"))
    )
    energy_wh = (
        pl.when(pl.col("baseline_only"))
        .then(0)
        .when(pl.col("real"))
        .then(pl.col("carry_wh") + pl.col("r_total_wh") - pl.col("base_wh"))
        .otherwise(pl.col("carry_wh") + estimate_wh)
    )
    reading_out = (
        pl.when(pl.col("real") | pl.col("baseline_only"))
        .then(pl.col("r_total_wh"))
        .otherwise(pl.col("base_wh") + estimate_wh)
    )
    return [
        energy_wh.alias("energy_wh"),
        reading_out.alias("reading_out_wh"),
        (~pl.col("real") & ~pl.col("baseline_only")).alias("estimated"),
    ]


def _registers_out() -> list[pl.Expr]:
    """Register values at the end of the day, and the energy on each to price.

    Estimates go on the total only: registers carry forward unchanged, and the estimated energy
    is priced at the ``rest`` price until a real reading splits it.
    """
    exprs: list[pl.Expr] = []
    for r in REGISTERS:
        now = pl.col(f"r_{r}_wh")
        base = pl.col(f"base_{r}_wh")
        took_reading = pl.col("real") | pl.col("baseline_only")
        exprs.append(
            pl.when(took_reading & now.is_not_null()).then(now).otherwise(base).alias(f"{r}_out_wh")
        )
        exprs.append(
            pl.when(pl.col("real") & now.is_not_null() & base.is_not_null())
            .then(now - base)
            .otherwise(0)
            .alias(f"d_{r}_wh")
        )
    return exprs


def _pricing(day: dt.date) -> list[pl.Expr]:
    same_year = pl.col("prev_day").dt.year() == day.year
    # The tier year does not restart at enrolment: the first day of an agreement starts from
    # the kWh monthly billing already billed that year (the position at the end of the day
    # before the agreement). What the prepaid side charged this year (cost, charged) still
    # continues from its own rows, so the year's charges add up as before.
    position_year = (pl.col("agreement_from") - pl.duration(days=1)).dt.year()
    from_opening = _opening() & pl.col("opening_ytd_wh").is_not_null() & (position_year == day.year)
    ytd_before = (
        pl.when(from_opening)
        .then(pl.col("opening_ytd_wh"))
        .when(same_year)
        .then(pl.col("prev_ytd_wh"))
        .otherwise(0)
    )
    cost_before = pl.when(same_year).then(pl.col("prev_ytd_cost_nyuan")).otherwise(0)
    charged_before = pl.when(same_year).then(pl.col("prev_ytd_charged_fen")).otherwise(0)
    ytd_after = ytd_before + pl.col("energy_wh")
    on_registers = pl.sum_horizontal(*(pl.col(f"d_{r}_wh") for r in REGISTERS))
    register_cost = pl.sum_horizontal(*(pl.col(f"d_{r}_wh") * pl.col(f"p_{r}") for r in REGISTERS))
    day_cost = (
        register_cost
        + (pl.col("energy_wh") - on_registers) * pl.col("p_rest")
        + band_surcharge_expr(ytd_after)
        - band_surcharge_expr(ytd_before)
    )
    return [
        ytd_after.alias("ytd_wh"),
        (cost_before + day_cost).alias("ytd_cost_nyuan"),
        charged_before.alias("charged_before_fen"),
    ]


def _charge() -> list[pl.Expr]:
    charged_after = fen_from_nyuan_expr(pl.col("ytd_cost_nyuan"))
    return [
        charged_after.alias("ytd_charged_fen"),
        (charged_after - pl.col("charged_before_fen")).alias("charge_fen"),
    ]


def _window() -> list[pl.Expr]:
    days = pl.col("prev_window_days").fill_null(0)
    energy = pl.col("prev_window_energy_wh").fill_null(0)
    charge = pl.col("prev_window_charge_fen").fill_null(0)
    full = days >= WINDOW_DAYS
    counted = ~pl.col("baseline_only")
    new_energy = pl.when(full).then(energy - energy // WINDOW_DAYS).otherwise(energy) + pl.col(
        "energy_wh"
    )
    new_charge = pl.when(full).then(charge - charge // WINDOW_DAYS).otherwise(charge) + pl.col(
        "charge_fen"
    )
    return [
        pl.when(counted)
        .then(new_energy.clip(lower_bound=0))
        .otherwise(energy)
        .alias("window_energy_wh"),
        pl.when(counted)
        .then(new_charge.clip(lower_bound=0))
        .otherwise(charge)
        .alias("window_charge_fen"),
        pl.when(counted)
        .then((days + 1).clip(upper_bound=WINDOW_DAYS))
        .otherwise(days)
        .alias("window_days"),
    ]


def _last_real(day: dt.date) -> list[pl.Expr]:
    took = pl.col("real") | pl.col("baseline_only")
    return [
        pl.when(took).then(pl.lit(day)).otherwise(pl.col("check_day")).alias("last_real_day_out"),
        pl.when(took)
        .then(pl.col("r_total_wh"))
        .otherwise(pl.col("check_wh"))
        .alias("last_real_wh_out"),
    ]


def charge_transfers(usage: pl.DataFrame) -> pl.DataFrame:
    """The ledger transfers for settled usage rows: a charge, a credit, or nothing when zero."""
    kind = pl.when(pl.col("charge_fen") > 0).then(pl.lit("charge")).otherwise(pl.lit("credit"))
    transfer_id = pl.format("{}/{}/{}", kind, _day_text(), _account_no())
    return _signed_transfers(usage.filter(pl.col("charge_fen") != 0), transfer_id)


@dataclass(frozen=True)
class ChargeSums:
    """Charges summed, to the fen: what customers were charged and credited, in how many
    transfers (a usage row with a zero charge posts none)."""

    charged_fen: int = 0
    credited_fen: int = 0
    transfers: int = 0

    def __add__(self, other: ChargeSums) -> ChargeSums:
        return ChargeSums(
            self.charged_fen + other.charged_fen,
            self.credited_fen + other.credited_fen,
            self.transfers + other.transfers,
        )


def usage_charge_sums(usage: pl.DataFrame) -> ChargeSums:
    """The charges settled usage rows say customers owe (``charge_fen``, signed)."""
    charge = usage["charge_fen"]
    return ChargeSums(
        charged_fen=int(charge.filter(charge > 0).sum()),
        credited_fen=int(-charge.filter(charge < 0).sum()),
        transfers=int((charge != 0).sum()),
    )


def posted_charge_sums(transfers: pl.DataFrame) -> ChargeSums:
    """The charges transfers move, by direction: from the customer's account to revenue is a
    charge, from revenue to the customer's a credit (whatever the transfers' kinds say)."""
    customer = pl.col("account_id")
    revenue = pl.lit(REVENUE_ID)
    charged = (pl.col("debit_account_id") == customer) & (pl.col("credit_account_id") == revenue)
    credited = (pl.col("debit_account_id") == revenue) & (pl.col("credit_account_id") == customer)
    sums = transfers.select(
        pl.col("amount_fen").filter(charged).sum().alias("charged_fen"),
        pl.col("amount_fen").filter(credited).sum().alias("credited_fen"),
    )
    return ChargeSums(
        charged_fen=int(sums["charged_fen"][0]),
        credited_fen=int(sums["credited_fen"][0]),
        transfers=transfers.height,
    )


def assert_charges_posted_as_settled(settled: ChargeSums, posted: ChargeSums) -> None:
    """The ledger's side of a settlement equals its usage rows' side, to the fen.

    A difference is a mistake of ours (the kernel's rows and the transfers made from them
    disagree), never the world's, so it is an assertion: the chunk refuses to commit.
    """
    assert posted.charged_fen == settled.charged_fen, (posted, settled)
    assert posted.credited_fen == settled.credited_fen, (posted, settled)
    assert posted.transfers == settled.transfers, (posted, settled)


def trueup_transfers(old: pl.DataFrame, new: pl.DataFrame, trigger_day: dt.date) -> pl.DataFrame:
    """Correcting transfers for recomputed days: the difference of new and old charges.

    Kind ``charge`` when the customer owes more, ``credit`` when less; the day is the corrected
    day, so each (account, day) nets to the recomputed charge.
    """
    return _correction_transfers(
        old, new, trigger_day.isoformat(), "true-up after a late real reading"
    )


def position_transfers(old: pl.DataFrame, new: pl.DataFrame, enrolment_id: int) -> pl.DataFrame:
    """Correcting transfers for an agreement's days re-priced from an opening position entered
    after they were settled: ``trueup/<account>/<day>/position-<agreement>``, one possible id per
    day and agreement, apart from any late reading's."""
    return _correction_transfers(
        old,
        new,
        position_trigger(enrolment_id),
        "re-priced from the opening position entered after the day was settled",
    )


def position_trigger(enrolment_id: int) -> str:
    """The last part of a position correction's id (``position_transfers``)."""
    return f"position-{enrolment_id}"


def _correction_transfers(
    old: pl.DataFrame, new: pl.DataFrame, trigger: str, note: str
) -> pl.DataFrame:
    diff = (
        new.select("account_id", "day", pl.col("charge_fen").alias("new_fen"))
        .join(
            old.select("account_id", "day", pl.col("charge_fen").alias("old_fen")),
            on=["account_id", "day"],
            how="inner",
            validate="1:1",
        )
        .with_columns((pl.col("new_fen") - pl.col("old_fen")).alias("charge_fen"))
        .filter(pl.col("charge_fen") != 0)
    )
    transfer_id = pl.format("trueup/{}/{}/{}", _account_no(), _day_text(), pl.lit(trigger))
    return _signed_transfers(diff, transfer_id).with_columns(pl.lit(note).alias("note"))


def _account_no() -> pl.Expr:
    return pl.col("account_id").cast(pl.String).str.zfill(10)


def _day_text() -> pl.Expr:
    return pl.col("day").dt.strftime("%Y-%m-%d")


def _signed_transfers(frame: pl.DataFrame, transfer_id: pl.Expr) -> pl.DataFrame:
    """A signed ``charge_fen`` per (account, day) as transfers: positive debits the customer
    (kind charge), negative credits it back (kind credit)."""
    positive = pl.col("charge_fen") > 0
    customer, revenue = pl.col("account_id"), pl.lit(REVENUE_ID)
    return frame.select(
        transfer_id.alias("id"),
        pl.when(positive).then(customer).otherwise(revenue).alias("debit_account_id"),
        pl.when(positive).then(revenue).otherwise(customer).alias("credit_account_id"),
        pl.col("charge_fen").abs().alias("amount_fen"),
        pl.when(positive)
        .then(pl.lit(TransferKind.CHARGE.value))
        .otherwise(pl.lit(TransferKind.CREDIT.value))
        .alias("kind"),
        "account_id",
        "day",
    )


def attach_readings(state: pl.DataFrame, readings: pl.DataFrame) -> pl.DataFrame:
    """Kernel input: the chunk's state joined with today's readings (one per meter, or none)."""
    return kernel_input(state.join(readings, on="meter_id", how="left", validate="m:1"))


def kernel_input(frame: pl.DataFrame) -> pl.DataFrame:
    """The kernel's columns of ``frame``, typed as ``INPUT_SCHEMA``."""
    return frame.select([pl.col(c).cast(t) for c, t in INPUT_SCHEMA.items()])


# The ids above must agree with the scalar helpers in ``ledger`` (checked by the tests).
__all__ = ["charge_id", "credit_id", "charge_transfers", "settle_batch"]
