"""CLI: daily settlement."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from gridpay import limits
from gridpay.domain.money import format_fen, format_kwh
from gridpay.entrypoints.cli._common import (
    RichProgress,
    app,
    console,
    gridpay_app,
    print_json,
)
from gridpay.entrypoints.cli.credit import report_dict
from gridpay.errors import InvalidInput
from gridpay.services.credit import judge_all
from gridpay.services.rebase import raise_quarantine_tasks
from gridpay.services.settlement import SettlementReport, settle_day, settle_range


def _parse_day(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not a date like 2026-10-01") from None


def _report_dict(r: SettlementReport) -> dict[str, object]:
    return {
        "run_id": r.run_id,
        "day": r.day.isoformat(),
        "accounts": r.accounts,
        "energy_kwh": format_kwh(r.energy_wh),
        "charged_yuan": format_fen(r.charged_fen),
        "credited_yuan": format_fen(r.credited_fen),
        "estimated": r.estimated,
        "quarantined": r.quarantined,
        "waiting_first_reading": r.waiting_first_reading,
        "trued_up_accounts": r.trued_up_accounts,
        "seconds": round(r.seconds, 3),
    }


@app.command()
def settle(
    date: str | None = typer.Option(None, "--date", help="The day to settle (YYYY-MM-DD)."),
    first: str | None = typer.Option(None, "--from", help="Catch up from this day..."),
    last: str | None = typer.Option(None, "--to", help="...to this day (inclusive)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    chunk_accounts: int = typer.Option(
        limits.settle_chunk_accounts_max,
        "--chunk-accounts",
        min=1,
        help="Accounts per transaction (smaller: shorter waits for payments; larger: faster).",
    ),
    credit: bool = typer.Option(
        True,
        "--credit/--no-credit",
        help="Run the credit policy after settling (warnings, arrears notices, cuts due).",
    ),
) -> None:
    """Settle a day (or a range of days) for every prepaid account. Safe to re-run."""
    day = _parse_day(date, "--date")
    start, end = _parse_day(first, "--from"), _parse_day(last, "--to")
    if (day is None) == (start is None and end is None):
        raise InvalidInput("give either --date D, or --from D1 --to D2")
    with gridpay_app() as g:
        voltage = g.settings.nominal_voltage_v
        progress = None if as_json else RichProgress()
        if day is not None:
            reports = [
                settle_day(
                    g.store,
                    g.clock,
                    day,
                    nominal_voltage_v=voltage,
                    progress=progress,
                    chunk_accounts=chunk_accounts,
                )
            ]
        else:
            if start is None or end is None:
                raise InvalidInput("--from and --to go together")
            reports = settle_range(
                g.store, g.clock, start, end, nominal_voltage_v=voltage, progress=progress
            )
        task_days = g.settings.readings_quarantine_task_days
        tasks = sum(raise_quarantine_tasks(g.store, g.clock, r.day, task_days) for r in reports)
        judged = judge_all(g.store, g.clock, g.credit, progress=progress) if credit else None
    rows = [_report_dict(r) for r in reports]
    if as_json:
        data: object = rows if len(rows) > 1 else rows[0]
        if judged is not None:
            data = {"settlement": data, "credit": report_dict(judged)}
        print_json(data)
        return
    table = Table(title="Daily settlement")
    for column in rows[0]:
        table.add_column(column.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    if tasks:
        console.print(
            f"{tasks} meters have had their readings quarantined for more than {task_days} "
            "days: staff tasks raised (gridpay tasks)"
        )
    if judged is not None:
        decided = ", ".join(f"{n} {a}" for a, n in sorted(judged.counts.items())) or "nothing"
        console.print(
            f"Credit policy: {judged.judged} of {judged.screened} accounts judged; {decided}; "
            f"{judged.messages} messages and {judged.commands} meter commands queued."
        )


@app.command()
def runs(
    limit: int = typer.Option(10, help="How many recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recent settlement runs with what each did (a run whose process ended part way is
    marked died)."""
    with gridpay_app() as g, g.store.unit_of_work() as uow:
        uow.settlement.mark_died_runs(g.clock.now())
        rows = uow.settlement.runs(limit)
        uow.commit()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Settlement runs")
    for column in (
        "id",
        "day",
        "status",
        "accounts",
        "energy kWh",
        "charged",
        "estimated",
        "quarantined",
        "seconds",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["day"]),
            r["status"],
            str(r["accounts"]),
            format_kwh(r["energy_wh"]),
            format_fen(r["charged_fen"]),
            str(r["estimated"]),
            str(r["quarantined"]),
            f"{r['seconds']:.2f}" if r["seconds"] is not None else "-",
        )
    console.print(table)
