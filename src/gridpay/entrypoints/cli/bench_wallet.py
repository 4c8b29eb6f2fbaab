"""CLI: ``gridpay bench wallet``, verified wallet callbacks per second through ``gridpay serve``."""

from __future__ import annotations

import os
from dataclasses import asdict

import typer
from rich.table import Table

from gridpay.entrypoints.cli._common import console, print_json
from gridpay.entrypoints.cli.bench import bench_app
from gridpay.errors import AuditFailed
from gridpay.simulation.bench_repo import fresh_database
from gridpay.simulation.bench_wallet import run_wallet_bench
from gridpay.simulation.machine import describe_machine


@bench_app.command("wallet")
def bench_wallet(
    orders: int = typer.Option(
        20_000,
        "--orders",
        min=1,
        help="Notifications signed for the HTTP run (more than wrk can send in --duration).",
    ),
    duration_s: int = typer.Option(10, "--duration", min=1, help="Seconds of wrk load."),
    raw_orders: int = typer.Option(
        1_000, "--raw-orders", min=1, help="Callbacks through the service alone (the floor)."
    ),
    connections: int = typer.Option(16, "--connections", min=1, help="Load connections."),
    warmup_s: int = typer.Option(
        2,
        "--warmup",
        min=0,
        help="Seconds of load before the measured run (notifications of their own).",
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="`gridpay serve --workers N`: server processes."
    ),
    db: str | None = typer.Option(
        None, "--db", help="A new SQLite path or a PostgreSQL URL (a fresh schema is made)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the bench database."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Post signed wallet callbacks to `gridpay serve` with wrk; check no order credited twice,
    every answered one credited and the books balanced; print the raw floor beside it."""
    with fresh_database(db, keep) as database:
        report = run_wallet_bench(
            database.url, orders, raw_orders, connections, workers, duration_s, warmup_s
        )
    if as_json:
        print_json(
            {
                **asdict(report),
                "exactly_once": report.exactly_once,
                "load_average": os.getloadavg()[0],
                "machine": describe_machine(),
            }
        )
    else:
        table = Table(title=f"wallet callbacks on {report.engine}", expand=True)
        for column in ("", "credits/s", "per CPU-s", "p50 ms", "p95 ms", "p99 ms", "credits"):
            table.add_column(column)
        h = report.http
        table.add_row(
            f"HTTP ({h['load']}, {workers} workers)",
            str(h["per_s"]),
            str(h["per_server_cpu_s"]),
            str(h["p50_ms"]),
            str(h["p95_ms"]),
            str(h["p99_ms"]),
            str(report.credited_http),
        )
        table.add_row(
            "raw floor",
            str(report.raw_per_s),
            str(report.raw_per_cpu_s),
            "",
            "",
            str(report.raw_p99_ms),
            str(report.orders_raw),
        )
        console.print(table)
        console.print(f"non-2xx: {h['non2xx']}, socket errors: {h['socket_errors']}")
        console.print(
            f"the first callback after start: {h['first_callback_ms']} ms; then "
            f"{report.orders_warmup - 1} warm-up notifications over {warmup_s} s"
        )
        if "server_slow" in h:
            slow = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in h["server_slow"].items())
            console.print(f"the server's own times of {h['server_answers']} answers: {slow}")
        if h["exhausted"]:
            console.print(
                f"wrk sent all {report.orders_http} notifications and replayed the last ones: "
                "the rate is no measure; raise --orders or lower --duration"
            )
        console.print(
            f"exactly once: {report.exactly_once} ({report.credits_found} credits, "
            f"{report.credited_orders} orders credited); audit ok: {report.audit_ok}"
        )
        console.print(" · ".join(f"{k}: {v}" for k, v in describe_machine().items()))
        console.print(f"load average while measuring: {os.getloadavg()[0]:.1f}")
    if not (report.exactly_once and report.audit_ok):
        raise AuditFailed("the wallet bench did not land every credit exactly once")
