"""The restoration promise on SQLite and PostgreSQL: a reconnect not confirmed within
``restore.promise_hours`` raises a staff task at once and, where the policy says so, credits the
household once, from the adjustments account, explained by ``explain``."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from gridpay.config import Settings
from gridpay.domain.ledger import ADJUSTMENTS_ID, compensation_id
from gridpay.domain.payments import TakePayment
from gridpay.services.audit import LEDGER_CHECKS, audit
from gridpay.services.credit import Policy, explain
from gridpay.services.payments import take_payment
from gridpay.services.restoration import RestorationReport, keep_restoration_promise
from tests.integration.credit_helpers import BROKE, cut_off_broke, local

RECONNECT = "reconnect/0000000003/0"
PAID_AT = (dt.date(2026, 12, 7), 19)


@pytest.fixture
def generous(credit: Policy) -> Policy:
    """The shipped policy with a compensation of 20 yuan for a broken promise."""
    return dataclasses.replace(
        credit, policy=dataclasses.replace(credit.policy, restore_compensation_fen=2_000)
    )


def reconnect_queued(store, clock, credit) -> None:
    """BROKE cut on Monday 7 December, then pays at 19:00: a reconnect is queued."""
    cut_off_broke(store, clock, credit)
    clock.set(local(*PAID_AT))
    take_payment(store, clock, Settings(), TakePayment(f"{BROKE:010d}", "100", "app", "R1"), credit)


def confirm(store, at: dt.datetime) -> None:
    with store.unit_of_work() as uow:
        command = uow.commands.get(RECONNECT)
        assert command is not None
        uow.commands.mark_sent(command.id, at, "test")
        assert uow.commands.finish(RECONNECT, "acknowledged", at, None) is not None
        uow.credit.confirm_supply(BROKE, "on", at)
        uow.commit()


def tasks(store) -> list[tuple[str, str | None]]:
    with store.unit_of_work() as uow:
        every = uow.credit.staff_tasks(False, 100)
    mine = every.filter(pl.col("account_id") == BROKE)
    return list(zip(mine["kind"], mine["close_code"], strict=True))


def balance_fen(store) -> int:
    with store.unit_of_work() as uow:
        return uow.ledger.balance_fen(BROKE)


def test_a_reconnect_unconfirmed_past_the_promise_raises_a_task_and_credits_once(
    store, clock, generous, city
):
    reconnect_queued(store, clock, generous)
    before_fen = balance_fen(store)
    clock.set(local(*PAID_AT) + dt.timedelta(hours=23, minutes=59))
    assert keep_restoration_promise(store, clock, generous) == RestorationReport()
    clock.set(local(*PAID_AT) + dt.timedelta(hours=24))
    report = keep_restoration_promise(store, clock, generous)
    assert report == RestorationReport(overdue=1, compensated=1, compensation_fen=2_000)
    assert tasks(store) == [("restore_overdue", None)]
    assert balance_fen(store) == before_fen + 2_000
    with store.unit_of_work() as uow:
        transfer = uow.ledger.get_transfer(compensation_id(RECONNECT))
    assert transfer is not None
    assert (transfer.debit_account_id, transfer.amount_fen) == (ADJUSTMENTS_ID, 2_000)
    # replayed: nothing twice
    clock.advance(hours=1)
    assert keep_restoration_promise(store, clock, generous) == RestorationReport()
    assert balance_fen(store) == before_fen + 2_000
    decisions = explain(store, clock, generous, f"{BROKE:010d}", 5).decisions
    assert set(decisions["action"].to_list()[:2]) == {"compensate", "restore_overdue"}
    reasons = dict(zip(decisions["action"], decisions["reason"], strict=False))
    assert reasons["compensate"] == (
        "restoration promise of 24 h broken: credited 20.00 yuan "
        f"(transfer compensation/{RECONNECT})"
    )
    assert reasons["restore_overdue"].startswith(
        "reconnect queued 2026-12-07 19:00 not confirmed by the meter (state queued"
    )
    assert all(check.ok for check in audit(store, LEDGER_CHECKS).checks)
    # the meter confirms at last: the task has lost its cause
    confirm(store, clock.now())
    assert tasks(store) == [("restore_overdue", "supply_on")]


def test_a_reconnect_confirmed_within_the_promise_is_left_alone(store, clock, generous, city):
    reconnect_queued(store, clock, generous)
    confirm(store, local(*PAID_AT) + dt.timedelta(hours=2))
    clock.set(local(*PAID_AT) + dt.timedelta(days=2))
    assert keep_restoration_promise(store, clock, generous) == RestorationReport()
    assert tasks(store) == []


def test_a_reconnect_confirmed_late_still_broke_the_promise(store, clock, generous, city):
    reconnect_queued(store, clock, generous)
    confirm(store, local(*PAID_AT) + dt.timedelta(hours=30))  # the checker was not running
    clock.set(local(*PAID_AT) + dt.timedelta(hours=31))
    assert keep_restoration_promise(store, clock, generous).compensated == 1
    reason = explain(store, clock, generous, f"{BROKE:010d}", 5).decisions.filter(
        pl.col("action") == "restore_overdue"
    )["reason"][0]
    assert "confirmed only at 2026-12-09 01:00" in reason


def test_without_compensation_in_the_policy_only_the_task_is_raised(store, clock, credit, city):
    reconnect_queued(store, clock, credit)
    before_fen = balance_fen(store)
    clock.set(local(*PAID_AT) + dt.timedelta(hours=25))
    report = keep_restoration_promise(store, clock, credit)
    assert (report.overdue, report.compensated) == (1, 0)
    assert tasks(store) == [("restore_overdue", None)]
    assert balance_fen(store) == before_fen
