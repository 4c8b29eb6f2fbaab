"""CLI: bench commands.

``gridpay bench settle`` builds a seeded synthetic city in a fresh database, measures the
engine's floor there, and settles one day in a child process (so that the child's peak memory is
the settlement's alone: read from ``os.wait4``'s resource usage of that one child).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from gridpay import bootstrap, limits
from gridpay.adapters.clock import FixedClock
from gridpay.adapters.dlt645.head_end import ClientOptions
from gridpay.adapters.sql.db import masked_url
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import database_url
from gridpay.domain.money import format_fen
from gridpay.entrypoints.cli._common import RichProgress, app, console, err_console, print_json
from gridpay.errors import InvalidInput
from gridpay.simulation import bench
from gridpay.simulation import bench_reads as bench_reads_module
from gridpay.simulation.bench_headend import HeadEndBenchOptions, run_headend_bench
from gridpay.simulation.bench_repo import BenchDatabase, bench_repo_for, fresh_database
from gridpay.simulation.machine import describe_database, describe_machine
from gridpay.simulation.reads_city import (
    ReadsCity,
    build_reads_city,
    holds_other_data,
    open_reads_city,
)

bench_app = typer.Typer(
    help="Benchmarks: a synthetic city settled end to end, against the engine's floor.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

SETTLEMENT_MODULE = "gridpay.services.settlement"
_CHILD_CODE = "from gridpay.entrypoints.cli.bench import settle_child; settle_child()"
CHILD_URL_VARIABLE = "GRIDPAY_BENCH_CHILD_DATABASE_URL"


@bench_app.command("settle")
def bench_settle(
    accounts: int = typer.Option(bench.ACCOUNTS_DEFAULT, "--accounts", help="Accounts to build."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="A SQLite path that does not exist yet, or a PostgreSQL URL (a fresh schema is "
        "made in it). Default: a temporary SQLite file. Never the configured database.",
    ),
    seed: int = typer.Option(bench.SEED_DEFAULT, "--seed", help="Seed of the synthetic city."),
    day: str = typer.Option(bench.DAY_DEFAULT.isoformat(), "--day", help="The day to settle."),
    missing_share: float = typer.Option(
        0.0, "--missing-share", help="Share of the day's readings that never arrive (0-1)."
    ),
    history_days: int = typer.Option(
        0,
        "--history-days",
        min=0,
        help="Days of earlier charges to load into the ledger first, as a production ledger "
        "holds (550,000 accounts: about 3-6 s a day to load).",
    ),
    ages: str | None = typer.Option(
        None,
        "--ages",
        help="Settle the day at several ages of the ledger in one run, e.g. 0,30,90,365 (days "
        "of earlier history, made inside the database; the settlement is taken back out "
        "between ages). Replaces --history-days.",
    ),
    repeats: int = typer.Option(
        1,
        "--repeats",
        min=1,
        help="With --ages: settle the day this many times at each age (taken back out "
        "between) and report the median; a single run on a shared machine is mostly its load.",
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the database afterwards."),
    no_settle: bool = typer.Option(
        False, "--no-settle", help="Build the city and measure the floor only."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Build a synthetic city, measure the floor, settle one day; print the numbers."""
    try:
        settle_day = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--day {day!r} is not a date like 2026-11-26") from None
    if repeats > 1 and not ages:
        raise InvalidInput("--repeats settles again at each of --ages: give --ages too (e.g. 0)")
    options = bench.BenchOptions(
        accounts=accounts,
        seed=seed,
        day=settle_day,
        missing_share=missing_share,
        history_days=history_days,
        ages=_parse_ages(ages),
        repeats=repeats,
    )
    settle_note = None
    if no_settle:
        settle_note = "not run (--no-settle)"
    elif importlib.util.find_spec(SETTLEMENT_MODULE) is None:
        settle_note = f"not run: {SETTLEMENT_MODULE} does not exist yet"
    with fresh_database(db, keep) as database:
        err_console.print(f"bench database: {database.description}")
        built = bootstrap.build(db=database.url)
        try:
            machine = {**describe_machine(), **describe_database(built.store.engine)}
            runner = None if settle_note else (lambda d: settle_in_child(database.url, d))
            report = bench.run_bench(
                built.store,
                built.clock,
                bench_repo_for,
                options,
                built.settings.offices,
                shipped_tariffs(),
                settle=runner,
                settle_note=settle_note,
                machine=machine,
                progress=RichProgress() if err_console.is_terminal else None,
                on_phase=_print_phase,
            )
        finally:
            built.close()
        if keep:
            # Never the password: the operator has it, a terminal log need not.
            err_console.print(f"kept: --db '{masked_url(database.url)}'")
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)
    if (
        report.settle is None
        and not no_settle
        and report.settle_note
        and "failed" in (report.settle_note)
    ):
        raise typer.Exit(1)


