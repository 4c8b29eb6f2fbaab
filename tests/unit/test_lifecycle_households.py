"""The lifecycle's households: habits drawn per household, and how each habit answers an SMS."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.domain.messages import MessageKind
from gridpay.errors import InvalidInput
from gridpay.simulation import synthetic
from gridpay.simulation.lifecycle import _reaction, readings_file_rows

DAY = dt.date(2026, 9, 15)


def test_habits_are_drawn_near_their_shares_and_the_same_for_a_seed() -> None:
    town = synthetic.city(20_000, 7, DAY)
    habits = synthetic.payment_habits(town, 7)
    assert habits.equals(synthetic.payment_habits(town, 7))
    shares = dict(habits.group_by("habit").len().rows())
    for habit, permille in synthetic.HABIT_SHARES_PERMILLE:
        assert abs(shares[habit] / 20_000 * 1000 - permille) < 15, habit


def test_an_accounts_habit_does_not_depend_on_the_city_size() -> None:
    small = synthetic.payment_habits(synthetic.city(100, 3, DAY), 3)
    large = synthetic.payment_habits(synthetic.city(5_000, 3, DAY), 3).head(100)
    assert small.equals(large)


def test_only_protected_households_have_a_reason_and_a_trusted_phone() -> None:
    habits = synthetic.payment_habits(synthetic.city(3_000, 7, DAY), 7)
    protected = habits.filter(pl.col("habit") == synthetic.HABIT_PROTECTED)
    others = habits.filter(pl.col("habit") != synthetic.HABIT_PROTECTED)
    assert protected.height > 0
    assert set(protected["protection_reason"]) <= set(synthetic.PROTECTION_REASONS)
    assert protected["trusted_phone"].str.len_chars().to_list() == [11] * protected.height
    assert others["protection_reason"].null_count() == others.height
    assert others["trusted_phone"].null_count() == others.height


def test_habit_shares_above_a_thousand_per_mille_are_refused() -> None:
    with pytest.raises(InvalidInput):
        synthetic.payment_habits(
            synthetic.city(10, 7, DAY), 7, (("regular", 900), ("elderly", 200))
        )


@pytest.mark.parametrize(
    ("habit", "kind", "reaction"),
    [
        ("regular", MessageKind.WARNING, "now"),
        ("elderly", MessageKind.WARNING, "counter"),
        ("elderly", MessageKind.ARREARS, "counter"),
        ("last_minute", MessageKind.WARNING, None),
        ("last_minute", MessageKind.ARREARS, "pay_by"),
        ("forgetful", MessageKind.WARNING, None),
        ("forgetful", MessageKind.CUT_SOON, None),
        ("protected", MessageKind.ARREARS, None),
        ("protected", MessageKind.TRUSTED_CONTACT, "family"),
        ("regular", MessageKind.RESTORED, None),
    ],
)
def test_each_habit_answers_its_own_sms(
    habit: str, kind: MessageKind, reaction: str | None
) -> None:
    assert _reaction(habit, kind) == reaction


def test_the_readings_file_keeps_duplicates_and_adds_an_unknown_meter() -> None:
    readings = pl.DataFrame(
        {
            "day": [DAY, DAY],
            "meter_id": [202400000001, 202400000001],
            "total_wh": [1_234_560, 1_234_560],
            **{f"{r}_wh": [None, None] for r in ("sharp", "peak", "flat", "valley")},
        },
        schema=synthetic.READING_SCHEMA,
    )
    rows = readings_file_rows(readings, extra_unknown_meter=DAY)
    assert rows["meter_no"].to_list() == ["202400000001", "202400000001", "999999999999"]
    assert rows["total_kwh"].to_list()[:2] == ["1234.560", "1234.560"]
    assert rows["row_no"].to_list() == [1, 2, 3]
