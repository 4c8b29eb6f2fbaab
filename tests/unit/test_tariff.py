from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.domain.money import fen_from_nyuan, parse_kwh
from gridpay.domain.tariff import (
    annual_cost_nyuan,
    band_surcharge_expr,
    band_surcharge_nyuan,
    day_cost_nyuan,
    parse_tariff,
    tariff_in_force,
    tariff_price_frame,
)
from gridpay.errors import InvalidInput


@pytest.fixture(scope="module")
def tariffs():
    return {t.code: t for t, _ in shipped_tariffs()}


def test_worked_example_2100_kwh_ytd_plus_100_kwh_costs_58_yuan(tariffs) -> None:
    tiered = tariffs["henan-residential-tiered"]
    cost = day_cost_nyuan(tiered, ytd_before_wh=parse_kwh("2100"), energy_wh=parse_kwh("100"))
    assert fen_from_nyuan(cost) == 5800


def test_tier_prices_are_056_061_086(tariffs) -> None:
    tiered = tariffs["henan-residential-tiered"]
    assert fen_from_nyuan(annual_cost_nyuan(tiered, parse_kwh("2160"))) == 120960
    # 2160*0.56 + 960*0.61 + 1000*0.86
    assert fen_from_nyuan(annual_cost_nyuan(tiered, parse_kwh("4120"))) == 120960 + 58560 + 86000


def test_shared_meter_is_flat_0568(tariffs) -> None:
    shared = tariffs["henan-residential-shared"]
    assert fen_from_nyuan(day_cost_nyuan(shared, parse_kwh("5000"), parse_kwh("10"))) == 568


def test_tou_prices_each_register_and_the_rest_at_flat(tariffs) -> None:
    tou = tariffs["residential-tou-example"]
    regs = {"sharp": 1000, "peak": 2000, "flat": 3000, "valley": 4000}
    cost = day_cost_nyuan(tou, 0, 11_000, regs)
    expected = 1000 * 1_059_500 + 2000 * 946_400 + 3000 * 560_000 + 4000 * 300_000 + 1000 * 560_000
    assert cost == expected


def test_vectorised_surcharge_matches_the_scalar_reference(tariffs) -> None:
    prices = tariff_price_frame(list(tariffs.values()))
    ytd = [0, 1, 2_159_999, 2_160_000, 2_160_001, 3_120_000, 9_999_999_999]
    frame = prices.join(pl.DataFrame({"ytd_wh": ytd}), how="cross")
    got = frame.with_columns(s=band_surcharge_expr(pl.col("ytd_wh")))
    for row in got.iter_rows(named=True):
        bands = tariffs[row["tariff_code"]].bands
        assert row["s"] == band_surcharge_nyuan(bands, row["ytd_wh"])


def test_version_in_force_is_the_latest_started(tariffs) -> None:
    base = tariffs["henan-residential-tiered"]
    newer = parse_tariff(
        {"code": base.code, "effective_from": "2026-07-01", "prices": {"all": "0.60"}}
    )
    versions = [base, newer]
    assert tariff_in_force(versions, base.code, dt.date(2026, 6, 30)) is base
    assert tariff_in_force(versions, base.code, dt.date(2026, 7, 1)) is newer
    with pytest.raises(InvalidInput):
        tariff_in_force(versions, base.code, dt.date(2000, 1, 1))


@pytest.mark.parametrize(
    "data",
    [
        {"effective_from": "2026-01-01", "prices": {"all": "0.5"}},
        {"code": "x", "effective_from": "yesterday", "prices": {"all": "0.5"}},
        {"code": "x", "effective_from": "2026-01-01", "prices": {"peak": "0.5"}},
        {"code": "x", "effective_from": "2026-01-01", "prices": {"all": "0.1234567"}},
        {
            "code": "x",
            "effective_from": "2026-01-01",
            "prices": {"all": "0.5"},
            "bands": [{"from_kwh": 10, "to_kwh": 5, "surcharge": "0.1"}],
        },
    ],
)
def test_malformed_tariffs_are_refused_with_a_reason(data) -> None:
    with pytest.raises(InvalidInput):
        parse_tariff(data)
