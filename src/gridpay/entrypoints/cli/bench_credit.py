"""CLI: benchmarks of the credit policy (``gridpay bench credit``, ``gridpay bench reconnect``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.table import Table

from gridpay import bootstrap
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.entrypoints.cli._common import RichProgress, console, err_console, print_json
from gridpay.entrypoints.cli.bench import bench_app
from gridpay.errors import InvalidInput
from gridpay.ports.clock import Progress
from gridpay.simulation import bench
from gridpay.simulation.bench_credit import (
    DEBT_SHARE_DEFAULT,
    LOW_SHARE_DEFAULT,
    run_credit_bench,
    run_reconnect_bench,
)
from gridpay.simulation.bench_repo import bench_repo_for, fresh_database
from gridpay.simulation.clock import SimulatedClock
from gridpay.simulation.machine import describe_database, describe_machine

T = TypeVar("T")

DB_HELP = (
    "A SQLite path that does not exist yet, or a PostgreSQL URL (a fresh schema is made in it). "
    "Default: a temporary SQLite file. Never the configured database."
)


def _options(accounts: int, seed: int, day: str) -> bench.BenchOptions:
    try:
        the_day = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--day {day!r} is not a date like 2026-11-26") from None
    return bench.BenchOptions(accounts=accounts, seed=seed, day=the_day)


def _morning_after(day: dt.date, hour_local: int) -> dt.datetime:
    """``hour_local`` o'clock in Shanghai on the day after ``day``, as a UTC instant."""
    local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour_local))
    return (local - dt.timedelta(hours=8)).replace(tzinfo=dt.UTC)


@bench_app.command("credit")
def bench_credit(
    accounts: int = typer.Option(550_000, "--accounts", help="Accounts to build."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    seed: int = typer.Option(bench.SEED_DEFAULT, "--seed", help="Seed of the synthetic city."),
    day: str = typer.Option(bench.DAY_DEFAULT.isoformat(), "--day", help="The city's day."),
    low_share: float = typer.Option(
        LOW_SHARE_DEFAULT, "--low-share", min=0.0, max=0.5, help="Households made low (0-0.5)."
    ),
    debt_share: float = typer.Option(
        DEBT_SHARE_DEFAULT, "--debt-share", min=0.0, max=0.5, help="Households put in debt."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Judge a whole synthetic city once with the credit policy, timed (target: 550,000
    accounts in 5 s)."""
    options = _options(accounts, seed, day)
    report = _in_fresh_city(
        db,
        options,
        lambda built, clock, machine, progress: run_credit_bench(
            built.store,
            clock,
            built.credit,
            bench_repo_for,
            options,
            built.settings.offices,
            shipped_tariffs(),
            low_share=low_share,
            debt_share=debt_share,
            machine=machine,
            progress=progress,
        ),
    )
    data = report.as_dict()
    if as_json:
        print_json(data)
        return
    _print(data, "Credit policy over a whole city")


@bench_app.command("reconnect")
def bench_reconnect(
    accounts: int = typer.Option(10_000, "--accounts", help="Disconnected accounts to pay into."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    seed: int = typer.Option(bench.SEED_DEFAULT, "--seed", help="Seed of the synthetic city."),
    day: str = typer.Option(bench.DAY_DEFAULT.isoformat(), "--day", help="The city's day."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Pay into N disconnected accounts, one payment at a time: payment committed -> reconnect
    command queued (target: p99 <= 1 s)."""
    options = _options(accounts, seed, day)
    report = _in_fresh_city(
        db,
        options,
        lambda built, clock, machine, progress: run_reconnect_bench(
            built.store,
            clock,
            built.credit,
            bench_repo_for,
            options,
            built.settings.offices,
            shipped_tariffs(),
            machine=machine,
            progress=progress,
        ),
    )
    data = report.as_dict()
    if as_json:
        print_json(data)
        return
    _print(data, "Payment -> reconnect command")


def _in_fresh_city(
    db: str | None,
    options: bench.BenchOptions,
    run: Callable[[bootstrap.App, SimulatedClock, dict[str, str], Progress | None], T],
) -> T:
    """Run a bench in a fresh database on a simulated clock at 10:00 local the day after the
    city's day (inside the cut window on a working day)."""
    with fresh_database(db, keep=False) as database:
        err_console.print(f"bench database: {database.description}")
        clock = SimulatedClock(_morning_after(options.day, 10))
        built = bootstrap.build(db=database.url, clock=clock)
        try:
            machine = {**describe_machine(), **describe_database(built.store.engine)}
            progress = RichProgress() if err_console.is_terminal else None
            return run(built, clock, machine, progress)
        finally:
            built.close()


def _print(data: dict[str, object], title: str) -> None:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if key != "machine":
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    machine = data.get("machine")
    if isinstance(machine, dict):
        console.print(", ".join(f"{k}: {v}" for k, v in machine.items()))
