"""No cut until the arrears notice is confirmed delivered, on SQLite and PostgreSQL.

A provider with delivery receipts (a fake of ``TemplateSmsGateway``) sends the notice; while its
receipt is missing the cut waits, and after ``arrears.delivery_task_hours`` staff are asked to
call the household. The receipt closes the task and lets the cut follow the notice period.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.services.credit import explain, judge_all
from gridpay.services.messaging import poll_receipts, send_due
from tests.fakes import FakeProvider
from tests.integration.credit_helpers import (
    BROKE,
    commands,
    local,
    messages,
    open_tasks,
    state,
)


def tick(store, clock, credit, provider: FakeProvider) -> None:
    """What the workers do: send, read receipts, judge the accounts in debt."""
    send_due(store, clock, provider)
    poll_receipts(store, clock, provider)
    judge_all(store, clock, credit, only_in_debt=True)


def test_an_undelivered_notice_holds_the_cut_and_asks_staff_to_call(store, clock, credit, city):
    provider = FakeProvider()
    judge_all(store, clock, credit)  # 2 Dec: the arrears notice, pay by 5 Dec
    tick(store, clock, credit, provider)
    assert ("13800000003", "arrears") in [(p, k) for p, k, _ in provider.sent]
    clock.set(local(dt.date(2026, 12, 2), 20))
    tick(store, clock, credit, provider)
    assert open_tasks(store, BROKE) == []  # not yet the configured 24 hours
    clock.set(local(dt.date(2026, 12, 3), 3))
    tick(store, clock, credit, provider)
    assert open_tasks(store, BROKE) == [("undelivered_notice", None)]
    # Monday inside the window, pay-by date long past: still no second notice, no cut
    for hour, minute in ((8, 0), (8, 30), (9, 0)):
        clock.set(local(dt.date(2026, 12, 7), hour, minute))
        tick(store, clock, credit, provider)
    assert commands(store, BROKE).height == 0
    assert "cut_soon" not in messages(store, BROKE)["kind"].to_list()
    assert state(store, BROKE).state == "arrears"
    reason = explain(store, clock, credit, f"{BROKE:010d}", 5).decisions["reason"][0]
    assert reason == (
        "not cut: the arrears notice has no delivery receipt; it must reach the household first"
    )
    (view,) = messages(store, BROKE).filter(pl.col("kind") == "arrears").iter_rows(named=True)
    assert (view["receipt"], view["delivery_error"]) == ("undelivered", "no receipt in 48 h")


def test_a_delivered_notice_closes_the_call_task_and_lets_the_cut_follow(
    store, clock, credit, city
):
    provider = FakeProvider()
    judge_all(store, clock, credit)
    tick(store, clock, credit, provider)
    clock.set(local(dt.date(2026, 12, 3), 3))
    tick(store, clock, credit, provider)
    assert open_tasks(store, BROKE) == [("undelivered_notice", None)]
    delivered_at = local(dt.date(2026, 12, 3), 9)
    provider.deliver("arrears", BROKE, delivered_at)
    clock.set(local(dt.date(2026, 12, 3), 10))
    tick(store, clock, credit, provider)
    assert open_tasks(store, BROKE) == [("undelivered_notice", "delivered")]
    clock.set(local(dt.date(2026, 12, 7), 8, 0))
    tick(store, clock, credit, provider)
    assert "cut_soon" in messages(store, BROKE)["kind"].to_list()
    clock.set(local(dt.date(2026, 12, 7), 8, 30))
    tick(store, clock, credit, provider)
    assert commands(store, BROKE)["action"].to_list() == ["disconnect"]
