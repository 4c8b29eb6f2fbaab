"""CLI: ``gridpay bench partner`` (signed partner payments over loopback with wrk) and
``gridpay bench reconcile`` (a partner's statement of many payments reconciled)."""

from __future__ import annotations

import shutil
from dataclasses import asdict

import typer
from rich.table import Table
from sqlalchemy import create_engine

from gridpay.adapters.sql.db import masked_url
from gridpay.entrypoints.cli._common import console, err_console, print_json
from gridpay.entrypoints.cli.bench import bench_app
from gridpay.errors import InvalidInput
from gridpay.simulation import bench_partner, bench_reconcile
from gridpay.simulation.bench_repo import fresh_database
from gridpay.simulation.machine import describe_database, describe_machine

DB_HELP = (
    "A SQLite path that does not exist yet, or a PostgreSQL URL (a fresh schema is made in it). "
    "Default: a temporary SQLite file. Never the configured database."
)


def _machine(url: str) -> dict[str, str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return {**describe_machine(), **describe_database(engine)}
    finally:
        engine.dispose()


def _print(title: str, rows: dict[str, object], machine: dict[str, str]) -> None:
    table = Table(title=title, show_header=False)
    for key, value in rows.items():
        table.add_row(key, str(value))
    console.print(table)
    console.print(", ".join(f"{k}: {v}" for k, v in machine.items()), highlight=False)


@bench_app.command("partner")
def bench_partner_api(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    accounts: int = typer.Option(bench_partner.ACCOUNTS_DEFAULT, "--accounts", min=1),
    connections: int = typer.Option(16, "--connections", min=1, help="wrk connections."),
    threads: int = typer.Option(2, "--threads", min=1, help="wrk threads."),
    duration_s: int = typer.Option(15, "--duration", min=1, help="Seconds of load."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="`gridpay serve --workers N`: server processes."
    ),
    floor_payments: int = typer.Option(2_000, "--floor-payments", min=1),
    rate_max: int = typer.Option(
        3_000, "--rate-max", min=1, help="Signed requests prepared per second of load."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the database afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Signed partner payments over loopback with wrk against `gridpay serve`, each landed
    exactly once (counted, and `gridpay audit`), beside the raw floor without HTTP."""
    if shutil.which("wrk") is None:
        raise InvalidInput("wrk is not installed (apt-get install wrk)")
    with fresh_database(db, keep) as database:
        err_console.print(f"bench database: {database.description}")
        engine = "postgresql" if database.url.startswith("postgresql") else "sqlite"
        result = bench_partner.run(
            database.url,
            engine=engine,
            accounts=accounts,
            connections=connections,
            threads=threads,
            duration_s=duration_s,
            workers=workers,
            floor_payments=floor_payments,
            rate_max_per_s=rate_max,
        )
        machine = _machine(database.url)
        if keep:
            err_console.print(f"kept: --db '{masked_url(database.url)}'")
    if as_json:
        print_json({**asdict(result), "machine": machine})
    else:
        _print("partner API payments over loopback (wrk)", asdict(result), machine)
    if not (result.exactly_once and result.audit_passed):
        raise typer.Exit(1)


@bench_app.command("reconcile")
def bench_reconcile_statement(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    payments: int = typer.Option(100_000, "--payments", min=1, help="Lines of the statement."),
    keep: bool = typer.Option(False, "--keep", help="Keep the database afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Reconcile a statement of many payments (a few of each kind of mismatch), timed."""
    with fresh_database(db, keep) as database:
        err_console.print(f"bench database: {database.description}")
        result = bench_reconcile.run(database.url, payments)
        machine = _machine(database.url)
    if as_json:
        print_json({**asdict(result), "machine": machine})
    else:
        _print("reconciling a partner's day", asdict(result), machine)
