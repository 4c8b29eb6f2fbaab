"""A catch-up night is fair (``services.night``): when several days are settled at once, the
policy judges each day in order, so the customer hears what the nights we missed would have
told them, and the notice period runs from the notice actually sent."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.config import Settings
from gridpay.domain.messages import MessageKind
from gridpay.domain.payments import TakePayment
from gridpay.services.credit import Policy, judge_all
from gridpay.services.night import run_night
from gridpay.services.payments import take_payment
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import add_city, add_readings

POLICY = Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings())
D0 = dt.date(2026, 11, 2)  # a Monday: the base reading
# Eight days of 10 kWh (5.60 yuan at tier 1) build the account's average; the outage's five
# days then use 10, 10, 20, 20, 20 kWh: from six days of credit (33.60 yuan) to -11.20 yuan.
HISTORY_KWH = (10,) * 8
OUTAGE_KWH = (10, 10, 20, 20, 20)
PAID_YUAN = "78.40"  # eight days of 5.60 yuan, and six more
ACCOUNT = 1


def _day(offset: int) -> dt.date:
    return D0 + dt.timedelta(days=offset)


def _readings(store, kwh: tuple[int, ...]) -> None:
    register_kwh = 1_000
    add_readings(store, [ACCOUNT], D0, **{str(ACCOUNT): register_kwh * 1_000})
    for offset, used in enumerate(kwh, start=1):
        register_kwh += used
        add_readings(store, [ACCOUNT], _day(offset), **{str(ACCOUNT): register_kwh * 1_000})


def _night_after(store, clock, offset: int) -> None:
    """The night owed the morning after ``_day(offset)``, at ten (a cut window on a work day)."""
    clock.set(local(_day(offset + 1), 10))
    run_night(store, clock, POLICY)


def _messages(store):
    with store.unit_of_work() as uow:
        frame = uow.outbox.list(ACCOUNT, None, None, 100)
    return frame.sort("id")


def _kinds(store) -> list[str]:
    return _messages(store)["kind"].to_list()


@pytest.fixture
def account_before_the_outage(store, clock):
    """One household settled night by night through its history, with six days of credit."""
    add_city(store, 1)
    clock.set(local(D0, 9))
    take_payment(store, clock, Settings(), TakePayment(f"{ACCOUNT:010d}", PAID_YUAN, "app", "P1"))
    _readings(store, HISTORY_KWH + OUTAGE_KWH)
    for offset in range(len(HISTORY_KWH) + 1):
        _night_after(store, clock, offset)
    with store.unit_of_work() as uow:
        assert uow.ledger.balance_fen(ACCOUNT) == 3_360
    assert _kinds(store) == []
    return ACCOUNT


def test_a_five_day_catch_up_into_arrears_warns_then_notifies_with_a_pay_by_from_today(
    store, clock, account_before_the_outage
):
    outage_first = len(HISTORY_KWH) + 1
    catch_up_day = _day(outage_first + len(OUTAGE_KWH))  # the nights missed are owed today
    clock.set(local(catch_up_day, 10))
    night = run_night(store, clock, POLICY)

    assert night.days == tuple(_day(outage_first + i) for i in range(len(OUTAGE_KWH)))
    assert _kinds(store) == [MessageKind.WARNING.value, MessageKind.ARREARS.value]
    sent = _messages(store)
    assert sent["created_at"].to_list() == [clock.now(), clock.now()]  # sent now, not back-dated
    with store.unit_of_work() as uow:
        state = uow.credit.state_of(ACCOUNT)
        assert uow.ledger.balance_fen(ACCOUNT) == -1_120
    assert state is not None and state.state == "arrears"
    assert state.notice_at == clock.now()
    pay_by = catch_up_day + dt.timedelta(days=POLICY.policy.notice_days)
    assert state.pay_by == pay_by  # from the day it is sent, not the past day that tipped it
    body = sent.filter(sent["kind"] == MessageKind.ARREARS.value)["body"].item()
    assert f"{pay_by.month}月{pay_by.day}日" in body
    assert night.credit is not None
    assert night.credit.counts == {"warn": 1, "notice": 1}


def test_no_cut_before_the_full_notice_period_after_a_catch_up_notice(
    store, clock, account_before_the_outage
):
    outage_first = len(HISTORY_KWH) + 1
    catch_up_day = _day(outage_first + len(OUTAGE_KWH))
    clock.set(local(catch_up_day, 10))
    run_night(store, clock, POLICY)
    pay_by = catch_up_day + dt.timedelta(days=POLICY.policy.notice_days)
    register_kwh = 1_000 + sum(HISTORY_KWH + OUTAGE_KWH)
    day = catch_up_day
    while day < pay_by + dt.timedelta(days=1):
        register_kwh += 10
        add_readings(store, [ACCOUNT], day, **{str(ACCOUNT): register_kwh * 1_000})
        day += dt.timedelta(days=1)
        clock.set(local(day, 10))
        run_night(store, clock, POLICY)
        cut_soon = MessageKind.CUT_SOON.value in _kinds(store)
        assert cut_soon == (day > pay_by), (day, pay_by)  # the second notice opens the cut


@pytest.mark.parametrize("catch_up", [True, False], ids=["catch-up", "night-by-night"])
def test_a_catch_up_tells_the_customer_what_the_nights_missed_would_have(
    store, clock, account_before_the_outage, catch_up
):
    outage_first = len(HISTORY_KWH) + 1
    if catch_up:
        clock.set(local(_day(outage_first + len(OUTAGE_KWH)), 10))
        run_night(store, clock, POLICY)
    else:
        for offset in range(outage_first, outage_first + len(OUTAGE_KWH)):
            _night_after(store, clock, offset)
    assert _kinds(store) == [MessageKind.WARNING.value, MessageKind.ARREARS.value]
    judge_all(store, clock, POLICY)  # judged again: nothing said again
    assert _kinds(store) == [MessageKind.WARNING.value, MessageKind.ARREARS.value]
