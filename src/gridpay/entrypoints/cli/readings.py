"""CLI: readings commands (import a file, list the quarantine, replace a meter's base)."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from gridpay import limits
from gridpay.adapters.bulk_files import read_readings_file
from gridpay.domain.money import format_fen, format_kwh, parse_kwh
from gridpay.domain.rebase import RebaseMeter
from gridpay.domain.registry import meter_id_from_no
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import (
    RichProgress,
    app,
    console,
    gridpay_app,
    operator,
    parse_day,
    print_json,
)
from gridpay.services import readings as service
from gridpay.services.rebase import rebase_meter

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
            for r in report.rejected[: limits.import_rejected_shown_max]
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
    shown = report.rejected[: limits.import_rejected_shown_max]
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
    show_bar = not as_json and file.rows.height >= limits.import_progress_rows_min
    with gridpay_app() as g:
        report = service.import_readings(
            g.store, g.clock, file.rows, file.source, RichProgress() if show_bar else None
        )
    if as_json:
        print_json(_report_dict(report, read_s))
    else:
        _print_report(report, read_s)


@readings_app.command("quarantine")
def quarantine(
    day: str | None = typer.Option(None, "--day", help="Only readings for this day (YYYY-MM-DD)."),
    limit: int = typer.Option(
        limits.quarantine_rows_shown_default, "--limit", min=1, help="Rows to show (at most 1,000)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List quarantined readings with their reason, newest import first."""
    wanted = parse_day(day, "--day")
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


@readings_app.command("rebase")
def rebase(
    meter_no: str = typer.Argument(..., help="The meter's 12-digit number."),
    date: str = typer.Option(..., "--date", help="The day whose register was checked."),
    kwh: str = typer.Option(..., "--kwh", help="The checked register, in kWh (like 1234.56)."),
    checked_by: str = typer.Option(..., "--by", help="Who checked it (staff name or number)."),
    reason: str = typer.Option(..., "--reason", help="Why the base is replaced."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Replace a meter's base with a checked reading: readings it contradicts go to the
    quarantine, and the settled days from the earliest change are settled again, posting only
    the differences."""
    day = parse_day(date, "--date")
    assert day is not None
    cmd = RebaseMeter(meter_id_from_no(meter_no), day, parse_kwh(kwh), checked_by, reason)
    with gridpay_app() as g:
        report = rebase_meter(
            g.store,
            g.clock,
            cmd,
            nominal_voltage_v=g.settings.nominal_voltage_v,
            actor=operator(checked_by),
        )
    data = {
        "rebase_id": report.rebase_id,
        "meter_no": f"{cmd.meter_id:012d}",
        "day": report.day.isoformat(),
        "kwh": format_kwh(report.total_wh),
        "replaced_kwh": None if report.replaced_wh is None else format_kwh(report.replaced_wh),
        "refuted": [{"day": d.isoformat(), "kwh": format_kwh(wh)} for d, wh in report.refuted],
        "resettled_from": report.resettled_from.isoformat() if report.resettled_from else None,
        "corrected_yuan": format_fen(report.corrected_fen),
        "tasks_closed": report.tasks_closed,
    }
    if as_json:
        print_json(data)
        return
    console.print(
        f"meter {data['meter_no']}: {data['kwh']} kWh on {data['day']} is the base now "
        f"(rebase {report.rebase_id})"
    )
    for d, wh in report.refuted:
        console.print(f"  refuted and quarantined: {format_kwh(wh)} kWh on {d}")
    if report.resettled_from is None:
        console.print("no settled day changes")
    else:
        console.print(
            f"settled again from {report.resettled_from}; corrections posted: "
            f"{format_fen(report.corrected_fen)} yuan (positive: the customer owes more)"
        )
