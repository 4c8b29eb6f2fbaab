"""The kernel from an agreement's opening position: the tier year carried over from monthly
billing, the opening register as baseline, an earlier agreement's rows ignored."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gridpay.domain.money import fen_from_nyuan
from gridpay.domain.tariff import day_cost_nyuan
from tests.unit.kernel_helpers import account_row, prev_from_usage, run_days, settle_rows, shipped

TARIFF = shipped()["henan-residential-tiered"]
TARIFFS = [TARIFF]
START = dt.date(2026, 12, 1)


@settings(max_examples=30, deadline=None)
@given(
    opening_ytd_wh=st.integers(0, 8_000_000),
    opening_wh=st.integers(0, 99_000_000),
    days_wh=st.lists(st.integers(0, 40_000), min_size=1, max_size=20),
)
def test_the_charges_from_an_opening_position_are_the_exact_cost_above_it_rounded_once(
    opening_ytd_wh: int, opening_wh: int, days_wh: list[int]
) -> None:
    # Monthly billing billed the year up to ``opening_ytd_wh``; the prepaid side charges the
    # rest of the year: the cost of the energy above that position, to the fen, whatever tiers
    # the days cross, and the year-to-date position goes on from it.
    readings, register_wh = [], opening_wh
    for i, energy_wh in enumerate(days_wh):
        register_wh += energy_wh
        readings.append((START + dt.timedelta(days=i), register_wh))
    start = account_row(agreement_from=START, opening_wh=opening_wh, opening_ytd_wh=opening_ytd_wh)

    rows = run_days(readings, TARIFFS, start)

    total_wh = sum(days_wh)
    assert [r["energy_wh"] for r in rows] == days_wh
    assert rows[-1]["ytd_wh"] == opening_ytd_wh + total_wh
    exact_nyuan = day_cost_nyuan(TARIFF, opening_ytd_wh, total_wh)
    assert sum(r["charge_fen"] for r in rows) == fen_from_nyuan(exact_nyuan)
    assert all(r["charge_fen"] >= 0 for r in rows)


def test_a_position_from_the_year_before_does_not_carry_into_the_new_tier_year() -> None:
    # Enrolled on 1 January: monthly billing's year-to-date closed the old tier year.
    new_year = dt.date(2027, 1, 1)
    row = account_row(
        agreement_from=new_year, opening_wh=1_000_000, opening_ytd_wh=6_700_000,
        r_total_wh=1_020_000,
    )  # fmt: skip
    usage, _ = settle_rows([row], new_year, TARIFFS)
    assert usage.row(0, named=True)["charge_fen"] == 1120
    assert usage.row(0, named=True)["ytd_wh"] == 20_000


def test_the_first_day_of_a_new_agreement_does_not_start_from_the_old_agreements_last_row() -> None:
    away_from, back = dt.date(2026, 11, 20), dt.date(2026, 12, 10)
    last, _ = settle_rows(
        [account_row(prev_day=None, first_base_wh=500_000, r_total_wh=510_000)],
        away_from,
        TARIFFS,
    )
    old = prev_from_usage(last.row(0, named=True))
    # Without a position, the reading of the day before is the baseline; with one, the opening.
    for extra in ({"first_base_wh": 900_000}, {"opening_wh": 900_000, "opening_ytd_wh": 3_000_000}):
        row = account_row(agreement_from=back, r_total_wh=920_000, **old, **extra)
        usage, _ = settle_rows([row], back, TARIFFS)
        assert usage.row(0, named=True)["energy_wh"] == 20_000, extra
        assert usage.row(0, named=True)["starts_run"]
