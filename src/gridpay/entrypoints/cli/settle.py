"""CLI: daily settlement."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import typer
from rich.table import Table

from gridpay import limits
from gridpay.domain.money import format_fen, format_kwh
from gridpay.domain.settlement import SettlementRun
from gridpay.entrypoints.cli._common import (
    RichProgress,
    app,
    console,
    gridpay_app,
    parse_day,
    print_json,
)
from gridpay.entrypoints.cli.calendar import warn_missing_schedules
from gridpay.entrypoints.cli.credit import report_dict
from gridpay.errors import InvalidInput
from gridpay.services.night import run_night
from gridpay.services.settlement import SettlementReport


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
    """Settle a day (or a range of days, in order) for every prepaid account, then run the
    credit policy. Safe to re-run. A day whose earlier days are not settled yet is refused,
    with the days to settle first."""
    day = parse_day(date, "--date")
    start, end = parse_day(first, "--from"), parse_day(last, "--to")
    if (day is None) == (start is None and end is None):
        raise InvalidInput("give either --date D, or --from D1 --to D2")
    if day is None and (start is None or end is None):
        raise InvalidInput("--from and --to go together")
    if day is not None:
        days = [day]
    else:
        assert start is not None and end is not None
        if end < start:
            raise InvalidInput(f"--to {end} is before --from {start}")
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    with gridpay_app() as g:
        warn_missing_schedules(g)
        night = run_night(
            g.store,
            g.clock,
            g.credit,
            days=days,
            judge=credit,
            progress=None if as_json else RichProgress(),
            chunk_accounts=chunk_accounts,
        )
    reports, judged, tasks = night.settled, night.credit, night.quarantine_tasks
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
            f"{tasks} meters have had their readings quarantined for more than "
            f"{g.settings.readings_quarantine_task_days} "
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
        print_json([_run_json(r) for r in rows])
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
            str(r.id),
            str(r.day),
            r.status,
            str(r.totals.accounts),
            format_kwh(r.totals.energy_wh),
            format_fen(r.totals.charged_fen),
            str(r.totals.estimated),
            str(r.totals.quarantined),
            f"{r.seconds:.2f}" if r.seconds is not None else "-",
        )
    console.print(table)


def _run_json(run: SettlementRun) -> dict[str, object]:
    """The run as the table's row: its counters beside its day and status."""
    return {
        "id": run.id,
        "day": run.day,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        **asdict(run.totals),
        "seconds": run.seconds,
        "host": run.host,
        "pid": run.pid,
    }
