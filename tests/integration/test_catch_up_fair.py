"""A catch-up night is fair (``services.night``): when several days are settled at once, the
policy judges each day in order, so the customer hears what the nights we missed would have
told them, and the notice period runs from the notice actually sent."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.config import Settings
from gridpay.domain.messages import MessageKind
from gridpay.domain.payments import TakePayment
from gridpay.services.credit import Policy, judge_all
from gridpay.services.night import run_night
from gridpay.services.payments import take_payment
from tests.fakes import FakeClock
from tests.integration.credit_helpers import local, send_messages
from tests.integration.settle_helpers import add_city, add_readings, fresh_sqlite_store

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
    send_messages(store, clock)  # the notice delivered at once
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


# --- the property: a catch-up says what the nights would have, in the same order -------------

SAYS = (MessageKind.WARNING.value, MessageKind.ARREARS.value)


def _city_lives(store, clock, paid_yuan: list[int], outage_kwh: list[list[int]], catch_up: bool):
    """Households with ``paid_yuan`` live the history night by night, then the outage's days
    (``outage_kwh[day][household]``) in one catch-up or night by night; what each was told."""
    ids = add_city(store, len(paid_yuan))
    clock.set(local(D0, 9))
    for account_id, yuan in zip(ids, paid_yuan, strict=True):
        if yuan:
            take_payment(
                store,
                clock,
                Settings(),
                TakePayment(f"{account_id:010d}", str(yuan), "app", f"P{account_id}"),
            )
    registers = dict.fromkeys(ids, 1_000)
    days = len(HISTORY_KWH) + len(outage_kwh)
    for offset in range(days + 1):
        used = HISTORY_KWH[0] if offset <= len(HISTORY_KWH) else 0
        for i, account_id in enumerate(ids):
            if offset > len(HISTORY_KWH):
                used = outage_kwh[offset - len(HISTORY_KWH) - 1][i]
            registers[account_id] += used if offset else 0
        add_readings(
            store, ids, _day(offset), **{str(a): kwh * 1_000 for a, kwh in registers.items()}
        )
    for offset in range(len(HISTORY_KWH) + 1):
        _night_after(store, clock, offset)
    if catch_up:
        clock.set(local(_day(days + 1), 10))
        run_night(store, clock, POLICY)
    else:
        for offset in range(len(HISTORY_KWH) + 1, days + 1):
            _night_after(store, clock, offset)
    with store.unit_of_work() as uow:
        sent = uow.outbox.list(None, None, None, 1_000).sort("id")
        states = {a: uow.credit.state_of(a) for a in ids}
    told = {
        a: [k for k in sent.filter(sent["account_id"] == a)["kind"].to_list() if k in SAYS]
        for a in ids
    }
    return told, states


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    paid_yuan=st.lists(st.integers(50, 120), min_size=6, max_size=6),
    outage_kwh=st.integers(2, 5).flatmap(
        lambda days: st.lists(
            st.lists(st.integers(0, 50), min_size=6, max_size=6), min_size=days, max_size=days
        )
    ),
)
def test_a_catch_up_tells_each_household_what_each_night_would_have_in_order(
    tmp_path_factory, paid_yuan, outage_kwh
):
    told = {}
    for catch_up in (True, False):
        clock = FakeClock()
        store = fresh_sqlite_store(tmp_path_factory.mktemp("city") / "city.db", clock)
        try:
            told[catch_up], states = _city_lives(store, clock, paid_yuan, outage_kwh, catch_up)
        finally:
            store.dispose()
        if catch_up:
            today = clock.today()
            for state in states.values():
                if state is not None and state.notice_at == clock.now():
                    assert state.pay_by == today + dt.timedelta(POLICY.policy.notice_days)
    assert told[True] == told[False]
