"""CLI: the demo, the main job for a newcomer (``make demo``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gridpay import bootstrap
from gridpay.adapters.clock import SimulatedClock
from gridpay.adapters.sql.bench_repo import bench_repo_for
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import load_settings
from gridpay.domain.money import format_fen, format_kwh
from gridpay.entrypoints.cli._common import RichProgress, app, console, err_console
from gridpay.errors import InvalidInput
from gridpay.services import demo as demo_service

DEMO_DB = "gridpay-demo.db"


@app.command()
def demo(
    accounts: int = typer.Option(demo_service.ACCOUNTS_DEFAULT, min=10, help="Households."),
    days: int = typer.Option(demo_service.DAYS_DEFAULT, min=1, max=366, help="Days to live."),
    seed: int = typer.Option(demo_service.SEED_DEFAULT, help="Seed of the synthetic city."),
    first_day: str = typer.Option("2026-10-01", help="The first day settled."),
    db_path: str = typer.Option(DEMO_DB, "--demo-db", help="SQLite file (replaced each run)."),
) -> None:
    """A synthetic city lives through a month: readings, daily settlement, payments, audit."""
    try:
        start = dt.date.fromisoformat(first_day)
    except ValueError:
        raise InvalidInput(f"--first-day {first_day!r} is not a date like 2026-10-01") from None
    path = Path(db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    settings = load_settings(db=str(path))
    clock = SimulatedClock(dt.datetime.now(dt.UTC), settings.time_zone)
    built = bootstrap.build(settings, clock=clock)
    err_console.print(f"building a city of {accounts:,} households in {path} ...")
    # Short headings, whole kWh and yuan: the table fits an 80-column terminal.
    table = Table(title=f"{accounts:,} prepaid households, {days} days (seed {seed})")
    headings = ("day", "read", "late", "bad", "est", "trued", "kWh", "charged", "pays", "paid")
    for column in (*headings, "retry", "<=0"):
        table.add_column(column, justify="right", no_wrap=True)

    def show(d: demo_service.DemoDay) -> None:
        err_console.print(
            f"  {d.day}: settled {d.settled:,}, {format_kwh(d.energy_wh)} kWh, "
            f"{d.payments} payments, {d.accounts_at_or_below_zero} at or below zero"
        )
        table.add_row(
            d.day.strftime("%m-%d"),
            str(d.readings_stored),
            str(d.late_readings),
            str(d.readings_quarantined),
            str(d.estimated),
            str(d.trued_up),
            f"{d.energy_wh // 1000:,}",
            f"{(d.charged_fen - d.credited_fen) // 100:,}",
            str(d.payments),
            f"{d.paid_fen // 100:,}",
            str(d.retries_absorbed),
            str(d.accounts_at_or_below_zero),
        )

    try:
        summary = demo_service.run_demo(
            built.store,
            clock,
            settings,
            bench_repo_for,
            shipped_tariffs(),
            accounts=accounts,
            days=days,
            seed=seed,
            first_day=start,
            progress=RichProgress() if err_console.is_terminal else None,
            on_day=show,
        )
    finally:
        built.close()
    # The table needs ~100 columns; a pipe or a narrow window must not squeeze it into ellipses.
    Console(width=max(console.width, 110)).print(table)
    total_kwh = sum(d.energy_wh for d in summary.days)
    charged = sum(d.charged_fen - d.credited_fen for d in summary.days)
    paid = sum(d.paid_fen for d in summary.days)
    console.print(
        f"Energy {format_kwh(total_kwh)} kWh, charged {format_fen(charged)} yuan, "
        f"paid {format_fen(paid)} yuan; payments by channel: {summary.payments_by_channel}"
    )
    report = summary.audit
    assert report is not None
    verdict = "[bold green]balanced[/]" if report.ok else "[bold red]NOT balanced[/]"
    console.print(f"gridpay audit: the books are {verdict} ({len(report.checks)} checks).")
    console.print(
        f"Explore it: gridpay --db {path} account show 0000000001 ; "
        f"gridpay --db {path} runs ; gridpay --db {path} readings quarantine"
    )
    if not report.ok:
        raise typer.Exit(7)
