"""No cut until the arrears notice is confirmed delivered, on SQLite and PostgreSQL.

A provider with delivery receipts (a fake of ``TemplateSmsGateway``) sends the notice; while its
receipt is missing the cut waits, and after ``arrears.delivery_task_hours`` staff are asked to
call the household. The receipt closes the task and lets the cut follow the notice period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from gridpay.ports.gateways import DeliveryReport
from gridpay.services.credit import explain, judge_all
from gridpay.services.messaging import poll_receipts, send_due
from tests.integration.credit_helpers import BROKE, commands, local, messages, state


class FakeProvider:
    """Sends templates and reports receipts as the test sets them (by the provider's id)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.receipts: dict[str, DeliveryReport] = {}

    def submit(self, phone: str, kind: str, params: Mapping[str, str], dedupe_key: str) -> str:
        self.sent.append((phone, kind, dict(params)))
        return f"biz-{dedupe_key}"

    def receipt(self, phone: str, provider_ref: str, sent_at: dt.datetime) -> DeliveryReport | None:
        return self.receipts.get(provider_ref)

    def deliver(self, kind: str, account_id: int, at: dt.datetime) -> None:
        for ref in [f"biz-{k}" for k in self._keys(kind, account_id)]:
            self.receipts[ref] = DeliveryReport(delivered=True, at=at)

    def _keys(self, kind: str, account_id: int) -> list[str]:
        return [f"{kind}/{account_id:010d}/0/{phone}" for phone, k, _ in self.sent if k == kind]


def open_tasks(store, account_id: int) -> list[tuple[str, str | None]]:
    with store.unit_of_work() as uow:
        every = uow.credit.staff_tasks(False, 100)
    mine = every.filter(pl.col("account_id") == account_id)
    return list(zip(mine["kind"], mine["close_code"], strict=True))


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
