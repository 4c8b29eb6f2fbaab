"""The pure settlement kernel: pricing, cumulative rounding, validation and estimates."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpay.domain.ledger import REVENUE_ID, charge_id, credit_id
from gridpay.domain.money import fen_from_nyuan, parse_kwh
from gridpay.domain.settlement import charge_transfers
from gridpay.domain.tariff import day_cost_nyuan, parse_tariff
from tests.unit.kernel_helpers import account_row, run_days, settle_rows, shipped

TARIFFS = shipped()
TIERED = TARIFFS["henan-residential-tiered"]
DAY = dt.date(2026, 10, 15)


def continuing(ytd_wh: int, reading_wh: int, day: dt.date = DAY, **kw):
    """Input for an account settled yesterday at ``reading_wh`` with ``ytd_wh`` this year."""
    cost = day_cost_nyuan(TIERED, 0, ytd_wh)
    return account_row(
        prev_day=day - dt.timedelta(days=1),
        prev_meter_id=100_000_000_001,
        prev_reading_wh=reading_wh,
        prev_last_real_day=day - dt.timedelta(days=1),
        prev_last_real_wh=reading_wh,
        prev_ytd_wh=ytd_wh,
        prev_ytd_cost_nyuan=cost,
        prev_ytd_charged_fen=fen_from_nyuan(cost),
        prev_window_energy_wh=30 * 8_000,
        prev_window_charge_fen=30 * 450,
        prev_window_days=30,
        **kw,
    )


def test_worked_example_2100_kwh_then_100_kwh_is_charged_58_yuan() -> None:
    row = continuing(parse_kwh("2100"), 5_000_000, r_total_wh=5_000_000 + parse_kwh("100"))
    usage, quarantined = settle_rows([row], DAY, list(TARIFFS.values()))
    u = usage.row(0, named=True)
    assert (u["energy_wh"], u["charge_fen"], u["estimated"]) == (100_000, 5800, False)
    assert u["ytd_wh"] == parse_kwh("2200")
    assert quarantined.height == 0


def test_batch_matches_the_scalar_reference_for_many_accounts() -> None:
    rows, expected = [], {}
    for i in range(1, 400):
        ytd = (i * 7_919_000) % 5_000_000
        energy = (i * 3_137) % 60_000
        code = ["henan-residential-tiered", "henan-residential-shared"][i % 2]
        row = continuing(ytd, 1_000_000, r_total_wh=1_000_000 + energy, tariff_code=code)
        row["account_id"] = i
        row["prev_ytd_cost_nyuan"] = day_cost_nyuan(TARIFFS[code], 0, ytd)
        row["prev_ytd_charged_fen"] = fen_from_nyuan(row["prev_ytd_cost_nyuan"])
        rows.append(row)
        after = row["prev_ytd_cost_nyuan"] + day_cost_nyuan(TARIFFS[code], ytd, energy)
        expected[i] = fen_from_nyuan(after) - row["prev_ytd_charged_fen"]
    usage, _ = settle_rows(rows, DAY, list(TARIFFS.values()))
    got = dict(zip(usage["account_id"].to_list(), usage["charge_fen"].to_list(), strict=True))
    assert got == expected


def test_time_of_use_registers_are_priced_each_at_its_price() -> None:
    tou = TARIFFS["residential-tou-example"]
    regs_before = {"sharp": 1000, "peak": 2000, "flat": 3000, "valley": 4000}
    regs_after = {"sharp": 2000, "peak": 4000, "flat": 6000, "valley": 8000}
    row = continuing(0, 10_000, tariff_code=tou.code, r_total_wh=21_000)
    row["prev_ytd_cost_nyuan"] = row["prev_ytd_charged_fen"] = 0
    for r in regs_before:
        row[f"prev_{r}_wh"] = regs_before[r]
        row[f"r_{r}_wh"] = regs_after[r]
    usage, _ = settle_rows([row], DAY, list(TARIFFS.values()))
    deltas = {r: regs_after[r] - regs_before[r] for r in regs_before}
    assert usage["charge_fen"][0] == fen_from_nyuan(day_cost_nyuan(tou, 0, 11_000, deltas))


def test_register_going_backwards_is_quarantined_and_the_day_estimated() -> None:
    row = continuing(1_000_000, 5_000_000, r_total_wh=4_990_000)
    usage, quarantined = settle_rows([row], DAY, list(TARIFFS.values()))
    assert quarantined["reason_code"].to_list() == ["register_backwards"]
    assert "backwards" in quarantined["reason"][0]
    u = usage.row(0, named=True)
    assert u["estimated"] is True
    assert u["energy_wh"] == 8_000  # the 30-day average
    assert u["last_real_wh"] == 5_000_000


def test_jump_beyond_the_breaker_capacity_is_quarantined() -> None:
    capacity_wh = 60 * 220 * 24  # 316.8 kWh a day through a 60 A breaker
    ok = continuing(0, 1_000_000, r_total_wh=1_000_000 + capacity_wh)
    bad = continuing(0, 1_000_000, r_total_wh=1_000_000 + capacity_wh + 10, account_id=2)
    usage, quarantined = settle_rows([ok, bad], DAY, list(TARIFFS.values()))
    assert quarantined["account_id"].to_list() == [2]
    assert quarantined["reason_code"].to_list() == ["implausible_jump"]
    assert usage.filter(pl.col("account_id") == 1)["estimated"].to_list() == [False]


def test_missing_reading_is_estimated_from_the_recent_average_and_flagged() -> None:
    row = continuing(0, 1_000_000, r_total_wh=None)
    usage, quarantined = settle_rows([row], DAY, list(TARIFFS.values()))
    u = usage.row(0, named=True)
    assert (u["estimated"], u["energy_wh"], u["reading_wh"]) == (True, 8_000, 1_008_000)
    assert quarantined.height == 0


def test_new_account_without_history_is_estimated_from_the_tariff_default() -> None:
    row = account_row(meter_installed_on=DAY, meter_initial_wh=500, r_total_wh=None)
    usage, _ = settle_rows([row], DAY, list(TARIFFS.values()))
    assert usage["energy_wh"].to_list() == [TIERED.default_daily_wh]


def test_first_settled_day_without_a_baseline_only_records_the_register() -> None:
    row = account_row(r_total_wh=7_000_000)
    usage, _ = settle_rows([row], DAY, list(TARIFFS.values()))
    u = usage.row(0, named=True)
    assert (u["energy_wh"], u["charge_fen"], u["estimated"], u["reading_wh"]) == (
        0,
        0,
        False,
        7_000_000,
    )


def test_first_settled_day_uses_yesterdays_raw_reading_as_baseline() -> None:
    row = account_row(first_base_wh=6_990_000, r_total_wh=7_000_000)
    usage, _ = settle_rows([row], DAY, list(TARIFFS.values()))
    assert usage["energy_wh"].to_list() == [10_000]


def test_account_without_baseline_or_reading_waits_for_its_first_reading() -> None:
    usage, _ = settle_rows([account_row()], DAY, list(TARIFFS.values()))
    assert usage.height == 0


def test_replaced_meter_bills_the_old_meters_tail_and_the_new_meters_start() -> None:
    row = continuing(0, 5_000_000, r_total_wh=3_000, meter_initial_wh=1_000)
    row.update(meter_id=999, prev_meter_final_wh=5_004_000)
    usage, quarantined = settle_rows([row], DAY, list(TARIFFS.values()))
    assert quarantined.height == 0
    assert usage["energy_wh"].to_list() == [4_000 + 2_000]


def test_year_to_date_restarts_on_the_first_of_january() -> None:
    jan1 = dt.date(2027, 1, 1)
    row = continuing(parse_kwh("4000"), 9_000_000, day=jan1, r_total_wh=9_010_000)
    usage, _ = settle_rows([row], jan1, list(TARIFFS.values()))
    u = usage.row(0, named=True)
    assert (u["ytd_wh"], u["charge_fen"]) == (10_000, 560)  # tier 1 again


def test_estimate_then_real_reading_gives_the_same_total_as_real_readings_alone() -> None:
    start = continuing(0, 1_000_000)
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    real = [1_010_000, 1_015_000, 1_030_000, 1_031_000]
    clean = run_days(list(zip(days, real, strict=True)), list(TARIFFS.values()), start)
    gappy = run_days(
        list(zip(days, [real[0], None, None, real[3]], strict=True)), list(TARIFFS.values()), start
    )
    assert [u["estimated"] for u in gappy] == [False, True, True, False]
    assert sum(u["charge_fen"] for u in gappy) == sum(u["charge_fen"] for u in clean)
    assert gappy[-1]["ytd_wh"] == clean[-1]["ytd_wh"]
    assert gappy[-1]["ytd_charged_fen"] == clean[-1]["ytd_charged_fen"]


def test_charge_transfers_debit_the_customer_and_credits_give_back() -> None:
    usage = pl.DataFrame({"day": [DAY] * 3, "account_id": [7, 8, 9], "charge_fen": [120, 0, -35]})
    t = charge_transfers(usage)
    assert t["id"].to_list() == [charge_id(7, DAY), credit_id(9, DAY)]
    assert t["debit_account_id"].to_list() == [7, REVENUE_ID]
    assert t["credit_account_id"].to_list() == [REVENUE_ID, 9]
    assert t["amount_fen"].to_list() == [120, 35]


# --- the year adds up ----------------------------------------------------------------------

MID_YEAR = parse_tariff(
    {
        "code": TIERED.code,
        "effective_from": "2026-07-01",
        "prices": {"all": "0.5883"},
        "bands": [
            {"from_kwh": 2000, "to_kwh": 3000, "surcharge": "0.0517"},
            {"from_kwh": 3000, "surcharge": "0.3003"},
        ],
    }
)


def annual_bill_fen(daily: list[tuple[dt.date, int]], versions) -> int:
    """The year's bill computed directly: each tariff period's energy at its tier position."""
    total_nyuan, ytd = 0, 0
    for version in sorted(versions, key=lambda t: t.effective_from):
        later = [v.effective_from for v in versions if v.effective_from > version.effective_from]
        end = min(later) if later else dt.date.max
        period_wh = sum(e for d, e in daily if version.effective_from <= d < end)
        total_nyuan += day_cost_nyuan(version, ytd, period_wh)
        ytd += period_wh
    return fen_from_nyuan(total_nyuan)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=300_000), min_size=1, max_size=24),
    st.lists(st.integers(min_value=1, max_value=364), min_size=24, max_size=24, unique=True),
    st.booleans(),
)
def test_daily_charges_add_up_to_the_annual_bill_to_the_fen(energies, day_numbers, change) -> None:
    versions = [TIERED, MID_YEAR] if change else [TIERED]
    days = sorted(dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in day_numbers)[: len(energies)]
    start = account_row(
        meter_installed_on=dt.date(2025, 1, 1),
        prev_day=dt.date(2025, 12, 31),
        prev_meter_id=100_000_000_001,
        prev_reading_wh=0,
        prev_last_real_day=dt.date(2025, 12, 31),
        prev_last_real_wh=0,
        prev_ytd_wh=0,
        prev_ytd_cost_nyuan=0,
        prev_ytd_charged_fen=0,
        prev_window_energy_wh=0,
        prev_window_charge_fen=0,
        prev_window_days=0,
        breaker_a=10_000,  # no jump check in this property
    )
    registers, total = [], 0
    for e in energies:
        total += e
        registers.append(total)
    rows = run_days(list(zip(days, registers, strict=True)), versions, start)
    assert [r["energy_wh"] for r in rows] == energies
    assert all(r["charge_fen"] >= 0 for r in rows)
    daily = list(zip(days, energies, strict=True))
    assert sum(r["charge_fen"] for r in rows) == annual_bill_fen(daily, versions)


@pytest.mark.parametrize("ytd_kwh", ["2159.99", "2160", "3119.99", "3120"])
def test_tier_boundaries_are_priced_on_each_side(ytd_kwh: str) -> None:
    ytd = parse_kwh(ytd_kwh)
    row = continuing(ytd, 1_000_000, r_total_wh=1_000_000 + 20)
    usage, _ = settle_rows([row], DAY, list(TARIFFS.values()))
    after = row["prev_ytd_cost_nyuan"] + day_cost_nyuan(TIERED, ytd, 20)
    assert usage["charge_fen"][0] == fen_from_nyuan(after) - row["prev_ytd_charged_fen"]
