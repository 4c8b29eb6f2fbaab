"""CLI: run the credit policy, explain an account's decisions, the staff queue."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.markup import escape
from rich.table import Table

from gridpay import limits
from gridpay.entrypoints.cli._common import (
    RichProgress,
    app,
    console,
    gridpay_app,
    print_json,
)
from gridpay.entrypoints.cli.calendar import warn_missing_schedules
from gridpay.services.credit import CreditReport, explain, judge_all, staff_tasks

credit_app = typer.Typer(help="The credit policy: warnings, arrears notices, cuts, restorations.")
app.add_typer(credit_app, name="credit")


def report_dict(report: CreditReport) -> dict[str, object]:
    return {
        "screened": report.screened,
        "judged": report.judged,
        "decisions": dict(sorted(report.counts.items())),
        "messages": report.messages,
        "commands": report.commands,
        "seconds": round(report.seconds, 3),
    }


@credit_app.command("run")
def run(
    in_debt_only: bool = typer.Option(
        False,
        "--in-debt-only",
        help="Only accounts past the warning line (the timer between settlements: cuts due).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Judge every prepaid account now: warn, notify arrears, cut when due and allowed, restore.

    Runs after each settlement by itself (`gridpay settle`); run it on a timer for the cuts
    that wait for a window. Safe to repeat: no message, command or decision is made twice.
    """
    with gridpay_app() as g:
        warn_missing_schedules(g)
        progress = None if as_json else RichProgress()
        report = judge_all(g.store, g.clock, g.credit, only_in_debt=in_debt_only, progress=progress)
    data = report_dict(report)
    if as_json:
        print_json(data)
        return
    table = Table(title="Credit policy")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("accounts screened", str(report.screened))
    table.add_row("accounts judged", str(report.judged))
    for action, n in sorted(report.counts.items()):
        table.add_row(f"decisions: {action}", str(n))
    table.add_row("messages queued", str(report.messages))
    table.add_row("meter commands queued", str(report.commands))
    console.print(table)


@app.command("explain")
def explain_command(
    account: str = typer.Argument(..., help="10-digit account number."),
    limit: int = typer.Option(limits.explain_decisions_max, help="How many recent decisions."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Why an account was (or was not) warned, notified, cut or restored, newest first."""
    with gridpay_app() as g:
        result = explain(g.store, g.clock, g.credit, account, limit)
    zone = g.settings.time_zone
    decisions = result.decisions.with_columns(
        result.decisions["at"].dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M")
    ).to_dicts()
    if as_json:
        print_json(
            {
                "account_no": result.account_no,
                "state": asdict(result.state) if result.state is not None else None,
                "now": result.now_line,
                "position": result.position_line,
                "decisions": decisions,
            }
        )
        return
    state = result.state
    console.print(
        f"Account [bold]{result.account_no}[/]: state "
        f"[bold]{state.state.value if state else 'not judged yet'}"
        f"[/], supply {state.supply if state else 'on'}"
        + (f", pay by {state.pay_by}" if state and state.pay_by else "")
    )
    console.print(f"Now: {result.now_line}")
    console.print(f"Tier position: {escape(result.position_line)}")
    table = Table(title="Decisions (newest first)")
    for column in ("at", "action", "reason"):
        table.add_column(column)
    for d in decisions:
        table.add_row(str(d["at"]), str(d["action"]), str(d["reason"]))
    console.print(table)


@app.command("tasks")
def tasks(
    show_all: bool = typer.Option(False, "--all", help="Closed tasks too."),
    limit: int = typer.Option(limits.page_rows_max, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The staff queue: protected customers in arrears, cuts that failed, meters to read."""
    with gridpay_app() as g:
        rows = staff_tasks(g.store, open_only=not show_all, limit=limit).to_dicts()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Staff tasks")
    columns = ("account_no", "kind", "reason", "created_at")
    closed = ("closed_at", "close_reason") if show_all else ()
    for column in (*columns, *closed):
        table.add_column(column.replace("_", " "))
    for r in rows:
        table.add_row(*(str(r[c] or "") if c in closed else str(r[c]) for c in (*columns, *closed)))
    console.print(table)
