"""The background workers on a simulated clock: the night's settlement, cuts in their window,
commands through a simulated head-end, SMS through a gateway, restoration after a payment."""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.config import Settings
from gridpay.domain.payments import TakePayment
from gridpay.services.credit import judge_all
from gridpay.services.payments import take_payment
from gridpay.services.workers import Schedule, Workers
from gridpay.simulation.head_end import SimulatedHeadEnd
from tests.fakes import FakeSmsGateway
from tests.integration.credit_helpers import BROKE, D1, commands, local, state
from tests.integration.settle_helpers import add_readings


def workers(store, clock, credit, gateway=None, head_end=None):
    return Workers(
        store,
        clock,
        credit,
        head_end or SimulatedHeadEnd(seed=3, latency_s=(1.0, 2.0)),
        gateway or FakeSmsGateway(),
        Schedule(commands_every_s=1, messages_every_s=1, credit_every_s=60),
    )


def run_until(w, clock, until, step=dt.timedelta(minutes=1)):
    while clock.now() < until:
        w.tick()
        clock.set(clock.now() + step)


def test_the_night_settles_yesterday_once_after_the_hour_and_judges_everyone(
    store, clock, credit, city
):
    day = D1 + dt.timedelta(days=1)
    add_readings(store, city, day)
    w = workers(store, clock, credit)
    clock.set(local(day + dt.timedelta(days=1), 0, 30))
    assert w.tick().settled_day is None  # before 01:00 the head-end's file may be incomplete
    clock.set(local(day + dt.timedelta(days=1), 1, 5))
    assert w.tick().settled_day == day
    assert w.tick().settled_day is None  # once
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled() == day


def test_a_cut_goes_out_in_the_window_and_a_payment_brings_supply_back(store, clock, credit, city):
    gateway = FakeSmsGateway()
    head_end = SimulatedHeadEnd(seed=3, latency_s=(1.0, 2.0))
    w = workers(store, clock, credit, gateway, head_end)
    judge_all(store, clock, credit)  # as after the night's settlement of 1 December
    w.tick()  # the notices go out
    assert any(key.startswith("arrears/0000000003") for _, _, key in gateway.sent)
    for offset in range(1, 7):  # the head-end's readings up to Sunday 6 December
        add_readings(store, city, D1 + dt.timedelta(days=offset))
    # Monday 7 December: the night settles 2-6 December; the window opens at 08:00; second
    # notice, then the cut 30 minutes later
    clock.set(local(dt.date(2026, 12, 7), 7, 59))
    run_until(w, clock, local(dt.date(2026, 12, 7), 9, 0))
    assert state(store, BROKE).state == "disconnected"
    cut = commands(store, BROKE).row(0, named=True)
    assert (cut["action"], cut["state"]) == ("disconnect", "acknowledged")
    assert head_end.switch_of(cut["meter_id"]) == "off"
    assert local(dt.date(2026, 12, 7), 8, 30) <= cut["sent_at"] < local(dt.date(2026, 12, 7), 9)

    paid_at = local(dt.date(2026, 12, 7), 20, 15)
    clock.set(paid_at)
    take_payment(
        store, clock, Settings(), TakePayment(f"{BROKE:010d}", "80", "agent", "A-77"), credit
    )
    run_until(w, clock, paid_at + dt.timedelta(minutes=2), step=dt.timedelta(seconds=1))
    reconnect = commands(store, BROKE).filter(pl.col("action") == "reconnect").row(0, named=True)
    assert reconnect["created_at"] == paid_at  # queued with the payment
    assert reconnect["state"] == "acknowledged"
    assert (reconnect["finished_at"] - paid_at).total_seconds() <= 4  # latency 1-2 s, 1 s ticks
    assert head_end.switch_of(cut["meter_id"]) == "on"
    assert (state(store, BROKE).state, state(store, BROKE).supply) == ("normal", "on")
    restored = [body for _, body, key in gateway.sent if key.startswith("restored/0000000003")]
    assert len(restored) == 1 and "80.00" in restored[0]


def test_gridpay_run_once_does_one_round_and_reports_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gridpay.entrypoints.cli import app

    monkeypatch.chdir(tmp_path)  # the SMS file lands here
    db = str(tmp_path / "run.db")
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "init"]).exit_code == 0
    result = runner.invoke(app, ["--db", db, "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "total: 0 commands sent, 0 acknowledged, 0 SMS sent" in result.output