CITY_DB_HELP = (
    "A city to reuse, or to build and keep: a SQLite path or a PostgreSQL URL. The first run "
    "builds the city there (an empty database) and keeps it; later runs measure it again "
    "without building (--accounts and --history-days are then the city's own)."
)


@bench_app.command("reads")
def bench_reads(
    accounts: int = typer.Option(bench.ACCOUNTS_DEFAULT, "--accounts", help="Accounts to build."),
    history_days: int = typer.Option(
        365, "--history-days", min=1, help="Days of usage and charges before the reads."
    ),
    samples: int = typer.Option(
        bench_reads_module.SAMPLES_DEFAULT, "--samples", min=1, help="Random accounts read."
    ),
    db: str | None = typer.Option(
        None, "--db", help="As for bench settle: a new SQLite path or a PostgreSQL URL."
    ),
    city_db: str | None = typer.Option(None, "--city-db", help=CITY_DB_HELP),
    seed: int = typer.Option(bench.SEED_DEFAULT, "--seed", help="Seed of the city and sample."),
    keep: bool = typer.Option(False, "--keep", help="Keep the database afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Time ``account show``, a month's statement and the home page's reads on random accounts
    of a city with its history: p50/p95/p99, CPU and SQL statements per read."""
    with city_database(city_db, db, keep) as database:
        err_console.print(f"bench database: {database.description}")
        built = bootstrap.build(db=database.url)
        try:
            city, reused = ready_city(built, accounts, history_days, seed)
            machine = {**describe_machine(), **describe_database(built.store.engine)}
            report = bench_reads_module.run_reads_bench(
                built.store,
                built.store.engine,
                FixedClock(bench_reads_module.as_of(city)),
                built.credit,
                city,
                reused=reused,
                samples=samples,
                seed=seed,
                machine=machine,
            )
        finally:
            built.close()
        if keep or city_db:
            err_console.print(f"kept: --city-db '{masked_url(database.url)}'")
    if as_json:
        print_json(report.as_dict())
        return
    table = Table(
        title=f"gridpay bench reads: {report.accounts:,} accounts, "
        f"{report.history_days} days of history"
        + (" (city reused)" if report.reused else f" (built in {report.build_s:.0f} s)")
    )
    for column in ("read", "samples", "p50", "p95", "p99", "max", "CPU mean", "statements"):
        table.add_column(column, justify="left" if column == "read" else "right")
    for read in report.reads:
        row = read.as_dict()
        table.add_row(
            read.name,
            f"{row['samples']:,}",
            *(f"{row[k]:.1f} ms" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
            f"{row['cpu_mean_ms']:.2f} ms",
            f"{row['statements_mean']:.1f}",
        )
    console.print(table)
    for key, value in report.machine.items():
        console.print(f"{key}: {value}")


@contextmanager
def city_database(city_db: str | None, db: str | None, keep: bool) -> Iterator[BenchDatabase]:
    """The database the reads and web benches measure: ``--city-db`` (kept), or a fresh one."""
    if city_db is None:
        with fresh_database(db, keep) as database:
            yield database
        return
    url = city_db if "://" in city_db else f"sqlite:///{city_db}"
    yield BenchDatabase(url, f"city {masked_url(url)}")


def ready_city(
    built: bootstrap.App, accounts: int, history_days: int, seed: int
) -> tuple[ReadsCity, bool]:
    """The city already in the database (reused: True), or one built there now."""
    found = open_reads_city(built.store)
    if found is not None:
        err_console.print(
            f"reusing the city: {found.accounts:,} accounts, {found.history_days} days "
            f"to {found.newest_day}"
        )
        return found, True
    if holds_other_data(built.store):
        raise InvalidInput("the database holds gridpay data but no bench city: give an empty one")
    city = build_reads_city(
        built.store,
        built.clock,
        accounts=accounts,
        history_days=history_days,
        newest_day=bench.DAY_DEFAULT,
        seed=seed,
        office_names=built.settings.offices,
        tariff_files=shipped_tariffs(),
        progress=RichProgress() if err_console.is_terminal else None,
    )
    err_console.print(f"built the city in {city.build_s:.0f} s")
    return city, False


def _parse_ages(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        ages = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise InvalidInput(f"--ages {text!r} is not a list of days like 0,30,90,365") from None
    if not ages or ages[0] < 0:
        raise InvalidInput(f"--ages {text!r}: give days of history, 0 or more")
    return ages


def settle_in_child(url: str, day: dt.date) -> bench.SettleMeasurement:
    """Run ``settle_day`` in a fresh Python process; time it and read its peak memory."""
    with tempfile.TemporaryDirectory(prefix="gridpay-bench-") as folder:
        out = Path(folder) / "settle.json"
        start = time.perf_counter()
        # The URL (which may hold a password) goes in the environment, which only this user
        # can read; a command line is visible to every user of the machine.
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, day.isoformat(), str(out)],
            env={**os.environ, CHILD_URL_VARIABLE: url},
        )
        # wait4 reaps this one child and returns its own resource usage (getrusage's
        # RUSAGE_CHILDREN would be the maximum over every child this process ever waited for).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        process_seconds = time.perf_counter() - start
        if child.returncode != 0 or not out.exists():
            raise bench.SettleFailed(
                f"settlement process failed with exit code {child.returncode} (output above)"
            )
        result = json.loads(out.read_text(encoding="utf-8"))
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    own_peak_kib = result.get("own_peak_rss_kib")
    return bench.SettleMeasurement(
        seconds=float(result["seconds"]),
        process_seconds=process_seconds,
        peak_rss_bytes=own_peak_kib * 1024 if own_peak_kib else usage.ru_maxrss * scale,
        reader_peak_rss_bytes=int(result["reader_maxrss"]) * scale,
        report=result["report"],
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def settle_child() -> None:
    """The child: ``python -c ... DAY OUT`` with the URL in ``CHILD_URL_VARIABLE``; settles DAY
    and writes its numbers to OUT."""
    from gridpay.services.settlement import settle_day  # lazily: that module is another's

    day_text, out_path = sys.argv[1:3]
    url = os.environ[CHILD_URL_VARIABLE]
    built = bootstrap.build(db=url)
    try:
        progress = RichProgress() if err_console.is_terminal else None
        start = time.perf_counter()
        report = settle_day(
            built.store,
            built.clock,
            dt.date.fromisoformat(day_text),
            nominal_voltage_v=built.settings.nominal_voltage_v,
            progress=progress,
        )
        seconds = time.perf_counter() - start
    finally:
        built.close()
    # The settlement's reader process, if it had one, has ended and been waited for by now:
    # its peak is the largest of this process's children's.
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    data = {
        "seconds": seconds,
        "reader_maxrss": children,
        "own_peak_rss_kib": own_peak_rss_kib(),
        "report": asdict(report),
    }
    Path(out_path).write_text(json.dumps(data, default=str), encoding="utf-8")


def own_peak_rss_kib(status: Path = Path("/proc/self/status")) -> int | None:
    """This process's own peak resident memory in KiB (Linux's ``VmHWM``), None elsewhere.

    Not ``ru_maxrss`` from ``wait4``: a child started by ``vfork`` (``subprocess`` does where it
    can) takes its parent's peak at ``exec``, so the settlement child would report the bench's
    own (about a GiB after a year of history is built) as its peak.
    """
    try:
        text = status.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _print_phase(phase: bench.Phase) -> None:
    rate = f", {phase.rows_per_s:,.0f} rows/s" if phase.rows else ""
    err_console.print(f"  {phase.name}: {phase.seconds:.2f} s{rate}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _print_report(report: bench.BenchReport) -> None:
    table = Table(title=f"gridpay bench settle: {report.accounts:,} accounts, day {report.day}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    settle = report.settle
    floor = report.floor
    table.add_row("accounts", f"{report.accounts:,}")
    if settle is None:
        table.add_row("settle", report.settle_note or "not run")
    else:
        table.add_row("settle seconds", _seconds(settle.seconds))
        table.add_row("settle process (with start-up)", _seconds(settle.process_seconds))
        table.add_row("accounts/s", f"{report.accounts_per_s or 0:,.0f}")
    table.add_row(f"floor: insert {floor.rows:,} transfers", _seconds(floor.insert_seconds))
    table.add_row(f"floor: update {floor.rows:,} balances", _seconds(floor.update_seconds))
    table.add_row("floor total", _seconds(floor.seconds))
    if settle is not None:
        ratio = report.settle_floor_ratio
        table.add_row("settle / floor", "-" if ratio is None else f"{ratio:.2f}x")
        table.add_row(
            "peak RSS: settle process + its reader",
            f"{settle.peak_rss_bytes / 2**20:,.0f} + {settle.reader_peak_rss_bytes / 2**20:,.0f}"
            f" = {settle.total_peak_rss_bytes / 2**20:,.0f} MiB",
        )
        details = settle.report
        table.add_row(
            "settled / estimated / quarantined",
            f"{details.get('accounts', 0):,} / {details.get('estimated', 0):,} / "
            f"{details.get('quarantined', 0):,}",
        )
        table.add_row("charge transfers posted", f"{report.charges_posted or 0:,}")
        table.add_row("charged", f"{format_fen(report.charged_fen or 0)} yuan")
    for age in report.ages:
        ratio = report.age_ratio(age)
        to_floor = age.settle.seconds / floor.seconds if floor.seconds > 0 else 0.0
        samples = ""
        if len(age.samples) > 1:
            samples = "; samples " + ", ".join(
                f"{s.seconds:.2f}/{s.cpu_seconds:.2f}" for s in age.samples
            )
        table.add_row(
            f"settle at {age.age_days} days of history",
            f"{age.settle.seconds:.2f} s ({ratio or 0:.2f}x the first age, "
            f"{to_floor:.2f}x floor; CPU {age.cpu_seconds_median:.2f} s{samples})",
        )
    for key, value in report.machine.items():
        table.add_row(key, value)
    console.print(table)


@bench_app.command("headend")
def bench_headend(
    meters: int = typer.Option(100_000, "--meters", min=1, help="Simulated meters."),
    faulty_share: float = typer.Option(
        0.02, "--faulty-share", min=0.0, max=1.0, help="Unreadable meters in the second run."
    ),
    trips: int = typer.Option(10_000, "--trips", min=1, help="Trip commands to confirm."),
    paced_per_s: float = typer.Option(
        1_000.0, "--paced-per-s", min=1.0, help="Commands per second in the paced run."
    ),
    seed: int = typer.Option(1, "--seed", help="Seed of the fleet and its faults."),
    in_flight: int = typer.Option(
        limits.dlt645_requests_in_flight_max,
        "--in-flight",
        min=1,
        help="Requests the head-end keeps in flight (setting head_end_in_flight).",
    ),
    commands_per_s: float = typer.Option(
        HeadEndBenchOptions.commands_per_s,
        "--commands-per-s",
        min=0.001,
        help="The dispatcher's rate limit in the queue burst (head_end_commands_per_s).",
    ),
    command_burst: int = typer.Option(
        HeadEndBenchOptions.command_burst,
        "--command-burst",
        min=1,
        help="Its burst allowance (head_end_command_burst).",
    ),
    db: str | None = typer.Option(
        None, "--db", help="An empty database for the queue burst (default: a fresh SQLite file)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Collect the daily freeze of N simulated meters over DL/T 645 (with and without faulty
    meters) and confirm trip commands; the fleet runs in a child process on loopback."""
    options = HeadEndBenchOptions(
        meters=meters,
        faulty_share=faulty_share,
        trips=min(trips, meters),
        paced_per_s=paced_per_s,
        seed=seed,
        options=ClientOptions(in_flight_max=in_flight),
        database_url=database_url(db) if db else None,
        commands_per_s=commands_per_s,
        command_burst=command_burst,
    )
    report = run_headend_bench(options)
    burst = report.queue_burst
    machine = describe_machine()
    if as_json:
        print_json(
            {
                "machine": machine,
                "collections": [
                    asdict(c) | {"meters_per_s": c.meters_per_s, "success_rate": c.success_rate}
                    for c in report.collections
                ],
                "switching": [asdict(s) for s in report.switching],
                "fleet_cpu_s": report.fleet_cpu_s,
                "in_flight": in_flight,
                "queue_burst": None
                if burst is None
                else asdict(burst)
                | {
                    "cpu_ms_per_command": burst.cpu_ms_per_command,
                    "fleet_cpu_ms_per_command": burst.fleet_cpu_ms_per_command,
                    "statements_per_command": burst.statements_per_command,
                    "commands_per_s": commands_per_s,
                    "command_burst": command_burst,
                },
            }
        )
        return
    console.print("Machine: " + ", ".join(machine.values()), soft_wrap=True)
    table = Table(title=f"collection: {meters:,} meters, last daily freeze")
    for column in (
        "faulty", "collected", "failed", "seconds", "meters/s", "client CPU s", "rate", "all ok"
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for c in report.collections:
        table.add_row(
            f"{c.faulty:,}",
            f"{c.collected:,}",
            f"{c.failed:,}",
            f"{c.seconds:.1f}",
            f"{c.meters_per_s:,.0f}",
            f"{c.client_cpu_s:.1f}",
            f"{c.success_rate:.3%}",
            "yes" if c.healthy_all_collected and c.faulty_all_listed else "NO",
        )
    console.print(table)
    table = Table(title="switching: handed over -> relay confirmed by status word 3")
    for column in (
        "run", "commands", "confirmed", "seconds", "client CPU s", "p50", "p95", "p99", "max"
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for s in report.switching:
        table.add_row(
            s.label,
            f"{s.commands:,}",
            f"{s.confirmed:,}",
            f"{s.seconds:.1f}",
            f"{s.client_cpu_s:.1f}",
            f"{s.p50_s:.3f}",
            f"{s.p95_s:.3f}",
            f"{s.p99_s:.3f}",
            f"{s.max_s:.3f}",
        )
    console.print(table)
    if burst is not None:
        table = Table(
            title="queue burst: queued in meter_commands -> confirmation recorded "
            f"(gridpay run's worker; rate limit {commands_per_s:g}/s, burst {command_burst:,})"
        )
        for column in (
            "commands", "confirmed", "seconds", "CPU ms/command", "fleet CPU ms/command",
            "SQL/command", "p50", "p95", "p99", "max",
        ):  # fmt: skip
            table.add_column(column, justify="right")
        table.add_row(
            f"{burst.commands:,}",
            f"{burst.confirmed:,}",
            f"{burst.seconds:.2f}",
            f"{burst.cpu_ms_per_command:.3f}",
            f"{burst.fleet_cpu_ms_per_command:.3f}",
            f"{burst.statements_per_command:.2f}",
            f"{burst.p50_s:.3f}",
            f"{burst.p95_s:.3f}",
            f"{burst.p99_s:.3f}",
            f"{burst.max_s:.3f}",
        )
        console.print(table)
    console.print(
        "fleet CPU s (child processes): " + ", ".join(f"{c:.1f}" for c in report.fleet_cpu_s)
    )
