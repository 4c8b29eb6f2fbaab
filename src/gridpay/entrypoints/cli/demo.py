"""CLI: the demo, the main job for a newcomer (``make demo``)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gridpay import bootstrap
from gridpay.adapters.dlt645.head_end import Dlt645HeadEnd
from gridpay.adapters.sms import FileSmsGateway
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import HEAD_ENDS, Settings, load_settings
from gridpay.domain.money import format_fen, format_kwh
from gridpay.entrypoints.cli._common import RichProgress, app, console, err_console
from gridpay.entrypoints.head_ends import configured_head_end
from gridpay.errors import InvalidInput
from gridpay.ports.gateways import HeadEnd
from gridpay.ports.meters import MeterReader
from gridpay.simulation import demo as demo_service
from gridpay.simulation.bench_repo import bench_repo_for
from gridpay.simulation.clock import SimulatedClock
from gridpay.simulation.html_report import write_demo_report
from gridpay.simulation.lifecycle import LifeDay, LifeOptions, LifeSummary, run_life
from gridpay.simulation.meter_fleet import AnsweredBeforeMoving, MeterFleet, RunningFleet

DEMO_DB = "gridpay-demo.db"
REPORT_NAME = "gridpay-demo-report.html"
SMS_NAME = "gridpay-demo-sms.jsonl"
TABLE_WIDTH = 124  # the day table's width; a pipe or a narrow window must not squeeze it
HISTOGRAM_BAR_MAX = 40
KIND_MARK = {"holiday": "H", "weekend": "w", "makeup_workday": "M", "unknown": "?"}


@app.command()
def demo(
    accounts: int = typer.Option(demo_service.ACCOUNTS_DEFAULT, min=10, help="Households."),
    days: int = typer.Option(
        demo_service.DAYS_DEFAULT, min=1, max=demo_service.DAYS_MAX, help="Days to live."
    ),
    seed: int = typer.Option(demo_service.SEED_DEFAULT, help="Seed of the synthetic city."),
    first_day: str = typer.Option(
        demo_service.FIRST_DAY_DEFAULT.isoformat(), help="The first day lived."
    ),
    db_path: str = typer.Option(DEMO_DB, "--demo-db", help="SQLite file (replaced each run)."),
    report_path: str | None = typer.Option(
        None, "--report", help=f"HTML report (default: {REPORT_NAME} beside the demo DB)."
    ),
    headend: str = typer.Option(
        "simulated",
        "--headend",
        help="simulated (in memory), or dlt645: commands go over DL/T 645 to a simulated meter "
        "fleet served in this process on a free loopback port.",
    ),
) -> None:
    """A synthetic city lives the whole cycle: readings, settlement, SMS, cuts, payments."""
    try:
        start = dt.date.fromisoformat(first_day)
    except ValueError:
        raise InvalidInput(f"--first-day {first_day!r} is not a date like 2026-09-15") from None
    options = demo_service.demo_options(accounts, days, seed, start)
    path = Path(db_path)
    report = Path(report_path) if report_path else path.parent / REPORT_NAME
    sms_file = path.parent / SMS_NAME
    for stale in (*(Path(f"{path}{s}") for s in ("", "-wal", "-shm")), sms_file):
        stale.unlink(missing_ok=True)
    if headend not in HEAD_ENDS:
        raise InvalidInput(f"--headend {headend!r}: use one of {', '.join(HEAD_ENDS)}")
    settings = replace(
        load_settings(db=str(path)),
        head_end=headend,
        head_end_latency_s=options.command_latency_s,
        head_end_failure_rate=options.command_failure_rate,
    )
    clock = SimulatedClock(dt.datetime.now(dt.UTC), settings.time_zone)
    with ExitStack() as stack:
        fleet = None
        if headend == "dlt645":
            fleet = MeterFleet([], clock.now, time_zone=settings.time_zone, adopt_unknown=True)
            host, port = stack.enter_context(RunningFleet(fleet))
            settings = replace(settings, head_end_host=host, head_end_port=port)
        head_end = stack.enter_context(configured_head_end(settings, seed))
        err_console.print(f"head-end: {head_end.name}")
        # The nights read the fleet's meters through the head-end (it is their reader too).
        reader = head_end if fleet is not None and isinstance(head_end, Dlt645HeadEnd) else None
        _live(
            options,
            path,
            report,
            sms_file,
            settings,
            clock,
            AnsweredBeforeMoving(head_end),
            fleet,
            reader,
        )


def _live(
    options: LifeOptions,
    path: Path,
    report: Path,
    sms_file: Path,
    settings: Settings,
    clock: SimulatedClock,
    head_end: HeadEnd,
    fleet: MeterFleet | None = None,
    reader: MeterReader | None = None,
) -> None:
    accounts, days, seed = options.accounts, options.days, options.seed
    built = bootstrap.build(settings, clock=clock)
    err_console.print(f"building a city of {accounts:,} households in {path} ...")
    table = _day_table(options.accounts, options.days, seed)
    started = time.perf_counter()

    def show(d: LifeDay) -> None:
        err_console.print(
            f"  {d.day} {d.day_kind}: {d.payments} payments, {d.warnings} warnings, "
            f"{d.cuts_confirmed} cuts, {d.restorations_confirmed} restored, "
            f"{d.accounts_at_or_below_zero} at or below zero"
        )
        _add_row(table, d)

    try:
        summary = run_life(
            built,
            clock,
            bench_repo_for,
            shipped_tariffs(),
            options,
            head_end=head_end,
            gateway=FileSmsGateway(sms_file, clock),
            progress=RichProgress() if err_console.is_terminal else None,
            on_day=show,
            fleet=fleet,
            reader=reader,
        )
    finally:
        built.close()
    seconds = time.perf_counter() - started
    Console(width=max(console.width, TABLE_WIDTH)).print(table)
    _print_totals(summary)
    _print_samples(summary)
    _print_latency(summary)
    written = write_demo_report(summary, report)
    audit = summary.audit
    assert audit is not None
    verdict = "[bold green]balanced[/]" if audit.ok else "[bold red]NOT balanced[/]"
    console.print(f"gridpay audit: the books are {verdict} ({len(audit.checks)} checks).")
    # Paths stay whole on one line (soft wrap), so they can be copied from a narrow window.
    console.print(f"Lived {days} days in {seconds:.1f} s. HTML report: {written}", soft_wrap=True)
    phases = sorted(summary.seconds_by_phase.items(), key=lambda kv: -kv[1])
    console.print(
        "Where the time went: " + ", ".join(f"{name} {s:.1f} s" for name, s in phases),
        soft_wrap=True,
    )
    console.print(f"SMS sent are in {sms_file}.", soft_wrap=True)
    console.print(f"Meter commands were confirmed by head-end {head_end.name}.", soft_wrap=True)
    console.print(
        f"Explore it: gridpay --db {path} account show {4_100_000_001:010d} ; "
        f"gridpay --db {path} explain {4_100_000_001:010d} ; gridpay --db {path} runs",
        soft_wrap=True,
    )
    if not audit.ok:
        raise typer.Exit(7)


def _day_table(accounts: int, days: int, seed: int) -> Table:
    # Short headings, whole kWh and yuan: one line per day.
    table = Table(title=f"{accounts:,} prepaid households, {days} days (seed {seed})")
    headings = ("day", "", "kWh", "revenue", "pays", "paid", "warn", "notice", "2nd")
    for column in (*headings, "held", "cut", "back", "sms", "fail", "<=0", "off"):
        table.add_column(column, justify="right", no_wrap=True)
    return table


def _add_row(table: Table, d: LifeDay) -> None:
    table.add_row(
        d.day.strftime("%m-%d"),
        KIND_MARK.get(d.day_kind, ""),
        f"{d.energy_wh // 1000:,}",
        f"{d.charged_fen // 100:,}",
        str(d.payments),
        f"{d.paid_fen // 100:,}",
        str(d.warnings),
        str(d.arrears_notices),
        str(d.second_notices),
        str(d.holds),
        str(d.cuts_confirmed),
        str(d.restorations_confirmed),
        str(d.messages_sent),
        str(d.commands_failed),
        str(d.accounts_at_or_below_zero),
        str(d.accounts_disconnected),
    )


def _print_totals(summary: LifeSummary) -> None:
    t = demo_service.totals(summary)
    console.print(
        "H public holiday, w weekend, M make-up working day; kWh and revenue settled that night "
        "for the day before; back: restorations confirmed; fail: commands given up; <=0: "
        "balances at or below zero; off: accounts cut at the end of the day.",
        soft_wrap=True,
    )
    console.print(
        f"Energy {format_kwh(t.energy_wh)} kWh, revenue {format_fen(t.charged_fen)} yuan, "
        f"{t.payments:,} payments of {format_fen(t.paid_fen)} yuan "
        f"({t.retries_absorbed} sent twice by their channel, credited once); "
        f"by channel: {dict(sorted(summary.payments_by_channel.items()))}",
        soft_wrap=True,
    )


def _print_samples(summary: LifeSummary) -> None:
    console.print("[bold]Sample SMS[/]")
    for kind, by_language in summary.sample_messages.items():
        for language, body in sorted(by_language.items(), reverse=True):
            console.print(
                f"  {kind} ({language}): {body}", markup=False, highlight=False, soft_wrap=True
            )


def _print_latency(summary: LifeSummary) -> None:
    stats = demo_service.latency_stats(summary.ack_latencies_s)
    if stats is None:
        console.print("No payment restored a cut supply in this run.")
        return
    queued = max(summary.queue_latencies_s)
    console.print(
        f"[bold]Payment to reconnect[/] ({stats.count} restoring payments): reconnect queued "
        f"{queued:.0f} s after the payment at most (same transaction); meter acknowledged "
        f"p50 {stats.p50_s:.1f} s, p90 {stats.p90_s:.1f} s, p99 {stats.p99_s:.1f} s, "
        f"max {stats.max_s:.1f} s (simulated)"
    )
    buckets = demo_service.latency_histogram(summary.ack_latencies_s)
    top = max(n for _, _, n in buckets)
    for low, high, n in buckets:
        bar = "#" * (n * HISTOGRAM_BAR_MAX // top) if top else ""
        console.print(f"  {low:6.1f}-{high:6.1f} s {n:5d} {bar}", markup=False, highlight=False)
