"""The credit policy against a real database: warned, noticed, cut only in a window, restored by
the payment's own transaction, and every step explained."""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.config import Settings
from gridpay.domain.payments import Reverse, TakePayment
from gridpay.services.credit import explain, judge_all
from gridpay.services.payments import reverse, take_payment
from gridpay.services.settlement import settle_day
from tests.integration.credit_helpers import (
    BROKE,
    GUARDED,
    LOW,
    RICH,
    commands,
    cut_off_broke,
    local,
    messages,
    send_messages,
    state,
)
from tests.integration.settle_helpers import add_readings


def test_after_settlement_low_balances_are_warned_and_debts_noticed(store, clock, credit, city):
    report = judge_all(store, clock, credit)
    assert report.judged == 3  # the rich household is screened out in SQL
    assert report.counts == {"notice": 2, "warn": 1}
    assert state(store, LOW).state == "warned"
    assert state(store, RICH) is None  # never near a threshold: never needed a state
    broke = state(store, BROKE)
    assert (broke.state, broke.pay_by) == ("arrears", dt.date(2026, 12, 5))
    low = messages(store, LOW)
    assert low["kind"].to_list() == ["warning"]
    assert low["phone"].to_list() == ["13800000001"]
    assert "可用余额-" in messages(store, BROKE)["body"][0]
    assert "请于12月5日前缴费" in messages(store, BROKE)["body"][0]
    guarded = messages(store, GUARDED).sort("kind")
    assert guarded.select("kind", "phone", "language").rows() == [
        ("agreement", "13800000004", "zh"),
        ("arrears", "13800000004", "zh"),
        ("trusted_contact", "13900000004", "en"),
    ]


def test_judging_twice_sends_nothing_twice(store, clock, credit, city):
    judge_all(store, clock, credit)
    again = judge_all(store, clock, credit)
    assert again.messages == 0 and again.commands == 0
    with store.unit_of_work() as uow:
        assert (
            uow.outbox.list(None, None, None, 100).height == 5
        )  # 3 notices, 1 agreement, 1 warning


def test_the_cut_waits_for_the_pay_by_date_and_a_working_day_window(store, clock, credit, city):
    judge_all(store, clock, credit)  # notice on 2 Dec, pay by 5 Dec (a Saturday)
    send_messages(store, clock)
    clock.set(local(dt.date(2026, 12, 5), 10))
    judge_all(store, clock, credit)
    assert commands(store, BROKE).height == 0  # still the pay-by date
    clock.set(local(dt.date(2026, 12, 6), 10))  # Sunday: no cut
    judge_all(store, clock, credit)
    assert commands(store, BROKE).height == 0
    result = explain(store, clock, credit, f"{BROKE:010d}", 10)
    assert result.decisions["reason"][0] == (
        "not cut on 2026-12-06: weekend; next window 2026-12-07 08:00"
    )
    clock.set(local(dt.date(2026, 12, 7), 7, 30))  # Monday before the window
    judge_all(store, clock, credit)
    assert commands(store, BROKE).height == 0
    clock.set(local(dt.date(2026, 12, 7), 8, 0))
    judge_all(store, clock, credit)
    assert messages(store, BROKE)["kind"].to_list() == ["cut_soon", "arrears"]
    assert commands(store, BROKE).height == 0  # the second notice first
    clock.set(local(dt.date(2026, 12, 7), 8, 30))
    judge_all(store, clock, credit)
    cut = commands(store, BROKE)
    assert cut.select("correlation_id", "action", "state").rows() == [
        ("disconnect/0000000003/0", "disconnect", "queued")
    ]
    assert state(store, BROKE).state == "disconnecting"
    # the protected customer is never cut: a staff task instead
    assert commands(store, GUARDED).height == 0
    with store.unit_of_work() as uow:
        tasks = uow.credit.staff_tasks(True, 10)
    assert tasks.select("account_id", "kind").rows() == [(GUARDED, "protected")]


