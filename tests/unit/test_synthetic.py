"""The synthetic city: deterministic, shaped like the tables, and consistent with the tariffs."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, String, Table, Text

from gridpay.adapters.sql import schema
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.domain.money import fen_from_nyuan
from gridpay.domain.tariff import REGISTERS, Tariff, day_cost_nyuan, tariff_in_force
from gridpay.errors import InvalidInput
from gridpay.simulation import synthetic
from gridpay.simulation.synthetic import (
    TARIFF_SHARED,
    TARIFF_TIERED,
    TARIFF_TOU,
    city,
    opening_payments,
    prior_usage,
    readings,
    registers_from_usage,
)

DAY = dt.date(2026, 11, 26)
DAY_BEFORE = DAY - dt.timedelta(days=1)
N = 20_000


@pytest.fixture(scope="module")
def tariffs() -> list[Tariff]:
    return [t for t, _ in shipped_tariffs()]


@pytest.fixture(scope="module")
def town() -> synthetic.City:
    return city(N, 7, DAY)


@pytest.fixture(scope="module")
def prior(town: synthetic.City, tariffs: list[Tariff]) -> pl.DataFrame:
    return prior_usage(town, DAY_BEFORE, 7, tariffs=tariffs)


def _frames(seed: int, tariffs: list[Tariff]) -> list[pl.DataFrame]:
    c = city(3_000, seed, DAY)
    p = prior_usage(c, DAY_BEFORE, seed, tariffs=tariffs)
    r, after = readings(c, DAY, registers_from_usage(p), missing_share=0.05)
    return [c.accounts, c.meters, p, r, after, opening_payments(c, seed)]


def test_the_same_seed_gives_identical_frames(tariffs: list[Tariff]) -> None:
    for first, second in zip(_frames(11, tariffs), _frames(11, tariffs), strict=True):
        assert first.equals(second)


def test_a_different_seed_gives_different_frames(tariffs: list[Tariff]) -> None:
    for first, second in zip(_frames(11, tariffs), _frames(12, tariffs), strict=True):
        assert not first.equals(second)


def test_an_accounts_numbers_do_not_depend_on_the_city_size() -> None:
    small, large = city(100, 3, DAY), city(1_000, 3, DAY)
    assert small.accounts.equals(large.accounts.head(100))
    assert small.households.equals(large.households.head(100))


def test_the_polars_random_generator_is_splitmix64() -> None:
    keys = [0, 1, 2**63 + 5, 2**64 - 1, 123_456_789]
    frame = pl.DataFrame({"k": pl.Series(keys, dtype=pl.UInt64)})
    mixed = frame.select(synthetic._mix(pl.col("k"))).to_series().to_list()
    assert mixed == [synthetic._splitmix64(k) for k in keys]


def _is_compatible(sql_type: object, dtype: pl.DataType) -> bool:
    if isinstance(sql_type, BigInteger | Integer):
        return dtype.is_integer()
    if isinstance(sql_type, String | Text):
        return dtype == pl.String
    if isinstance(sql_type, Boolean):
        return dtype == pl.Boolean
    if isinstance(sql_type, DateTime):
        return isinstance(dtype, pl.Datetime)
    if isinstance(sql_type, Date):
        return dtype == pl.Date
    raise AssertionError(f"no rule for {sql_type!r}")


def _assert_shaped_like(frame: pl.DataFrame, table: Table, leave_out: tuple[str, ...] = ()) -> None:
    columns = [c for c in table.columns if c.name not in leave_out]
    assert frame.columns == [c.name for c in columns]
    for column in columns:
        dtype = frame.schema[column.name]
        assert _is_compatible(column.type, dtype), (column.name, column.type, dtype)
        if not column.nullable:
            assert frame[column.name].null_count() == 0, column.name


def test_frames_have_the_tables_columns_and_types(
    town: synthetic.City, prior: pl.DataFrame
) -> None:
    _assert_shaped_like(town.accounts, schema.accounts)
    _assert_shaped_like(town.meters, schema.meters)
    _assert_shaped_like(prior, schema.daily_usage)
    day_readings, _ = readings(town, DAY, registers_from_usage(prior))
    _assert_shaped_like(day_readings, schema.readings, leave_out=("source", "received_at"))
    assert town.accounts["created_at"].dtype == pl.Datetime("us", "UTC")


def test_numbers_have_their_digits_and_ids_match(town: synthetic.City) -> None:
    accounts, meters = town.accounts, town.meters
    assert accounts["account_no"].str.len_chars().unique().to_list() == [10]
    assert meters["meter_no"].str.len_chars().unique().to_list() == [12]
    assert accounts["account_no"].cast(pl.Int64).equals(accounts["id"], check_names=False)
    assert meters["meter_no"].cast(pl.Int64).equals(meters["id"], check_names=False)
    assert meters["account_id"].equals(accounts["id"], check_names=False)
    assert accounts["id"].is_unique().all() and meters["id"].is_unique().all()


def test_the_city_has_the_asked_mix(town: synthetic.City) -> None:
    a = town.accounts
    assert 0.08 < (a["language"] == "en").mean() < 0.12  # type: ignore[operator]
    shares = a["tariff_code"].value_counts(normalize=True)
    share = dict(zip(shares["tariff_code"].to_list(), shares["proportion"].to_list(), strict=True))
    assert 0.88 < share[TARIFF_TIERED] < 0.92
    assert 0.06 < share[TARIFF_SHARED] < 0.08
    assert 0.02 < share[TARIFF_TOU] < 0.04
    assert sorted(a["office_id"].unique().to_list()) == [1, 2, 3, 4, 5, 6]
    assert a["supply_type"].unique().to_list() == ["direct"]
    assert a["billing_mode"].unique().to_list() == ["prepaid"]
    m = town.meters.join(a.select(pl.col("id").alias("account_id"), "tariff_code"), on="account_id")
    assert m["has_tou"].equals(m["tariff_code"] == TARIFF_TOU, check_names=False)
    assert (m["installed_on"] < dt.date(DAY_BEFORE.year, 1, 1)).all()
    assert m["removed_on"].null_count() == m.height and m["final_wh"].null_count() == m.height
    assert (m["breaker_a"] == 60).all()


def test_a_non_direct_share_can_be_asked_for() -> None:
    share = (
        city(5_000, 1, DAY, non_direct_share=0.2).accounts["supply_type"] == "non_direct"
    ).mean()
    assert 0.17 < share < 0.23  # type: ignore[operator]


def test_household_means_are_in_range(town: synthetic.City) -> None:
    mean = town.households["mean_daily_wh"]
    assert mean.min() >= 3_000 and mean.max() <= 40_000  # type: ignore[operator]
    assert ((mean > 15_000).mean() or 0) < 0.02
    assert (mean % 10 == 0).all()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(InvalidInput):
        city(0, 1, DAY)
    with pytest.raises(InvalidInput):
        city(10, 1, DAY, non_direct_share=1.5)


def test_prior_state_is_one_real_day_per_account(town: synthetic.City, prior: pl.DataFrame) -> None:
    assert prior.height == town.size
    assert prior["account_id"].equals(town.accounts["id"], check_names=False)
    assert (prior["day"] == DAY_BEFORE).all()
    assert (prior["last_real_day"] == DAY_BEFORE).all()
    assert prior["last_real_wh"].equals(prior["reading_wh"], check_names=False)
    assert not prior["estimated"].any()
    assert (prior["window_days"] == 30).all()
    assert prior["run_id"].null_count() == prior.height
    window = town.households["mean_daily_wh"] * 30
    assert prior["window_energy_wh"].equals(window, check_names=False)
    assert (prior["window_charge_fen"] > 0).all()
    assert (prior["energy_wh"] <= prior["ytd_wh"]).all()
    meters = town.meters.select(pl.col("account_id"), "initial_wh")
    joined = prior.join(meters, on="account_id", validate="1:1")
    assert (joined["reading_wh"] >= joined["initial_wh"] + joined["ytd_wh"]).all()


def test_prior_state_reaches_every_tier(prior: pl.DataFrame) -> None:
    ytd = prior.filter(pl.col("tariff_code") == TARIFF_TIERED)["ytd_wh"]
    assert (ytd < 2_160_000).sum() > 0
    assert ((ytd >= 2_160_000) & (ytd < 3_120_000)).sum() > 0
    assert (ytd >= 3_120_000).sum() > 0


def test_prior_year_to_date_is_priced_exactly_and_rounded_once(
    prior: pl.DataFrame, tariffs: list[Tariff]
) -> None:
    in_force = {
        code: tariff_in_force(tariffs, code, DAY_BEFORE)
        for code in (TARIFF_TIERED, TARIFF_SHARED, TARIFF_TOU)
    }
    sample = pl.concat(
        [
            prior.filter(pl.col("tariff_code") == code).head(300)
            for code in (TARIFF_TIERED, TARIFF_SHARED, TARIFF_TOU)
        ]
    )
    for row in sample.iter_rows(named=True):
        tariff = in_force[row["tariff_code"]]
        has_tou = row["tariff_code"] == TARIFF_TOU
        ytd, energy = row["ytd_wh"], row["energy_wh"]
        registers = synthetic.ytd_registers(ytd, has_tou)
        assert row["ytd_cost_nyuan"] == day_cost_nyuan(tariff, 0, ytd, registers)
        assert row["ytd_charged_fen"] == fen_from_nyuan(row["ytd_cost_nyuan"])
        before = day_cost_nyuan(
            tariff, 0, ytd - energy, synthetic.ytd_registers(ytd - energy, has_tou)
        )
        assert row["charge_fen"] == row["ytd_charged_fen"] - fen_from_nyuan(before)
        assert row["charge_fen"] >= 0


def test_tou_registers_are_below_the_total_and_only_on_tou_meters(prior: pl.DataFrame) -> None:
    tou = prior["tariff_code"] == TARIFF_TOU
    on_registers = prior.select(pl.sum_horizontal(*(f"{r}_wh" for r in REGISTERS))).to_series()
    for r in REGISTERS:
        assert prior.filter(~tou)[f"{r}_wh"].null_count() == int((~tou).sum())
        assert prior.filter(tou)[f"{r}_wh"].null_count() == 0
    assert (on_registers.filter(tou) <= prior["reading_wh"].filter(tou)).all()


def test_registers_never_go_backwards_day_to_day(town: synthetic.City, prior: pl.DataFrame) -> None:
    registers = registers_from_usage(prior)
    for offset in range(5):
        day = DAY + dt.timedelta(days=offset)
        day_readings, after = readings(town, day, registers)
        assert day_readings.height == town.size
        assert (day_readings["day"] == day).all()
        joined = after.join(registers, on="meter_id", suffix="_before", validate="1:1")
        for column in ("total_wh", *(f"{r}_wh" for r in REGISTERS)):
            rise = (joined[column] - joined[f"{column}_before"]).drop_nulls()
            assert (rise >= 0).all(), column
        delta_total = joined["total_wh"] - joined["total_wh_before"]
        delta_registers = joined.select(
            pl.sum_horizontal(*(pl.col(f"{r}_wh") - pl.col(f"{r}_wh_before") for r in REGISTERS))
        ).to_series()
        assert (delta_registers <= delta_total).all()
        on_registers = after.select(pl.sum_horizontal(*(f"{r}_wh" for r in REGISTERS)))
        assert (on_registers.to_series() <= after["total_wh"]).all()
        assert (delta_total % 10 == 0).all()
        registers = after


def test_missing_readings_are_dropped_but_the_meters_keep_counting(
    town: synthetic.City, prior: pl.DataFrame
) -> None:
    before = registers_from_usage(prior)
    some, after = readings(town, DAY, before, missing_share=0.1)
    every, after_all = readings(town, DAY, before)
    assert 0.08 < 1 - some.height / town.size < 0.12
    assert after.equals(after_all)
    assert some.join(every, on=list(every.columns), how="anti", nulls_equal=True).height == 0


def test_opening_payments_are_whole_yuan_from_30_to_300(town: synthetic.City) -> None:
    payments = opening_payments(town, 5)
    assert payments.columns == ["account_id", "amount_fen"]
    assert payments.height == town.size
    amount = payments["amount_fen"]
    assert amount.min() >= 3_000 and amount.max() <= 30_000  # type: ignore[operator]
    assert (amount % 100 == 0).all()


def test_payment_transfers_are_counter_payments_with_bench_ids(town: synthetic.City) -> None:
    at = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    frame = synthetic.payment_transfers(town, opening_payments(town, 5), DAY_BEFORE, at)
    first = frame.row(0, named=True)
    assert first["id"] == f"pay/counter/bench-{first['account_id']:010d}"
    assert first["kind"] == "payment" and first["channel"] == "counter"
    assert first["credit_account_id"] == first["account_id"]
    assert first["created_at"] == dt.datetime(2026, 11, 25, 2, 0)
    assert frame["id"].is_unique().all()


@given(
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    stream=st.integers(min_value=0, max_value=64),
    keys=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=20),
    day=st.integers(min_value=1, max_value=800_000),
)
def test_the_stepwise_uniform_draws_the_same_numbers_as_the_expression(
    seed: int, stream: int, keys: list[int], day: int
) -> None:
    frame = pl.DataFrame({"meter_id": pl.Series(keys, dtype=pl.Int64)})
    both = (pl.col("meter_id"), pl.lit(day))
    expected = frame.select(synthetic._uniform(seed, stream, *both)).to_series()
    assert synthetic._uniform_of(frame, seed, stream, *both).to_list() == expected.to_list()
    one = frame.select(synthetic._uniform(seed, stream, pl.col("meter_id"))).to_series()
    assert synthetic._uniform_of(frame, seed, stream, pl.col("meter_id")).to_list() == one.to_list()
