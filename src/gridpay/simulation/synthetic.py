"""A seeded synthetic city: accounts, meters, a year of prior state, daily readings, payments.

Pure: no I/O. Every function returns Polars frames whose columns are exactly the columns of the
table they are meant for (``accounts``, ``meters``, ``daily_usage``, ``readings`` without its
``source`` / ``received_at``), so a caller can bulk-insert them as they are.

Deterministic for a seed, on any machine and Polars version: random numbers come from a
counter-based generator (SplitMix64 over ``(seed, stream, key, ...)``) written as Polars integer
expressions (UInt64 arithmetic wraps). A million accounts take a second or two, and an account's
numbers do not depend on how many accounts were generated with it.

The household model: a mean daily use per household (lognormal around 5 kWh, 3-15 kWh, with 1 %
of big users at 15-40 kWh), times a month-of-year factor (summer and winter higher), a weekday /
weekend factor and a daily noise factor; energy is whole 10 Wh (meters show kWh to 2 decimals).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from gridpay.domain.ledger import CLEARING_IDS, Channel, TransferKind, payment_id
from gridpay.domain.money import fen_from_nyuan_expr
from gridpay.domain.registry import REGISTERED_ACCOUNT_SCHEMA, REGISTERED_METER_SCHEMA
from gridpay.domain.settlement import USAGE_SCHEMA
from gridpay.domain.tariff import (
    REGISTERS,
    Tariff,
    band_surcharge_expr,
    tariff_in_force,
    tariff_price_frame,
)
from gridpay.errors import InvalidInput

TARIFF_TIERED = "henan-residential-tiered"
TARIFF_SHARED = "henan-residential-shared"
TARIFF_TOU = "residential-tou-example"
# Share of accounts on each tariff, in per mille (cumulative thresholds are taken in this order).
TARIFF_SHARES_PERMILLE: tuple[tuple[str, int], ...] = (
    (TARIFF_TIERED, 900),
    (TARIFF_SHARED, 70),
    (TARIFF_TOU, 30),
)
# How a TOU meter splits each day's energy over its registers, in percent. Each register is
# rounded down to 10 Wh, so the registers add up to at most the total (the meter's own rounding).
TOU_SPLIT_PERCENT: Mapping[str, int] = {"sharp": 10, "peak": 30, "flat": 40, "valley": 20}

ACCOUNT_ID_BASE = 4_100_000_000  # account numbers 4100000001, 4100000002, ... (10 digits)
METER_ID_BASE = 202_400_000_000  # meter numbers 202400000001, ... (12 digits)
ACCOUNTS_MAX = 99_999_999  # keeps both numbers inside their digit counts
ENERGY_STEP_WH = 10
ENGLISH_PERMILLE = 100
BIG_USER_PERMILLE = 10
BREAKER_A = 60
WINDOW_DAYS = 30
OPENING_YUAN_MIN = 30
OPENING_YUAN_MAX = 300

# Month-of-year use factors (January first): heating in winter, air conditioning in summer.
SEASON_FACTOR = (1.30, 1.20, 0.95, 0.85, 0.90, 1.15, 1.45, 1.45, 1.05, 0.85, 0.95, 1.20)
WEEKDAY_FACTOR = 0.95
WEEKEND_FACTOR = 1.12

ACCOUNT_SCHEMA: dict[str, Any] = {
    **REGISTERED_ACCOUNT_SCHEMA,
    "created_at": pl.Datetime("us", "UTC"),
}

READING_SCHEMA: dict[str, Any] = {
    "day": pl.Date,
    "meter_id": pl.Int64,
    "total_wh": pl.Int64,
    **{f"{r}_wh": pl.Int64 for r in REGISTERS},
}

# The register state a ``readings`` call starts from and returns: one row per meter.
REGISTER_SCHEMA: dict[str, Any] = {
    "meter_id": pl.Int64,
    "total_wh": pl.Int64,
    **{f"{r}_wh": pl.Int64 for r in REGISTERS},
}

PAYMENT_SCHEMA: dict[str, Any] = {"account_id": pl.Int64, "amount_fen": pl.Int64}

# Common surnames and given-name characters, with their pinyin for English-language accounts.
SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
    ("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"),
    ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"),
    ("郭", "Guo"), ("何", "He"), ("高", "Gao"), ("林", "Lin"), ("罗", "Luo"),
)  # fmt: skip
GIVEN_NAMES = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"),
    ("丽", "Li"), ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"),
    ("勇", "Yong"), ("艳", "Yan"), ("杰", "Jie"), ("娟", "Juan"), ("涛", "Tao"),
    ("明", "Ming"), ("超", "Chao"), ("秀英", "Xiuying"), ("华", "Hua"), ("平", "Ping"),
)  # fmt: skip
PHONE_PREFIXES = (
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151",
    "152", "155", "156", "157", "158", "159", "180", "182", "186", "188",
)  # fmt: skip

# Random streams: one per independent quantity, so adding one never shifts another.
_S_LANGUAGE, _S_TARIFF, _S_OFFICE, _S_SUPPLY, _S_SURNAME, _S_GIVEN = 1, 2, 3, 4, 5, 6
_S_PHONE_PREFIX, _S_PHONE, _S_INSTALLED, _S_CREATED, _S_INITIAL = 7, 8, 9, 10, 11
_S_MEAN_U1, _S_MEAN_U2, _S_BIG, _S_BIG_SIZE = 12, 13, 14, 15
_S_DAILY_NOISE, _S_YTD, _S_LIFETIME, _S_MISSING, _S_PAYMENT = 16, 17, 18, 19, 20

_U64 = 1 << 64
_GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


@dataclass(frozen=True, eq=False)
class City:
    """A generated city. ``households`` holds what the consumption model needs per account."""

    seed: int
    first_day: dt.date
    accounts: pl.DataFrame  # columns of the ``accounts`` table
    meters: pl.DataFrame  # columns of the ``meters`` table
    households: pl.DataFrame  # account_id, meter_id, tariff_code, has_tou, mean_daily_wh, ...

    @property
    def size(self) -> int:
        return self.accounts.height


# --- the random numbers ----------------------------------------------------------------------


def _splitmix64(x: int) -> int:
    """SplitMix64 in Python: the same function as ``_mix`` below, for literal keys."""
    z = (x + _GAMMA) % _U64
    z = ((z ^ (z >> 30)) * _MIX1) % _U64
    z = ((z ^ (z >> 27)) * _MIX2) % _U64
    return z ^ (z >> 31)


# SplitMix64's steps over a UInt64 column (multiplication and addition wrap modulo 2**64).
_MIX_STEPS: tuple[Callable[[pl.Expr], pl.Expr], ...] = (
    lambda z: z + pl.lit(_GAMMA, dtype=pl.UInt64),
    lambda z: (z ^ (z // (1 << 30))) * pl.lit(_MIX1, dtype=pl.UInt64),
    lambda z: (z ^ (z // (1 << 27))) * pl.lit(_MIX2, dtype=pl.UInt64),
    lambda z: z ^ (z // (1 << 31)),
)


def _mix(z: pl.Expr) -> pl.Expr:
    """SplitMix64 over a UInt64 column."""
    for step in _MIX_STEPS:
        z = step(z)
    return z


def _seed_bits(seed: int, stream: int) -> pl.Expr:
    return pl.lit(_splitmix64(_splitmix64(seed % _U64) ^ stream), dtype=pl.UInt64)


def _bits(seed: int, stream: int, *keys: pl.Expr) -> pl.Expr:
    """64 random bits for each row, a function of (seed, stream, keys) only."""
    z = _seed_bits(seed, stream)
    for key in keys:
        z = _mix(z ^ key.cast(pl.UInt64))
    return z


def _to_unit(bits: pl.Expr) -> pl.Expr:
    """A uniform float in [0, 1) from 64 random bits (their top 53)."""
    return (bits // (1 << 11)).cast(pl.Float64) * 2.0**-53


def _uniform(seed: int, stream: int, *keys: pl.Expr) -> pl.Expr:
    """A uniform float in [0, 1) per row (53 random bits)."""
    return _to_unit(_bits(seed, stream, *keys))


def _uniform_of(frame: pl.DataFrame, seed: int, stream: int, *keys: pl.Expr) -> pl.Series:
    """``_uniform`` over ``frame``, its steps computed one at a time.

    As one expression each step repeats its input (``z ^ (z // 2**k)``), so a hash of two keys
    holds 64 copies of the first; Polars evaluates them all (9 ms for 5,000 rows, a day's
    readings of the demo, against under 1 ms a step at a time). The same numbers either way.
    """
    z = pl.col("z")
    stage = frame.select(
        _seed_bits(seed, stream).alias("z"),
        *(key.cast(pl.UInt64).alias(f"key{i}") for i, key in enumerate(keys)),
    )
    for i in range(len(keys)):
        stage = stage.with_columns(z ^ pl.col(f"key{i}"))
        for step in _MIX_STEPS:
            stage = stage.with_columns(step(z))
    return stage.select(_to_unit(z))["z"]


def _below(seed: int, stream: int, bound: int, *keys: pl.Expr) -> pl.Expr:
    """A random integer in [0, bound) per row (the modulo bias is below 1e-9 here)."""
    return (_bits(seed, stream, *keys) % bound).cast(pl.Int64)


def _round_energy(wh: pl.Expr) -> pl.Expr:
    """A non-negative float of Wh to whole 10 Wh steps, as Int64."""
    steps = (wh.clip(lower_bound=0.0) / ENERGY_STEP_WH).round(0)
    return steps.cast(pl.Int64) * ENERGY_STEP_WH


# --- the city ---------------------------------------------------------------------------------


def city(
    n_accounts: int,
    seed: int,
    first_day: dt.date,
    *,
    non_direct_share: float = 0.0,
    offices: int = 6,
) -> City:
    """``n_accounts`` prepaid households whose first day to settle is ``first_day``."""
    if not 1 <= n_accounts <= ACCOUNTS_MAX:
        raise InvalidInput(f"the number of accounts must be 1 to {ACCOUNTS_MAX:,}")
    if not 0.0 <= non_direct_share <= 1.0:
        raise InvalidInput("the non-direct share must be between 0 and 1")
    if offices < 1:
        raise InvalidInput("a city needs at least one service office")
    base = pl.DataFrame({"n": pl.int_range(1, n_accounts + 1, eager=True, dtype=pl.Int64)})
    base = base.select(
        (pl.col("n") + ACCOUNT_ID_BASE).alias("id"),
        (pl.col("n") + METER_ID_BASE).alias("meter_id"),
    )
    key = pl.col("id")
    drawn = base.with_columns(
        _below(seed, _S_SURNAME, len(SURNAMES), key).alias("surname_i"),
        _below(seed, _S_GIVEN, len(GIVEN_NAMES), key).alias("given_i"),
        _below(seed, _S_PHONE_PREFIX, len(PHONE_PREFIXES), key).alias("phone_i"),
        _below(seed, _S_PHONE, 100_000_000, key).alias("phone_n"),
        (_below(seed, _S_LANGUAGE, 1000, key) < ENGLISH_PERMILLE).alias("english"),
        _tariff_expr(seed, key).alias("tariff_code"),
        (_below(seed, _S_OFFICE, offices, key) + 1).alias("office_id"),
        (_uniform(seed, _S_SUPPLY, key) < non_direct_share).alias("non_direct"),
        # Installed 400 days to ~7.5 years before the first day: always before 1 January of the
        # prior day's year, so the whole year to date was measured by this meter.
        (pl.lit(first_day) - pl.duration(days=400 + _below(seed, _S_INSTALLED, 2_350, key))).alias(
            "installed_on"
        ),
        _below(seed, _S_CREATED, 30, key).alias("created_days_before"),
        (_below(seed, _S_INITIAL, 500, key) * ENERGY_STEP_WH).alias("initial_wh"),
        _mean_daily_wh_expr(seed, key).alias("mean_daily_wh"),
    )
    accounts = _accounts_frame(drawn)
    meters = drawn.select(
        pl.col("meter_id").alias("id"),
        pl.col("meter_id").cast(pl.String).alias("meter_no"),
        pl.col("id").alias("account_id"),
        (pl.col("tariff_code") == TARIFF_TOU).alias("has_tou"),
        pl.lit(True).alias("has_switch"),
        pl.lit(BREAKER_A, dtype=pl.Int64).alias("breaker_a"),
        pl.col("installed_on"),
        pl.lit(None, dtype=pl.Date).alias("removed_on"),
        pl.col("initial_wh"),
        pl.lit(None, dtype=pl.Int64).alias("final_wh"),
    )
    households = drawn.select(
        pl.col("id").alias("account_id"),
        "meter_id",
        "tariff_code",
        (pl.col("tariff_code") == TARIFF_TOU).alias("has_tou"),
        "mean_daily_wh",
        "installed_on",
        "initial_wh",
    )
    return City(
        seed=seed,
        first_day=first_day,
        accounts=accounts.cast(ACCOUNT_SCHEMA),  # type: ignore[arg-type]
        meters=meters.cast(REGISTERED_METER_SCHEMA),  # type: ignore[arg-type]
        households=households,
    )


def _tariff_expr(seed: int, key: pl.Expr) -> pl.Expr:
    draw = _below(seed, _S_TARIFF, 1000, key)
    expr: Any = pl
    threshold = 0
    for code, share in TARIFF_SHARES_PERMILLE:
        threshold += share
        expr = expr.when(draw < threshold).then(pl.lit(code))
    return expr.otherwise(pl.lit(TARIFF_SHARES_PERMILLE[0][0]))


def _mean_daily_wh_expr(seed: int, key: pl.Expr) -> pl.Expr:
    """Lognormal around 5 kWh/day clipped to 3-15 kWh; 1 % big users at 15-40 kWh."""
    u1 = _uniform(seed, _S_MEAN_U1, key)
    u2 = _uniform(seed, _S_MEAN_U2, key)
    normal = (-2.0 * (1.0 - u1).log()).sqrt() * (2.0 * math.pi * u2).cos()  # Box-Muller
    typical = (math.log(5_000.0) + 0.45 * normal).exp().clip(3_000.0, 15_000.0)
    big = 15_000.0 + 25_000.0 * _uniform(seed, _S_BIG_SIZE, key)
    is_big = _below(seed, _S_BIG, 1000, key) < BIG_USER_PERMILLE
    return _round_energy(pl.when(is_big).then(big).otherwise(typical))


def _accounts_frame(drawn: pl.DataFrame) -> pl.DataFrame:
    surname_zh = pl.Series([s for s, _ in SURNAMES])
    surname_en = pl.Series([p for _, p in SURNAMES])
    given_zh = pl.Series([g for g, _ in GIVEN_NAMES])
    given_en = pl.Series([p for _, p in GIVEN_NAMES])
    name_zh = pl.concat_str(
        pl.lit(surname_zh).gather(pl.col("surname_i")), pl.lit(given_zh).gather(pl.col("given_i"))
    )
    name_en = pl.concat_str(
        pl.lit(given_en).gather(pl.col("given_i")),
        pl.lit(" "),
        pl.lit(surname_en).gather(pl.col("surname_i")),
    )
    phone = pl.concat_str(
        pl.lit(pl.Series(PHONE_PREFIXES)).gather(pl.col("phone_i")),
        pl.col("phone_n").cast(pl.String).str.zfill(8),
    )
    created_at = (
        pl.col("installed_on").cast(pl.Datetime("us"))
        - pl.duration(days=pl.col("created_days_before"))
        + pl.duration(hours=2)  # 10:00 in Asia/Shanghai
    ).dt.replace_time_zone("UTC")
    return drawn.select(
        "id",
        pl.col("id").cast(pl.String).str.zfill(10).alias("account_no"),
        pl.when(pl.col("english")).then(name_en).otherwise(name_zh).alias("name"),
        phone.alias("phone"),
        pl.when(pl.col("english")).then(pl.lit("en")).otherwise(pl.lit("zh")).alias("language"),
        pl.when(pl.col("non_direct"))
        .then(pl.lit("non_direct"))
        .otherwise(pl.lit("direct"))
        .alias("supply_type"),
        "tariff_code",
        "office_id",
        pl.lit("prepaid").alias("billing_mode"),
        created_at.alias("created_at"),
    )


# --- consumption ------------------------------------------------------------------------------


def day_factor(day: dt.date) -> float:
    """The season and weekday factor of a day (the household mean is multiplied by it)."""
    weekday = WEEKEND_FACTOR if day.weekday() >= 5 else WEEKDAY_FACTOR
    return SEASON_FACTOR[day.month - 1] * weekday


def _daily_energy_expr(seed: int, day: dt.date) -> pl.Expr:
    """Each household's energy on ``day`` (needs ``meter_id`` and ``mean_daily_wh``)."""
    noise = _uniform(seed, _S_DAILY_NOISE, *_day_keys(day))
    return _energy_from_noise(noise, day)


def _day_keys(day: dt.date) -> tuple[pl.Expr, pl.Expr]:
    """The keys of a meter's draws for one day."""
    return pl.col("meter_id"), pl.lit(day.toordinal())


def _energy_from_noise(noise: pl.Expr, day: dt.date) -> pl.Expr:
    """The day's energy from the household's uniform draw for it (``_S_DAILY_NOISE``)."""
    return _round_energy(pl.col("mean_daily_wh") * day_factor(day) * (0.6 + 0.8 * noise))


def tou_split_wh(energy_wh: int) -> dict[str, int]:
    """How ``energy_wh`` lands on the TOU registers (each rounded down to 10 Wh)."""
    return {
        r: energy_wh * percent // 100 // ENERGY_STEP_WH * ENERGY_STEP_WH
        for r, percent in TOU_SPLIT_PERCENT.items()
    }


def _split_expr(energy_wh: pl.Expr, register: str) -> pl.Expr:
    """``tou_split_wh`` for one register, as an expression (non-negative energy)."""
    percent = TOU_SPLIT_PERCENT[register]
    return energy_wh * percent // 100 // ENERGY_STEP_WH * ENERGY_STEP_WH


def ytd_registers(ytd_wh: int, has_tou: bool) -> dict[str, int] | None:
    """The register split the prior state prices its year to date with (None: total only)."""
    return tou_split_wh(ytd_wh) if has_tou else None


def _cost_expr(energy_wh: pl.Expr) -> pl.Expr:
    """Exact cost from 1 January of ``energy_wh`` year-to-date energy (nano-yuan).

    The same as ``day_cost_nyuan(tariff, 0, energy_wh, ytd_registers(energy_wh, has_tou))``;
    needs ``has_tou`` and the columns of ``tariff_price_frame``.
    """
    registers = {r: _split_expr(energy_wh, r) for r in REGISTERS}
    on_registers = pl.sum_horizontal(*registers.values())
    tou_cost = pl.sum_horizontal(*(wh * pl.col(f"p_{r}") for r, wh in registers.items()))
    tou_cost = tou_cost + (energy_wh - on_registers) * pl.col("p_rest")
    plain_cost = energy_wh * pl.col("p_rest")
    energy_cost = pl.when(pl.col("has_tou")).then(tou_cost).otherwise(plain_cost)
    return energy_cost + band_surcharge_expr(energy_wh)


def _prices_in_force(tariffs: Sequence[Tariff], codes: Sequence[str], day: dt.date) -> pl.DataFrame:
    return tariff_price_frame([tariff_in_force(tariffs, code, day) for code in sorted(set(codes))])


def prior_usage(
    city: City,
    day_before: dt.date,
    seed: int,
    *,
    tariffs: Sequence[Tariff],
) -> pl.DataFrame:
    """One ``daily_usage`` row per account for ``day_before``: a year of history as state.

    The year to date is priced with the tariff version in force on ``day_before`` (the shipped
    tariffs have no change inside a year); TOU accounts' year-to-date energy is split over the
    registers by ``ytd_registers``. ``ytd_charged_fen`` is the year's cost rounded once, so the
    next day's cumulative rounding carries on from an exact position.
    """
    jan1 = dt.date(day_before.year, 1, 1)
    factor_before = sum(
        day_factor(jan1 + dt.timedelta(days=i)) for i in range((day_before - jan1).days)
    )
    key = pl.col("meter_id")
    prices = _prices_in_force(
        tariffs, city.households["tariff_code"].unique().to_list(), day_before
    )
    frame = city.households.lazy().with_columns(
        _daily_energy_expr(seed, day_before).alias("energy_wh"),
        _round_energy(
            pl.col("mean_daily_wh") * factor_before * (0.9 + 0.2 * _uniform(seed, _S_YTD, key))
        ).alias("ytd_before_wh"),
        _round_energy(
            pl.col("mean_daily_wh")
            * (pl.lit(jan1) - pl.col("installed_on")).dt.total_days()
            * (0.8 + 0.2 * _uniform(seed, _S_LIFETIME, key))
        ).alias("earlier_years_wh"),
        pl.lit(WINDOW_DAYS, dtype=pl.Int64).alias("window_days"),
        (pl.col("mean_daily_wh") * WINDOW_DAYS).alias("window_energy_wh"),
    )
    frame = frame.with_columns(
        (pl.col("ytd_before_wh") + pl.col("energy_wh")).alias("ytd_wh"),
    ).with_columns(
        (pl.col("initial_wh") + pl.col("earlier_years_wh") + pl.col("ytd_wh")).alias("reading_wh"),
        (pl.col("ytd_wh") - pl.col("window_energy_wh")).clip(lower_bound=0).alias("window_lo_wh"),
    )
    frame = frame.join(prices.lazy(), on="tariff_code", how="left", validate="m:1")
    lifetime_wh = pl.col("reading_wh") - pl.col("initial_wh")
    frame = frame.with_columns(
        _cost_expr(pl.col("ytd_wh")).alias("ytd_cost_nyuan"),
        fen_from_nyuan_expr(_cost_expr(pl.col("ytd_before_wh"))).alias("charged_before_fen"),
        (
            fen_from_nyuan_expr(_cost_expr(pl.col("window_lo_wh") + pl.col("window_energy_wh")))
            - fen_from_nyuan_expr(_cost_expr(pl.col("window_lo_wh")))
        ).alias("window_charge_fen"),
        *(
            pl.when(pl.col("has_tou")).then(_split_expr(lifetime_wh, r)).alias(f"{r}_wh")
            for r in REGISTERS
        ),
    ).with_columns(fen_from_nyuan_expr(pl.col("ytd_cost_nyuan")).alias("ytd_charged_fen"))
    usage = frame.select(
        pl.lit(day_before).alias("day"),
        "account_id",
        "meter_id",
        "tariff_code",
        pl.lit(False).alias("estimated"),
        "reading_wh",
        *(f"{r}_wh" for r in REGISTERS),
        pl.lit(day_before).alias("last_real_day"),
        pl.col("reading_wh").alias("last_real_wh"),
        "energy_wh",
        (pl.col("ytd_charged_fen") - pl.col("charged_before_fen")).alias("charge_fen"),
        "ytd_wh",
        "ytd_cost_nyuan",
        "ytd_charged_fen",
        "window_energy_wh",
        "window_charge_fen",
        "window_days",
        pl.lit(True).alias("starts_run"),  # the one row standing for the history before it
        pl.lit(None, dtype=pl.Int64).alias("run_id"),
    ).collect()
    assert usage["charge_fen"].min() >= 0  # type: ignore[operator]
    return usage.cast(USAGE_SCHEMA)  # type: ignore[arg-type]


def registers_from_usage(usage: pl.DataFrame) -> pl.DataFrame:
    """The register state at the end of a usage day, as ``readings`` takes it."""
    return usage.select(
        "meter_id",
        pl.col("reading_wh").alias("total_wh"),
        *(f"{r}_wh" for r in REGISTERS),
    ).cast(REGISTER_SCHEMA)  # type: ignore[arg-type]


def readings(
    city: City,
    day: dt.date,
    registers_before: pl.DataFrame,
    *,
    missing_share: float = 0.0,
    seed: int | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The daily frozen readings of every meter for ``day`` and the registers after it.

    Registers advance by the day's energy (TOU registers by ``tou_split_wh`` of it) whether or
    not the reading reaches us: ``missing_share`` of the rows are dropped from the readings only,
    so the next day's reading covers both days, as a real meter's would.
    """
    if not 0.0 <= missing_share <= 1.0:
        raise InvalidInput("the missing share must be between 0 and 1")
    seed = city.seed if seed is None else seed
    households = city.households.select("meter_id", "mean_daily_wh", "has_tou")
    noise = _uniform_of(households, seed, _S_DAILY_NOISE, *_day_keys(day))
    energy = households.with_columns(noise.alias("noise")).select(
        "meter_id",
        "mean_daily_wh",
        "has_tou",
        _energy_from_noise(pl.col("noise"), day).alias("energy_wh"),
    )
    after = registers_before.join(energy, on="meter_id", how="left", validate="1:1")
    assert after["energy_wh"].null_count() == 0, "registers for meters outside the city"
    after = after.select(
        "meter_id",
        (pl.col("total_wh") + pl.col("energy_wh")).alias("total_wh"),
        *(
            (pl.col(f"{r}_wh") + _split_expr(pl.col("energy_wh"), r)).alias(f"{r}_wh")
            for r in REGISTERS
        ),
    ).cast(REGISTER_SCHEMA)  # type: ignore[arg-type]
    rows = after.with_columns(pl.lit(day).alias("day")).select(*READING_SCHEMA)
    if missing_share > 0.0:
        rows = rows.filter(~reading_missing(rows, day, seed, missing_share))
    return rows, after


def opening_payments(city: City, seed: int) -> pl.DataFrame:
    """An opening counter payment per account: whole yuan, 30 to 300."""
    yuan = OPENING_YUAN_MIN + _below(
        seed, _S_PAYMENT, OPENING_YUAN_MAX - OPENING_YUAN_MIN + 1, pl.col("id")
    )
    return city.accounts.select(
        pl.col("id").alias("account_id"), (yuan * 100).alias("amount_fen")
    ).cast(PAYMENT_SCHEMA)  # type: ignore[arg-type]


def payment_transfers(
    city: City, payments: pl.DataFrame, day: dt.date, created_at: dt.datetime
) -> pl.DataFrame:
    """Opening payments as counter transfers (clearing:counter -> customer), ids
    ``pay/counter/bench-<account no>``, ready for ``LedgerRepo.post_many``."""
    prefix = payment_id(Channel.COUNTER, "bench-")
    offices = city.accounts.select(pl.col("id").alias("account_id"), "office_id", "account_no")
    frame = payments.join(offices, on="account_id", how="left", validate="1:1")
    return frame.select(
        pl.concat_str(pl.lit(prefix), pl.col("account_no")).alias("id"),
        pl.lit(CLEARING_IDS[Channel.COUNTER], dtype=pl.Int64).alias("debit_account_id"),
        pl.col("account_id").alias("credit_account_id"),
        "amount_fen",
        pl.lit(TransferKind.PAYMENT.value).alias("kind"),
        "account_id",
        pl.lit(day).alias("day"),
        pl.lit(Channel.COUNTER.value).alias("channel"),
        pl.concat_str(pl.lit("bench-"), pl.col("account_no")).alias("ref"),
        "office_id",
        pl.lit(None, dtype=pl.String).alias("reverses_id"),
        pl.lit(None, dtype=pl.String).alias("note"),
        pl.lit(_naive_utc(created_at)).cast(pl.Datetime("us")).alias("created_at"),
    )


def _naive_utc(instant: dt.datetime) -> dt.datetime:
    """An aware instant as naive UTC (the transfer frames' ``created_at``)."""
    assert instant.tzinfo is not None
    return instant.astimezone(dt.UTC).replace(tzinfo=None)


# --- payment habits (the lifecycle demo) -------------------------------------------------------

HABIT_REGULAR = "regular"  # pays by app the day the warning arrives
HABIT_ELDERLY = "elderly"  # pays at the office counter during office hours, next working day
HABIT_LAST_MINUTE = "last_minute"  # pays on the pay-by date
HABIT_FORGETFUL = "forgetful"  # pays only once the power is off
HABIT_PROTECTED = "protected"  # protected customer: the family pays after the trusted SMS
# Share of households with each habit, in per mille (the rest of 1000 go to the first habit).
HABIT_SHARES_PERMILLE: tuple[tuple[str, int], ...] = (
    (HABIT_REGULAR, 450),
    (HABIT_ELDERLY, 200),
    (HABIT_LAST_MINUTE, 180),
    (HABIT_FORGETFUL, 140),
    (HABIT_PROTECTED, 30),
)
PROTECTION_REASONS = ("medical", "elderly_alone")
_S_HABIT, _S_PROTECTION_REASON, _S_TRUSTED_PHONE = 21, 22, 23

HABIT_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "habit": pl.String,
    "protection_reason": pl.String,  # null unless protected
    "trusted_phone": pl.String,  # null unless protected
}


def payment_habits(
    city: City,
    seed: int,
    shares_permille: Sequence[tuple[str, int]] = HABIT_SHARES_PERMILLE,
) -> pl.DataFrame:
    """Each household's payment habit (``HABIT_SCHEMA``); protected households also get a reason
    and a trusted contact's phone. Drawn from their own streams, so no other column moves."""
    if sum(share for _, share in shares_permille) > 1000 or any(s < 0 for _, s in shares_permille):
        raise InvalidInput("habit shares must be non-negative and add up to at most 1000 per mille")
    key = pl.col("id")
    draw = _below(seed, _S_HABIT, 1000, key)
    expr: Any = pl
    threshold = 0
    for habit, share in shares_permille:
        threshold += share
        expr = expr.when(draw < threshold).then(pl.lit(habit))
    habit = expr.otherwise(pl.lit(shares_permille[0][0]))
    reasons = pl.lit(pl.Series(PROTECTION_REASONS))
    trusted_phone = pl.concat_str(
        pl.lit("139"), _below(seed, _S_TRUSTED_PHONE, 100_000_000, key).cast(pl.String).str.zfill(8)
    )
    protected = pl.col("habit") == HABIT_PROTECTED
    return (
        city.accounts.select("id", habit.alias("habit"))
        .with_columns(
            pl.when(protected)
            .then(reasons.gather(_below(seed, _S_PROTECTION_REASON, len(PROTECTION_REASONS), key)))
            .alias("protection_reason"),
            pl.when(protected).then(trusted_phone).alias("trusted_phone"),
        )
        .rename({"id": "account_id"})
        .cast(HABIT_SCHEMA)  # type: ignore[arg-type]
    )


def reading_missing(rows: pl.DataFrame, day: dt.date, seed: int, share: float) -> pl.Series:
    """True for the ``rows`` of ``day`` that ``readings(..., missing_share=share, seed=seed)``
    drops (needs ``meter_id``): a caller holding every row can split off the late ones."""
    return _uniform_of(rows, seed, _S_MISSING, *_day_keys(day)) < share
