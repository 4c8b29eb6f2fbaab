"""CLI: readings commands (import a file, list the quarantine)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from gridpay.adapters.bulk_files import read_readings_file
from gridpay.domain.money import format_kwh
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import (
    RichProgress,
    app,
    console,
    gridpay_app,
    print_json,
)
from gridpay.errors import InvalidInput
from gridpay.services import readings as service

REJECTED_SHOWN_MAX = 20  # rejected rows printed after an import; all are in the quarantine
QUARANTINE_LIMIT_DEFAULT = 50
PROGRESS_ROWS_MIN = 50_000  # smaller files import in well under a second: no bar

readings_app = typer.Typer(
    help="Daily meter readings: import files, see the quarantine.", no_args_is_help=True
)
app.add_typer(readings_app, name="readings")


def _report_dict(report: service.ImportReport, read_s: float) -> dict[str, Any]:
    return {
        "source": report.source,
        "rows_read": report.rows_read,
        "stored": report.stored,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
        "quarantined_by_reason": report.quarantined_by_reason,
        "quarantine_rows_added": report.quarantine_rows_added,
        "pending_trueups": report.pending_trueups,
        "read_seconds": round(read_s, 3),
        "import_seconds": round(report.seconds, 3),
        "rejected": [
            {
                "row_no": r.row_no,
                "meter_no": r.meter_no,
                "date": r.day.isoformat() if r.day else None,
                "reason_code": r.reason_code,
                "reason": r.reason,
            }
            for r in report.rejected[:REJECTED_SHOWN_MAX]
        ],
    }


def _print_report(report: service.ImportReport, read_s: float) -> None:
    summary = Table(title=f"readings import: {escape(report.source)}", show_header=False)
    summary.add_column("what")
    summary.add_column("rows", justify="right")
    summary.add_row("rows read", f"{report.rows_read:,}")
    summary.add_row("stored", f"{report.stored:,}")
    summary.add_row("duplicates (already stored, skipped)", f"{report.duplicates:,}")
    summary.add_row("quarantined", f"{report.quarantined:,}")
    for code, count in report.quarantined_by_reason.items():
        summary.add_row(f"  {code}", f"{count:,}")
    if report.quarantined > report.quarantine_rows_added:
        summary.add_row(
            "  already in quarantine from an earlier import",
            f"{report.quarantined - report.quarantine_rows_added:,}",
        )
    summary.add_row("settled days queued for a true-up", f"{report.pending_trueups:,}")
    summary.add_row("seconds (read + import)", f"{read_s:.2f} + {report.seconds:.2f}")
    console.print(summary)
    if not report.rejected:
        return
    shown = report.rejected[:REJECTED_SHOWN_MAX]
    rejected = Table(title=f"rejected rows (first {len(shown)} of {report.quarantined:,})")
    rejected.add_column("row", justify="right", no_wrap=True)
    rejected.add_column("meter", no_wrap=True)
    rejected.add_column("date", no_wrap=True)
    rejected.add_column("reason", ratio=1)
    for r in shown:
        rejected.add_row(
            str(r.row_no),
            escape(r.meter_no or ""),
            r.day.isoformat() if r.day else "",
            f"{escape(r.reason)} [dim]({r.reason_code})[/]",
        )
    console.print(rejected)
    console.print("all rejected rows are listed by: gridpay readings quarantine")


@readings_app.command("import")
def import_file(
    path: str = typer.Argument(..., help="A readings file: CSV with a header, or Parquet."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Import daily readings (meter_no, date, total_kwh[, sharp/peak/flat/valley_kwh]).

    Good rows are stored even when others are rejected; rejected rows go to the quarantine with
    the reason. Importing the same file again changes nothing.
    """
    started = time.perf_counter()
    file = read_readings_file(path)
    read_s = time.perf_counter() - started
    show_bar = not as_json and file.rows.height >= PROGRESS_ROWS_MIN
    with gridpay_app() as g:
        report = service.import_readings(
            g.store, g.clock, file.rows, file.source, RichProgress() if show_bar else None
        )
    if as_json:
        print_json(_report_dict(report, read_s))
    else:
        _print_report(report, read_s)


def _parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--day {text!r} is not a date like 2026-10-01") from None


@readings_app.command("quarantine")
def quarantine(
    day: str | None = typer.Option(None, "--day", help="Only readings for this day (YYYY-MM-DD)."),
    limit: int = typer.Option(
        QUARANTINE_LIMIT_DEFAULT, "--limit", min=1, help="Rows to show (at most 1,000)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List quarantined readings with their reason, newest import first."""
    wanted = _parse_day(day)
    with gridpay_app() as g:
        rows = service.quarantined(g.store, wanted, limit)
    if as_json:
        print_json(
            [
                {**r, "day": r["day"].isoformat() if r["day"] else None}
                for r in rows.drop("id").iter_rows(named=True)
            ]
        )
        return
    if rows.height == 0:
        console.print("the quarantine is empty" + (f" for {wanted}" if wanted else ""))
        return
    table = Table(title=f"quarantined readings (newest first, {rows.height} shown)")
    table.add_column("file", overflow="fold")
    table.add_column("row", justify="right", no_wrap=True)
    table.add_column("meter", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("kWh", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1)
    for r in rows.iter_rows(named=True):
        table.add_row(
            # Rows quarantined before imports refused control characters may still hold some.
            escape(printable(r["source"])),
            "" if r["row_no"] is None else str(r["row_no"]),
            escape(printable(r["meter_no"] or "")),
            r["day"].isoformat() if r["day"] else "",
            "" if r["total_wh"] is None else format_kwh(r["total_wh"]),
            f"{escape(printable(r['reason']))} [dim]({r['reason_code']})[/]",
        )
    console.print(table)
