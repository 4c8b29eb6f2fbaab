"""The background workers on a simulated clock: the night's settlement, cuts in their window,
commands through a simulated head-end, SMS through a gateway, restoration after a payment."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.adapters.clock import SystemClock
from gridpay.config import Settings
from gridpay.domain.payments import TakePayment
from gridpay.services.credit import Policy, judge_all
from gridpay.services.night import run_night
from gridpay.services.payments import take_payment
from gridpay.services.workers import JOBS, Schedule, Workers
from gridpay.simulation.head_end import SimulatedHeadEnd
from tests.fakes import FakeSmsGateway
from tests.integration.credit_helpers import BROKE, D1, commands, local, state
from tests.integration.settle_helpers import add_readings


def workers(store, clock, credit, gateway=None, head_end=None, **kwargs):
    return Workers(
        store,
        clock,
        credit,
        head_end or SimulatedHeadEnd(seed=3, latency_s=(1.0, 2.0)),
        gateway or FakeSmsGateway(),
        Schedule(commands_every_s=1, messages_every_s=1, credit_every_s=60),
        **kwargs,
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


def test_the_night_catches_up_the_missed_days_oldest_first_up_to_the_setting(
    store, clock, credit, city
):
    days = [D1 + dt.timedelta(days=i) for i in range(1, 5)]  # 3 missed days and yesterday
    for day in days:
        add_readings(store, city, day)
    w = workers(store, clock, credit)
    clock.set(local(days[-1] + dt.timedelta(days=1), 1, 5))
    report = w.tick()
    assert report.night is not None and report.night_refused is None
    assert [r.day for r in report.night.settled] == days
    assert report.night.credit is not None  # then everyone was judged
    assert report.settled_day == days[-1]


def test_beyond_the_setting_the_night_settles_nothing_and_says_once_what_to_run(
    store, clock, credit, city
):
    days = [D1 + dt.timedelta(days=i) for i in range(1, 6)]  # 4 missed days and yesterday
    for day in days:
        add_readings(store, city, day)
    w = workers(store, clock, credit)
    clock.set(local(days[-1] + dt.timedelta(days=1), 1, 5))
    report = w.tick()
    assert report.night is None and report.settled_day is None
    assert report.night_refused is not None
    assert "5 days are not settled (2026-12-02 to 2026-12-06)" in report.night_refused
    assert "gridpay settle --from 2026-12-02 --to 2026-12-06" in report.night_refused
    assert report.ran == list(JOBS)  # the rest of the work goes on
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled() == D1
    clock.advance(minutes=1)
    assert w.tick().night_refused is None  # said once a day, not every second

    run_night(store, clock, credit, days=days)  # the operator confirms
    clock.advance(minutes=1)
    assert w.tick().night is None  # nothing due any more
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled() == days[-1]


def test_a_setting_of_no_missed_days_still_settles_yesterday(store, clock, credit, city):
    strict = Policy(credit.policy, credit.calendar, Settings(catch_up_days_max=0))
    day = D1 + dt.timedelta(days=1)
    add_readings(store, city, day)
    clock.set(local(day + dt.timedelta(days=1), 1, 5))
    assert workers(store, clock, strict).tick().settled_day == day


def test_a_catch_up_setting_above_its_limit_is_refused(tmp_path, monkeypatch):
    from gridpay.config import load_settings
    from gridpay.errors import ConfigError

    config = tmp_path / "gridpay.toml"
    config.write_text("catch_up_days_max = 400\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="catch_up_days_max must be between 0 and 31"):
        load_settings(config_path=str(config))


def test_gridpay_run_says_which_days_it_would_settle_and_how_to_confirm(
    tmp_path, monkeypatch, store, clock, credit, city
):
    from typer.testing import CliRunner

    from gridpay.entrypoints.cli import app

    monkeypatch.chdir(tmp_path)  # the SMS file lands here
    # Started at 10:00 on 10 December, the last settled day 1 December.
    now = local(dt.date(2026, 12, 10), 10, 0)
    monkeypatch.setattr(SystemClock, "now", lambda self: now)
    monkeypatch.setattr(SystemClock, "today", lambda self: dt.date(2026, 12, 10))
    result = CliRunner().invoke(app, ["--db", store.url, "run", "--once", "--quiet"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Night not settled: 8 days are not settled (2026-12-02 to 2026-12-09)" in said
    assert "gridpay settle --from 2026-12-02 --to 2026-12-09" in said
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled() == D1


class _Only:
    """A timing that makes only some jobs due (as the simulation's does at its instants)."""

    def __init__(self, *jobs: str) -> None:
        self.jobs = jobs
        self.asked: list[str] = []

    def due(self, job: str, now: dt.datetime) -> bool:
        self.asked.append(job)
        return job in self.jobs


def test_a_timing_of_its_own_decides_which_jobs_a_tick_runs_in_their_order(
    store, clock, credit, city
):
    day = D1 + dt.timedelta(days=1)
    add_readings(store, city, day)
    clock.set(local(day + dt.timedelta(days=1), 1, 5))
    timing = _Only("messages", "commands")
    w = workers(store, clock, credit, timing=timing)
    report = w.tick()
    assert timing.asked == list(JOBS)
    assert report.ran == ["commands", "messages"] and report.settled_day is None
    timing.jobs = ("night",)
    assert w.tick().ran == ["night"]
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled() == day


def test_a_burst_larger_than_a_pass_goes_out_in_one_tick(store, clock, credit):
    from gridpay import limits
    from gridpay.domain.commands import CommandAction, RateLimiter
    from tests.integration.commands_helpers import command_frame, enqueue

    burst = limits.command_dispatch_batch_max * 2 + 5
    head_end = SimulatedHeadEnd(seed=3, latency_s=(0.0, 0.0))
    w = workers(store, clock, credit, head_end=head_end, limiter=RateLimiter(1e6, burst))
    w.cut_window = None  # the calendar is not what this is about
    enqueue(store, command_frame(list(range(1, burst + 1)), CommandAction.DISCONNECT, clock.now()))
    first = w.tick()
    assert first.commands_sent == burst
    clock.set(clock.now() + dt.timedelta(seconds=1))
    assert first.commands_acknowledged + w.tick().commands_acknowledged == burst
