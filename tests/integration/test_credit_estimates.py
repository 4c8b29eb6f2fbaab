"""Notices say what is true: an arrears notice resting on estimated readings threatens no cut,
and a staff task closes itself, with its reason, when its cause goes away (the real reading's
true-up, a payment, the end of the agreement)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from gridpay.config import Settings
from gridpay.domain.money import format_fen
from gridpay.domain.payments import Refund, TakePayment
from gridpay.services.credit import explain, judge_all
from gridpay.services.enrolment import leave
from gridpay.services.payments import refund, take_payment
from gridpay.services.settlement import process_trueups, settle_day
from tests.helpers_accounts import cli
from tests.integration.credit_helpers import (
    BROKE,
    D1,
    GUARDED,
    LOW,
    commands,
    local,
    messages,
    send_messages,
    state,
)
from tests.integration.settle_helpers import add_readings, queue_late_readings, register_wh

D2 = dt.date(2026, 12, 2)
LEFT_FEN = 50  # what LOW has before its silent day: less than any day's estimate


def tasks(store, account_id: int) -> pl.DataFrame:
    with store.unit_of_work() as uow:
        every = uow.credit.staff_tasks(False, 100)
    return every.filter(pl.col("account_id") == account_id)


@pytest.fixture
def estimated_arrears(store, clock, credit, city):
    """LOW left with 0.50 yuan, then its meter silent on 2 December: the estimate of that day
    takes it into arrears, and the notice is judged on the morning of 3 December."""
    judge_all(store, clock, credit)
    with store.unit_of_work() as uow:
        balance_fen = uow.ledger.balance_fen(LOW)
    cmd = Refund(f"{LOW:010d}", format_fen(balance_fen - LEFT_FEN), "R-low")
    refund(store, clock, Settings(), cmd)
    add_readings(store, city, D2, skip={LOW})
    clock.set(local(D2 + dt.timedelta(days=1), 2))
    settle_day(store, clock, D2)
    judge_all(store, clock, credit)
    return city


def test_an_arrears_notice_on_estimates_says_we_will_read_the_meter_and_names_no_cut_date(
    store, clock, credit, estimated_arrears
):
    low = state(store, LOW)
    assert (low.state, low.pay_by) == ("arrears", None)  # no pay-by date: no cut follows
    [notice] = messages(store, LOW).filter(pl.col("kind").str.starts_with("arrears")).to_dicts()
    assert notice["kind"] == "arrears_estimated"
    assert notice["dedupe_key"] == f"arrears_estimated/{LOW:010d}/0/138{LOW:08d}"
    body = notice["body"]
    assert "我们将尽快抄读您的电表" in body and "为稳妥起见" in body
    assert "停电" not in body and "前缴费" not in body and "月" not in body.split("：")[1]
    [decision] = explain(store, clock, credit, f"{LOW:010d}", 1).decisions.to_dicts()
    assert (decision["action"], decision["reason_code"]) == ("notice", "arrears_estimated")
    [task] = tasks(store, LOW).to_dicts()
    assert (task["kind"], task["closed_at"]) == ("estimated", None)  # read the meter, at once


def test_an_english_speaker_hears_the_same_on_estimates(store, clock, credit, city):
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.exec_driver_sql(f"UPDATE accounts SET language = 'en' WHERE id = {LOW}")
        uow.commit()
    judge_all(store, clock, credit)
    with store.unit_of_work() as uow:
        balance_fen = uow.ledger.balance_fen(LOW)
    refund(store, clock, Settings(), Refund(f"{LOW:010d}", format_fen(balance_fen - 50), "R"))
    add_readings(store, city, D2, skip={LOW})
    clock.set(local(D2 + dt.timedelta(days=1), 2))
    settle_day(store, clock, D2)
    judge_all(store, clock, credit)
    [notice] = messages(store, LOW).filter(pl.col("kind") == "arrears_estimated").to_dicts()
    assert notice["language"] == "en"
    assert "We will read your meter soon; to be safe, please pay." in notice["body"]
    assert "cut" not in notice["body"] and "pay by" not in notice["body"]


def test_no_cut_ever_follows_a_notice_on_estimates_while_the_meter_is_unread(
    store, clock, credit, estimated_arrears
):
    clock.set(local(dt.date(2026, 12, 14), 10))  # a Monday, well past any notice period
    judge_all(store, clock, credit)
    assert commands(store, LOW).height == 0
    kinds = messages(store, LOW)["kind"].to_list()
    assert "cut_soon" not in kinds and "arrears" not in kinds


def test_the_estimated_task_closes_itself_when_the_true_up_puts_the_account_back_in_credit(
    store, clock, credit, estimated_arrears
):
    # The real reading of 2 December: 0.1 kWh used, far below the estimate.
    queue_late_readings(store, {LOW: register_wh(LOW, D1) + 100}, D2)
    clock.set(local(D2 + dt.timedelta(days=1), 11))
    assert process_trueups(store, clock) == 1
    with store.unit_of_work() as uow:
        assert uow.ledger.balance_fen(LOW) > 0
    judge_all(store, clock, credit)
    assert state(store, LOW).state == "normal"
    [task] = tasks(store, LOW).to_dicts()
    assert task["closed_at"] == clock.now()
    assert task["close_code"] == "trued_up"
    assert task["close_reason"].startswith("the meter was read and the estimates trued up")
    with store.unit_of_work() as uow:
        assert uow.credit.staff_tasks(True, 100).filter(pl.col("account_id") == LOW).height == 0


def test_a_debt_confirmed_by_the_real_reading_gets_the_notice_with_a_pay_by_date_then(
    store, clock, credit, estimated_arrears
):
    # The real reading of 2 December: 20 kWh, more than the estimate: the debt stands.
    queue_late_readings(store, {LOW: register_wh(LOW, D1) + 20_000}, D2)
    d4 = dt.date(2026, 12, 4)
    clock.set(local(d4, 9))
    process_trueups(store, clock)
    judge_all(store, clock, credit)
    low = state(store, LOW)
    assert (low.state, low.pay_by, low.notice_at) == (
        "arrears",
        d4 + dt.timedelta(3),
        clock.now(),
    )
    notices = messages(store, LOW).filter(pl.col("kind").str.starts_with("arrears"))
    assert sorted(notices["kind"].to_list()) == ["arrears", "arrears_estimated"]
    firm = notices.filter(pl.col("kind") == "arrears")["body"][0]
    assert "请于12月7日前缴费，逾期将自动停电" in firm
    [task] = tasks(store, LOW).to_dicts()
    assert (task["close_code"], task["closed_at"]) == ("trued_up", clock.now())
    decisions = explain(store, clock, credit, f"{LOW:010d}", 5).decisions
    assert decisions.select("action", "reason_code").rows()[0] == ("notice", "arrears")
    # and no cut before the full notice period after this notice
    clock.set(local(dt.date(2026, 12, 7), 10))  # Monday, the pay-by date itself
    judge_all(store, clock, credit)
    assert commands(store, LOW).height == 0


def held_protected_task(store, clock, credit) -> None:
    """GUARDED (protected, nothing paid) past its pay-by date on a working morning: held, and
    a staff task instead of a cut."""
    judge_all(store, clock, credit)
    send_messages(store, clock)
    clock.set(local(dt.date(2026, 12, 7), 8, 0))
    judge_all(store, clock, credit)
    [task] = tasks(store, GUARDED).to_dicts()
    assert (task["kind"], task["closed_at"]) == ("protected", None)


def test_a_payment_that_ends_the_debt_closes_its_task(store, clock, credit, city):
    held_protected_task(store, clock, credit)
    clock.set(local(dt.date(2026, 12, 7), 15, 0))
    take_payment(
        store, clock, Settings(), TakePayment(f"{GUARDED:010d}", "100", "app", "G1"), credit
    )
    [task] = tasks(store, GUARDED).to_dicts()
    assert (task["closed_at"], task["close_code"]) == (clock.now(), "paid")
    assert task["close_reason"].endswith("after a payment of 100.00 yuan")


def test_a_payment_that_leaves_the_debt_keeps_its_task_open(store, clock, credit, city):
    held_protected_task(store, clock, credit)
    take_payment(
        store, clock, Settings(), TakePayment(f"{GUARDED:010d}", "0.01", "app", "G1"), credit
    )
    assert tasks(store, GUARDED)["closed_at"].to_list() == [None]


def test_leaving_closes_the_open_tasks_of_the_debt(store, clock, credit, city):
    held_protected_task(store, clock, credit)
    untouched = tasks(store, BROKE)  # BROKE's cut was not due: no task, nothing to close
    leave(store, clock, Settings(), f"{GUARDED:010d}")
    [task] = tasks(store, GUARDED).to_dicts()
    assert (task["closed_at"], task["close_code"]) == (clock.now(), "agreement_ended")
    assert task["close_reason"] == "the agreement ended on 2026-12-07"
    assert tasks(store, BROKE).equals(untouched)


def test_the_staff_queue_shows_why_a_task_closed(store, clock, credit, city, monkeypatch, capsys):
    held_protected_task(store, clock, credit)
    leave(store, clock, Settings(), f"{GUARDED:010d}")
    code, out, _ = cli(store, monkeypatch, capsys, "tasks", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli(store, monkeypatch, capsys, "tasks", "--all", "--json")
    [task] = json.loads(out)
    assert (task["account_no"], task["close_code"]) == (f"{GUARDED:010d}", "agreement_ended")
    assert task["close_reason"] == "the agreement ended on 2026-12-07"
    code, out, _ = cli(store, monkeypatch, capsys, "tasks", "--all")
    assert code == 0 and "closed" in out  # the closing columns, with --all
