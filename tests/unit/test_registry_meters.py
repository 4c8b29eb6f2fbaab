"""Meter replacement rules: one meter in service, dates and registers that make sense."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gridpay.domain.registry import (
    Meter,
    MeterUse,
    ReplaceMeter,
    account_id_from_no,
    check_meter_use,
    meter_id_from_no,
    plan_meter_replacement,
    replacement_already_recorded,
)
from gridpay.errors import InvalidInput, Refused

TODAY = dt.date(2026, 11, 28)
OLD = Meter(
    id=202208310002,
    meter_no="202208310002",
    account_id=42,
    has_tou=True,
    has_switch=True,
    breaker_a=40,
    installed_on=dt.date(2024, 3, 1),
    initial_wh=1_000,
)
CMD = ReplaceMeter(
    account_id=42,
    old_final_wh=5_432_100,
    new_meter_no="202611200001",
    new_initial_wh=10,
    day=dt.date(2026, 11, 20),
)


def test_replacement_removes_the_old_meter_and_installs_the_new_one_the_same_day() -> None:
    plan = plan_meter_replacement(CMD, [OLD], TODAY)
    assert plan.removed == replace(OLD, removed_on=CMD.day, final_wh=5_432_100)
    assert plan.installed.id == 202611200001
    assert plan.installed.account_id == 42
    assert plan.installed.installed_on == CMD.day
    assert plan.installed.initial_wh == 10
    assert plan.installed.in_service


def test_the_new_meter_copies_the_old_ones_options_unless_told() -> None:
    plan = plan_meter_replacement(CMD, [OLD], TODAY)
    assert (plan.installed.has_tou, plan.installed.has_switch, plan.installed.breaker_a) == (
        True,
        True,
        40,
    )
    told = replace(CMD, new_has_tou=False, new_has_switch=False, new_breaker_a=60)
    plan = plan_meter_replacement(told, [OLD], TODAY)
    assert (plan.installed.has_tou, plan.installed.has_switch, plan.installed.breaker_a) == (
        False,
        False,
        60,
    )


def test_an_account_without_a_meter_in_service_is_refused() -> None:
    gone = replace(OLD, removed_on=dt.date(2025, 1, 1), final_wh=2_000)
    with pytest.raises(Refused, match="no meter in service"):
        plan_meter_replacement(CMD, [gone], TODAY)


def test_two_meters_in_service_are_refused_not_guessed() -> None:
    other = replace(OLD, id=1, meter_no="000000000001")
    with pytest.raises(Refused, match="2 meters in service"):
        plan_meter_replacement(CMD, [OLD, other], TODAY)


def test_a_replacement_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput, match="in the future"):
        plan_meter_replacement(replace(CMD, day=TODAY + dt.timedelta(days=1)), [OLD], TODAY)


def test_a_replacement_before_the_old_meter_was_installed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="before meter 202208310002 was installed"):
        plan_meter_replacement(replace(CMD, day=dt.date(2024, 2, 29)), [OLD], TODAY)


def test_a_final_reading_below_the_installation_reading_is_refused() -> None:
    with pytest.raises(InvalidInput, match="below its reading at installation"):
        plan_meter_replacement(replace(CMD, old_final_wh=999), [OLD], TODAY)


def test_a_negative_initial_reading_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot be negative"):
        plan_meter_replacement(replace(CMD, new_initial_wh=-10), [OLD], TODAY)


def test_a_meter_that_was_already_on_the_account_cannot_come_back() -> None:
    with pytest.raises(Refused, match="already been on account 0000000042"):
        plan_meter_replacement(replace(CMD, new_meter_no=OLD.meter_no), [OLD], TODAY)


def test_a_retry_of_a_recorded_replacement_is_recognised() -> None:
    plan = plan_meter_replacement(CMD, [OLD], TODAY)
    after = [plan.removed, plan.installed]
    assert replacement_already_recorded(CMD, after)
    assert not replacement_already_recorded(replace(CMD, new_initial_wh=11), after)
    assert not replacement_already_recorded(CMD, [OLD])


def test_readings_after_the_day_show_the_old_meter_was_still_in_service() -> None:
    plan = plan_meter_replacement(CMD, [OLD], TODAY)
    with pytest.raises(Refused, match="2 reading\\(s\\) after 2026-11-20"):
        check_meter_use(plan, MeterUse(None, 2, None))


def test_days_settled_after_the_replacement_are_not_rewritten() -> None:
    plan = plan_meter_replacement(CMD, [OLD], TODAY)
    with pytest.raises(Refused, match="settled through 2026-11-21"):
        check_meter_use(plan, MeterUse(None, 0, dt.date(2026, 11, 21)))
    check_meter_use(plan, MeterUse(None, 0, CMD.day))  # the day itself was billed on the old one


def test_a_final_reading_below_a_stored_reading_is_refused() -> None:
    plan = plan_meter_replacement(CMD, [OLD], TODAY)
    with pytest.raises(InvalidInput, match="below its last stored reading \\(5432.11 kWh\\)"):
        check_meter_use(plan, MeterUse(5_432_110, 0, None))
    check_meter_use(plan, MeterUse(5_432_100, 0, None))


def test_typed_numbers_become_ids() -> None:
    assert account_id_from_no("0000000042") == 42
    assert account_id_from_no("42") == 42
    assert meter_id_from_no("002022083100") == 2022083100
    with pytest.raises(InvalidInput):
        account_id_from_no("12345678901")
    with pytest.raises(InvalidInput):
        account_id_from_no("４２")  # full-width digits are not ASCII digits
    with pytest.raises(InvalidInput):
        meter_id_from_no("2022083100")
