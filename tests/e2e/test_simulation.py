"""The whole-system simulation (TigerBeetle's VOPR in spirit): a seeded city lives months of
readings, settlements, payments on every channel, duplicate / late / missing readings, failing
meter commands, weekends and holidays, households leaving smart payment and signing again, and
after every simulated day the invariants hold (among them: no charge or decision outside an
agreement, no cut sooner than the notice period after the arrears SMS was sent).

CI runs one seed over 1,000 accounts x 90 days: enough for every kind of event the invariants
are about to happen (the test counts each and fails if one never did). More seeds, larger
cities, longer runs: ``pytest tests/e2e/test_simulation.py --simulation-seeds 1,2,3
--simulation-accounts 20000 --simulation-days 180``. A failure names its seed and day;
rerunning that seed reproduces it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay import bootstrap
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import Settings
from gridpay.services.workers import JOBS
from gridpay.simulation.bench_repo import bench_repo_for
from gridpay.simulation.clock import SimulatedClock
from gridpay.simulation.head_end import SimulatedHeadEnd
from gridpay.simulation.lifecycle import LifeOptions, run_life
from tests.e2e.simulation_checks import Checker, RecordingGateway

# Starts before Mid-Autumn and National Day 2026 and runs into December: weekends, holidays and
# both make-up working days (Sun 20 Sep, Sat 10 Oct) fall inside.
FIRST_DAY = dt.date(2026, 9, 10)


def simulate(tmp_path, seed: int, accounts: int, days: int, db_url: str | None = None):
    url = db_url or f"sqlite:///{tmp_path / f'sim-{seed}.db'}"
    clock = SimulatedClock(dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    app = bootstrap.build(Settings(database_url=url), clock=clock)
    options = LifeOptions(
        accounts=accounts,
        days=days,
        seed=seed,
        first_day=FIRST_DAY,
        missing_share=0.04,
        duplicate_share=0.03,
        command_failure_rate=0.1,
        leavings_per_day=3,
    )
    gateway = RecordingGateway()
    checker = Checker(seed, app.store, app.credit.policy, app.credit.calendar, gateway)
    head_end = SimulatedHeadEnd(
        seed=seed, latency_s=options.command_latency_s, failure_rate=options.command_failure_rate
    )
    try:
        summary = run_life(
            app,
            clock,
            bench_repo_for,
            shipped_tariffs(),
            options,
            head_end=head_end,
            gateway=gateway,
            on_day_end=checker,
        )
    finally:
        app.close()
    return summary, checker


@pytest.mark.slow
def test_the_city_lives_its_days_and_every_invariant_holds(tmp_path, simulation):
    for seed in simulation.seeds:
        summary, checker = simulate(tmp_path, seed, simulation.accounts, simulation.days)
        assert checker.checked_days == simulation.days
        # Every day ran through gridpay run's Workers: one night each, and the other jobs.
        assert summary.jobs_run["night"] == simulation.days, summary.jobs_run
        assert set(summary.jobs_run) == set(JOBS), summary.jobs_run
        assert summary.audit is not None and summary.audit.ok, f"seed {seed}: final audit"
        # The run exercised what the invariants are about (a vacuous pass proves nothing).
        seen = checker.seen
        print(f"seed {seed}: {dict(seen)}")
        for what in (
            "warnings",
            "arrears_notices",
            "second_notices",
            "restored_messages",
            "cuts",
            "restorations",
            "restoring_payments",
            "payments",
            "late_readings",
            "duplicates",
            "commands_retried",
            "retries_absorbed",
            "hold:holiday",
            "hold:weekend",
            "hold:protected",
            "hold:estimated",
            "tasks_closed",
            "notices_on_estimates",
            "leavings",
            "enrolments",
        ):
            assert seen[what] > 0, f"seed {seed}: the simulation never exercised {what}"


@pytest.mark.postgres
def test_a_smaller_city_lives_on_postgresql_too(tmp_path, pg_schema_url):
    summary, checker = simulate(tmp_path, 5, 400, 30, db_url=pg_schema_url)
    assert checker.checked_days == 30
    assert summary.audit is not None and summary.audit.ok
