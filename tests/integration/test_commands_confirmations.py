"""Confirmations recorded in a batch (the dispatcher's): each account ends as its last says."""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.services.credit import explain, judge_all
from tests.integration.credit_helpers import BROKE, LOW, state


def test_a_batch_of_confirmations_keeps_each_accounts_order(store, clock, credit, city):
    judge_all(store, clock, credit)
    first, then = clock.now(), clock.now() + dt.timedelta(seconds=1)
    with store.unit_of_work() as uow:
        uow.credit.confirm_supplies([(LOW, "off", first), (BROKE, "off", first), (LOW, "on", then)])
        uow.commit()
    assert state(store, LOW).supply == "on"  # cut, then restored: the later one holds
    assert state(store, BROKE).supply == "off"
    decisions = explain(store, clock, credit, f"{LOW:010d}", 20).decisions
    confirmed = decisions.filter(pl.col("action") == "confirmed")["reason_code"].to_list()
    assert sorted(confirmed) == ["supply_off", "supply_on"]