def test_a_payment_restores_in_its_own_transaction(store, clock, credit, city):
    cut_off_broke(store, clock, credit)
    assert state(store, BROKE).state == "disconnected"

    clock.set(local(dt.date(2026, 12, 7), 19, 0))  # evening: restoring is always allowed
    receipt = take_payment(
        store,
        clock,
        Settings(),
        TakePayment(f"{BROKE:010d}", "100", "counter", "C9", office_id=2),
        credit,
    )
    assert receipt.balance_fen > 0
    queued = commands(store, BROKE).filter(pl.col("action") == "reconnect")
    assert queued.select("correlation_id", "priority", "state").rows() == [
        ("reconnect/0000000003/0", 0, "queued")
    ]
    assert queued["created_at"][0] == clock.now()
    restored = messages(store, BROKE).filter(pl.col("kind") == "restored")
    assert "您已缴费100.00元，可用余额92.04元" in restored["body"][0]
    assert state(store, BROKE).state == "reconnecting"
    with store.unit_of_work() as uow:
        uow.credit.confirm_supply(BROKE, "on", clock.now())
        uow.commit()
    assert (state(store, BROKE).state, state(store, BROKE).cycle) == ("normal", 1)
    actions = explain(store, clock, credit, f"{BROKE:010d}", 20).decisions["action"].to_list()
    assert actions[:3] == ["confirmed", "restore", "confirmed"]
    assert "cut" in actions and "notice" in actions


def test_a_retried_payment_queues_nothing_more(store, clock, credit, city):
    judge_all(store, clock, credit)
    cmd = TakePayment(f"{BROKE:010d}", "100", "bank", "B1")
    take_payment(store, clock, Settings(), cmd, credit)
    take_payment(store, clock, Settings(), cmd, credit)
    assert state(store, BROKE).state == "normal"
    assert commands(store, BROKE).height == 0  # never cut: nothing to reconnect


def test_a_reversed_payment_puts_the_account_in_arrears_at_once(store, clock, credit, city):
    judge_all(store, clock, credit)
    assert state(store, RICH) is None  # 1,000 yuan: never near a threshold
    with store.unit_of_work() as uow:
        paid = uow.ledger.balance_fen(RICH)
    reverse(store, clock, Reverse(f"pay/app/P{RICH}"), credit)
    assert state(store, RICH).state == "arrears"  # the reversal's own transaction decided
    notice = messages(store, RICH)
    assert notice["kind"].to_list() == ["arrears"]
    again = TakePayment(f"{RICH:010d}", "1000", "app", f"P{RICH}-again")
    assert take_payment(store, clock, Settings(), again, credit).balance_fen == paid
    assert state(store, RICH).state == "normal"  # back in credit: arrears ended at once


def test_a_cut_resting_on_a_day_estimated_since_the_notice_is_held_for_a_reading(
    store, clock, credit, city
):
    judge_all(store, clock, credit)  # notice on 2 Dec, pay by 5 Dec
    d2 = dt.date(2026, 12, 2)
    add_readings(store, city, d2, skip={BROKE})  # BROKE's meter is silent: 2 Dec is estimated
    clock.set(local(d2 + dt.timedelta(days=1), 2))
    settle_day(store, clock, d2)
    clock.set(local(dt.date(2026, 12, 7), 8, 0))  # Monday, inside the window, past pay-by
    judge_all(store, clock, credit)
    assert commands(store, BROKE).height == 0
    assert "cut_soon" not in messages(store, BROKE)["kind"].to_list()
    result = explain(store, clock, credit, f"{BROKE:010d}", 1)
    assert result.decisions.select("action", "reason_code").rows() == [("hold", "estimated")]
    with store.unit_of_work() as uow:
        tasks = uow.credit.staff_tasks(True, 10)
    assert (BROKE, "estimated") in tasks.select("account_id", "kind").rows()
