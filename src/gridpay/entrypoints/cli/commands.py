"""CLI: `commands` lists remote meter commands; `commands dispatch` runs one dispatcher pass."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import typer
from rich.table import Table
from rich.text import Text

from gridpay import bootstrap, limits
from gridpay.config import Settings
from gridpay.domain.commands import CommandState
from gridpay.domain.registry import account_no_from_id
from gridpay.entrypoints.cli._common import app, console, gridpay_app, print_json
from gridpay.entrypoints.head_ends import configured_head_end, wait_for_answers
from gridpay.services import commands as service
from gridpay.services.commands import DispatchReport
from gridpay.simulation.head_end import SimulatedHeadEnd

commands_app = typer.Typer(help="Remote meter commands: disconnect / reconnect and their states.")
app.add_typer(commands_app, name="commands")

_JSON = typer.Option(False, "--json", help="Print JSON.")
_STATES = ", ".join(s.value for s in CommandState)


@commands_app.callback(invoke_without_command=True)
def commands_list(
    ctx: typer.Context,
    account: str | None = typer.Option(None, "--account", help="The 10-digit account number."),
    state: str | None = typer.Option(None, "--state", help=f"One of: {_STATES}."),
    limit: int = typer.Option(
        limits.command_list_rows_default,
        "--limit",
        help=f"Rows, newest first (<= {limits.page_rows_max}).",
    ),
    as_json: bool = _JSON,
) -> None:
    """List meter commands, newest first (with `dispatch`: run one dispatcher pass)."""
    if ctx.invoked_subcommand is not None:
        return
    with gridpay_app() as g:
        listed = service.list_commands(g.store, account, state, limit)
        zone = ZoneInfo(g.settings.time_zone)
    if as_json:
        print_json([command_json(row) for row in listed.iter_rows(named=True)])
        return
    _print_commands(listed, zone)


@commands_app.command("dispatch")
def commands_dispatch(as_json: bool = _JSON) -> None:
    """One dispatcher pass through the configured head-end (setting head_end): take its
    results, time out silent commands, send due ones; then wait for the answers to what was
    sent and take them in a second pass.

    A DL/T 645 head-end confirms a command only once status word 3 shows the relay moved; a
    simulated one (head_end = "simulated") answers at once and moves no relay.
    """
    with gridpay_app() as g, configured_head_end(g.settings, answers_at_once=True) as head_end:
        limiter = bootstrap.command_limiter(g.settings)  # shared by both passes: one rate limit
        report = service.dispatch(g.store, g.clock, head_end, limiter=limiter)
        if report.sent:
            wait_for_answers(head_end, _answer_wait_s(g.settings))
            answers = service.dispatch(g.store, g.clock, head_end, limiter=limiter)
            report = service.merged(report, answers)
        simulated = isinstance(head_end, SimulatedHeadEnd)
    if as_json:
        print_json(report_json(report, head_end.name) | {"head_end_simulated": simulated})
        return
    _print_report(report, head_end.name)
    if simulated:
        console.print(
            f"[bold yellow]head-end {head_end.name} is SIMULATED[/]: no relay moved "
            '(setting head_end = "simulated")'
        )


def _answer_wait_s(settings: Settings) -> float:
    """Long enough for a meter to be asked every time for the switch and then its status."""
    return 2 * settings.head_end_attempts * settings.head_end_reply_timeout_s + 1.0


# --- output ----------------------------------------------------------------------------------


def _instant(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def command_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "correlation_id": row["correlation_id"],
        "account_no": account_no_from_id(row["account_id"]),
        "meter_id": row["meter_id"],
        "action": row["action"],
        "priority": row["priority"],
        "state": row["state"],
        "attempts": row["attempts"],
        "created_at": _instant(row["created_at"]),
        "next_attempt_at": _instant(row["next_attempt_at"]),
        "sent_at": _instant(row["sent_at"]),
        "finished_at": _instant(row["finished_at"]),
        "head_end": row["head_end"],
        "last_error": row["last_error"],
    }


def report_json(report: DispatchReport, head_end: str) -> dict[str, Any]:
    latencies = sorted(report.latencies_s)
    return {
        "head_end": head_end,
        **{f.name: getattr(report, f.name) for f in dataclasses.fields(report)},
        "latency_s_max": latencies[-1] if latencies else None,
    }


def _print_commands(listed: pl.DataFrame, zone: ZoneInfo) -> None:
    if listed.height == 0:
        console.print("no commands")
        return
    table = Table(show_lines=True)
    # Numbers are never cut or wrapped: staff read them out on the phone.
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("account_no / meter", no_wrap=True)
    table.add_column("action / state", no_wrap=True)
    table.add_column("when", no_wrap=True)
    table.add_column("last error", overflow="fold", ratio=1, min_width=12)
    for row in listed.iter_rows(named=True):
        table.add_row(
            str(row["id"]),
            Text(f"{account_no_from_id(row['account_id'])}\n{row['meter_id']}"),
            Text(f"{row['action']}\n{row['state']}"),
            Text(_when(row, zone)),
            Text(row["last_error"] or ""),  # plain text: never read as Rich markup
        )
    console.print(table)


def _when(row: dict[str, Any], zone: ZoneInfo) -> str:
    lines = [f"made {_local(row['created_at'], zone)}"]
    if row["state"] == CommandState.QUEUED and row["attempts"]:
        lines.append(f"retry {_local(row['next_attempt_at'], zone)}")
    elif row["sent_at"] is not None:
        lines.append(f"sent {_local(row['sent_at'], zone)}")
    if row["finished_at"] is not None:
        lines.append(f"{row['state']} {_local(row['finished_at'], zone)}")
    if row["head_end"] is not None:
        lines.append(f"head-end {row['head_end']}")
    if row["attempts"]:
        lines.append(f"{row['attempts']} tries" if row["attempts"] > 1 else "1 try")
    return "\n".join(lines)


def _local(at: dt.datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "—"


def _print_report(report: DispatchReport, head_end: str) -> None:
    table = Table(title=f"dispatch pass (head-end {head_end})", show_header=False)
    table.add_column("what")
    table.add_column("commands", justify="right")
    table.add_row("results taken", f"{report.results:,}")
    table.add_row("  acknowledged by the meter", f"{report.acknowledged:,}")
    table.add_row("  late or repeated (command unchanged)", f"{report.ignored:,}")
    table.add_row("timed out (no answer)", f"{report.timed_out:,}")
    table.add_row("retried later (failed or timed out)", f"{report.retried:,}")
    table.add_row("given up, staff task raised", f"{report.escalated:,}")
    table.add_row("sent", f"{report.sent:,}")
    table.add_row("refused by the head-end (retried)", f"{report.refused:,}")
    console.print(table)
    if report.rate_limit_wait_s > 0:
        console.print(
            f"rate limit reached: the head-end takes the next command in "
            f"{report.rate_limit_wait_s:.1f} s"
        )
