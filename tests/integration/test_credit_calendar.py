"""The credit policy with the real holiday calendar: a due cut is made on a make-up working day
and held on a public holiday, a weekend and at night, with the calendar's reason."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.config import Settings
from gridpay.domain.credit_policy import INPUT_SCHEMA
from gridpay.domain.credit_rules import evaluate
from gridpay.services.credit import Policy, context
from tests.fakes import FakeClock


def due_account(pay_by: dt.date, second_notice_at: dt.datetime) -> pl.DataFrame:
    row = {
        "account_id": 9,
        "meter_id": 100_000_000_009,
        "has_switch": True,
        "balance_fen": -500,
        "window_charge_fen": 9_000,
        "window_days": 30,
        "state": "arrears",
        "cycle": 1,
        "warned_at": None,
        "notice_at": second_notice_at - dt.timedelta(days=5),
        "pay_by": pay_by,
        "second_notice_at": second_notice_at,
        "supply": "on",
        "protected": None,
        "estimated_recent": False,
        "notice_delivered_at": second_notice_at - dt.timedelta(days=5),
    }
    return pl.DataFrame([row], schema=INPUT_SCHEMA)


def judge_at(local_wall: dt.datetime):
    at = local_wall.replace(tzinfo=dt.UTC) - dt.timedelta(hours=8)
    credit = Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings())
    ctx = context(FakeClock(at), credit)
    inputs = due_account(local_wall.date() - dt.timedelta(days=7), at - dt.timedelta(hours=1))
    return evaluate(inputs, credit.policy, ctx)


@pytest.mark.parametrize(
    "wall",
    [
        dt.datetime(2026, 10, 10, 10, 0),  # Saturday, a make-up working day for National Day
        dt.datetime(2026, 9, 20, 8, 0),  # Sunday, a make-up working day for Mid-Autumn
        dt.datetime(2026, 10, 9, 17, 59),  # Friday, a minute before the window closes
    ],
)
def test_a_due_cut_is_made_on_a_working_day_inside_the_window(wall):
    ev = judge_at(wall)
    assert ev.commands["action"].to_list() == ["disconnect"]


@pytest.mark.parametrize(
    ("wall", "reason"),
    [
        (
            dt.datetime(2026, 10, 1, 10, 0),
            "not cut on 2026-10-01: public holiday; next window 2026-10-08 08:00",
        ),
        (
            dt.datetime(2026, 9, 26, 10, 0),  # Saturday inside Mid-Autumn
            "not cut on 2026-09-26: public holiday; next window 2026-09-28 08:00",
        ),
        (
            dt.datetime(2026, 10, 11, 10, 0),  # an ordinary Sunday
            "not cut on 2026-10-11: weekend; next window 2026-10-12 08:00",
        ),
        (
            dt.datetime(2026, 10, 9, 18, 0),
            "not cut at 2026-10-09 18:00: outside 08:00-18:00; next window 2026-10-10 08:00",
        ),
        (
            dt.datetime(2027, 1, 4, 10, 0),  # a Monday of a year with no published schedule
            "not cut on 2027-01-04: no published holiday schedule for 2027; no window up to "
            "2027-02-04",
        ),
    ],
)
def test_a_due_cut_is_held_outside_the_windows_with_the_calendars_reason(wall, reason):
    ev = judge_at(wall)
    assert ev.commands.height == 0
    assert ev.decisions["reason"].to_list() == [reason]
