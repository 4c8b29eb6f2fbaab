"""A small enrolled city for the credit policy's tests: fixtures ``credit`` and ``city``."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.config import Settings
from gridpay.domain.enrolment import Enrol
from gridpay.domain.payments import TakePayment
from gridpay.services.credit import Policy, judge_all
from gridpay.services.enrolment import enrol
from gridpay.services.messaging import send_due
from gridpay.services.payments import take_payment
from gridpay.services.settlement import settle_day
from tests.fakes import FakeSmsGateway
from tests.integration.settle_helpers import add_city, add_readings

D0 = dt.date(2026, 11, 30)  # Monday
D1 = dt.date(2026, 12, 1)
LOW, RICH, BROKE, GUARDED = 1, 2, 3, 4


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """Shanghai wall time as the aware UTC instant the clock gives."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC) - dt.timedelta(
        hours=8
    )


@pytest.fixture
def credit() -> Policy:
    return Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings())


@pytest.fixture
def city(store, clock, credit):
    """Four households settled for 1 December: 10 yuan, 1,000 yuan, nothing, and a protected
    customer with nothing and a trusted contact."""
    ids = add_city(store, 4)
    # Signed well before the days judged here: past the new agreement's grace.
    clock.set(local(D0 - dt.timedelta(days=10), 9))
    enrol(
        store,
        clock,
        Settings(),
        Enrol(
            f"{GUARDED:010d}",
            office_id=1,
            protected="medical",
            trusted_phone="13900000004",
            trusted_language="en",
        ),
    )
    clock.set(local(D0, 9))
    for account_id, yuan in ((LOW, "10"), (RICH, "1000")):
        take_payment(
            store,
            clock,
            Settings(),
            TakePayment(f"{account_id:010d}", yuan, "app", f"P{account_id}"),
        )
    add_readings(store, ids, D0 - dt.timedelta(days=1))
    add_readings(store, ids, D0)
    add_readings(store, ids, D1)
    clock.set(local(D1 + dt.timedelta(days=1), 2))  # the night after 1 December
    settle_day(store, clock, D0)
    settle_day(store, clock, D1)
    return ids


def state(store, account_id):
    with store.unit_of_work() as uow:
        return uow.credit.state_of(account_id)


def messages(store, account_id):
    with store.unit_of_work() as uow:
        return uow.outbox.list(account_id, None, None, 100)


def commands(store, account_id):
    with store.unit_of_work() as uow:
        return uow.commands.list(account_id, None, 100)


def send_messages(store, clock) -> None:
    """The outbox worker's pass: what is due goes out through a gateway without receipts,
    whose acceptance counts as delivery (the arrears notice a cut waits for)."""
    send_due(store, clock, FakeSmsGateway())


def cut_off_broke(store, clock, credit) -> None:
    """BROKE is judged into arrears and noticed (the notice delivered), then cut in Monday
    7 December's window, the relay confirmed open; the clock stands at 08:30."""
    judge_all(store, clock, credit)
    send_messages(store, clock)
    for hour, minute in ((8, 0), (8, 30)):
        clock.set(local(dt.date(2026, 12, 7), hour, minute))
        judge_all(store, clock, credit)
    with store.unit_of_work() as uow:
        uow.credit.confirm_supply(BROKE, "off", clock.now())
        uow.commit()


def open_tasks(store, account_id: int) -> list[tuple[str, str | None]]:
    with store.unit_of_work() as uow:
        every = uow.credit.staff_tasks(False, 100)
    mine = every.filter(pl.col("account_id") == account_id)
    return list(zip(mine["kind"], mine["close_code"], strict=True))
