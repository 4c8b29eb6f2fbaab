"""Replacing a meter through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.registry import Meter, ReplaceMeter
from gridpay.errors import Conflict, InvalidInput, NotFound, Refused
from gridpay.services import registry
from tests.fakes import FakeClock

ACCOUNT = {
    "account_no": "0000000042",
    "name": "王五",
    "supply_type": "direct",
    "tariff": "henan-residential-tiered",
    "office": "1",
    "meter_no": "202208310042",
    "installed_on": "2024-03-01",
    "initial_kwh": "1.5",
    "has_tou": "true",
    "breaker_a": "40",
    "billing_mode": "prepaid",
}
CMD = ReplaceMeter(
    account_id=42,
    old_final_wh=3_456_780,
    new_meter_no="202611200007",
    new_initial_wh=20,
    day=dt.date(2026, 11, 20),
)


@pytest.fixture
def account(store: SqlStore, clock: FakeClock) -> None:
    registry.add_account(store, clock, ACCOUNT)


def meters(store: SqlStore) -> list[Meter]:
    with store.unit_of_work() as uow:
        return uow.registry.meters_of(42)


@pytest.mark.usefixtures("account")
def test_replacement_closes_the_old_meter_and_opens_the_new_one(
    store: SqlStore, clock: FakeClock
) -> None:
    done = registry.replace_meter(store, clock, CMD)
    assert (done.removed_meter_no, done.installed_meter_no, done.already_recorded) == (
        "202208310042",
        "202611200007",
        False,
    )
    old, new = meters(store)
    assert (old.removed_on, old.final_wh) == (CMD.day, 3_456_780)
    assert (new.installed_on, new.initial_wh, new.removed_on) == (CMD.day, 20, None)
    assert (new.has_tou, new.has_switch, new.breaker_a) == (True, True, 40)
    listing = registry.list_accounts(store)
    assert listing.accounts[0].meter_no == "202611200007"


@pytest.mark.usefixtures("account")
def test_running_the_same_replacement_twice_changes_nothing(
    store: SqlStore, clock: FakeClock
) -> None:
    registry.replace_meter(store, clock, CMD)
    again = registry.replace_meter(store, clock, CMD)
    assert again.already_recorded
    assert again.removed_meter_no == "202208310042"
    assert len(meters(store)) == 2


@pytest.mark.usefixtures("account")
def test_a_second_replacement_with_other_numbers_replaces_the_new_meter(
    store: SqlStore, clock: FakeClock
) -> None:
    registry.replace_meter(store, clock, CMD)
    later = replace(
        CMD, new_meter_no="202611250001", day=dt.date(2026, 11, 25), old_final_wh=30_000
    )
    done = registry.replace_meter(store, clock, later)
    assert done.removed_meter_no == "202611200007"
    assert [m.removed_on is None for m in meters(store)] == [False, False, True]


@pytest.mark.usefixtures("account")
def test_a_new_meter_registered_to_another_account_is_a_conflict(
    store: SqlStore, clock: FakeClock
) -> None:
    registry.add_account(
        store, clock, {**ACCOUNT, "account_no": "0000000043", "meter_no": "202611200007"}
    )
    with pytest.raises(Conflict, match="already registered to account 0000000043"):
        registry.replace_meter(store, clock, CMD)
    assert len(meters(store)) == 1


@pytest.mark.usefixtures("account")
def test_readings_after_the_replacement_day_refuse_it(store: SqlStore, clock: FakeClock) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            schema.readings.insert(),
            [
                {
                    "day": dt.date(2026, 11, d),
                    "meter_id": 202208310042,
                    "total_wh": 3_000_000 + d,
                    "source": "test",
                    "received_at": clock.now(),
                }
                for d in (19, 21)
            ],
        )
    with pytest.raises(Refused, match="1 reading\\(s\\) after 2026-11-20"):
        registry.replace_meter(store, clock, CMD)
    with pytest.raises(InvalidInput, match="below its last stored reading"):
        registry.replace_meter(
            store, clock, replace(CMD, day=dt.date(2026, 11, 21), old_final_wh=3_000_020)
        )
    assert all(m.removed_on is None for m in meters(store))


def test_replacing_on_an_unknown_account_is_not_found(store: SqlStore, clock: FakeClock) -> None:
    with pytest.raises(NotFound, match="account 0000000042 is not registered"):
        registry.replace_meter(store, clock, CMD)
