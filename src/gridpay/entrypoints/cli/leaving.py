"""CLI: after leaving smart payment — refunds paid out (cash or bank batch), the hand-over file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from gridpay import limits
from gridpay.adapters.payout_files import read_payout_csv, write_records
from gridpay.domain.leaving import (
    HANDOVER_FILE_COLUMNS,
    PAYOUT_FILE_COLUMNS,
    HandoverEntry,
    handover_record,
    parse_payout_channel,
    parse_payout_line,
    payout_record,
)
from gridpay.domain.ledger import PayoutChannel
from gridpay.domain.money import format_fen
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import (
    app,
    console,
    gridpay_app,
    operator,
    parse_day,
    print_json,
)
from gridpay.errors import InvalidInput
from gridpay.services import leaving
from gridpay.services.leaving import PayoutReport

payouts_app = typer.Typer(
    help="Refunds of households that left: the bank batch, cash at a counter, the hand-over "
    "file for monthly billing.",
    no_args_is_help=True,
)
app.add_typer(payouts_app, name="payouts")

_JSON = typer.Option(False, "--json", help="Print JSON.")


@payouts_app.command("due")
def due(as_json: bool = _JSON) -> None:
    """Refunds in refunds payable that nobody has paid out yet."""
    with gridpay_app() as g:
        rows = leaving.refunds_due(g.store)
    if as_json:
        print_json([{**payout_record(r), "amount_fen": r.amount_fen} for r in rows])
        return
    table = Table(title=f"Refunds to pay out: {len(rows):,}")
    for column in ("ref", "account", "name", "yuan"):
        table.add_column(column, justify="right" if column == "yuan" else "left")
    for r in rows:
        table.add_row(r.ref, r.account_no, escape(printable(r.name)), format_fen(r.amount_fen))
    console.print(table)


@payouts_app.command("batch")
def batch(
    out: str = typer.Option(..., "--out", help="The bank-transfer batch file (CSV)."),
) -> None:
    """Write the refunds due as a bank-transfer batch for the finance office.

    Once the bank has paid it, upload the same file: `gridpay payouts upload FILE`."""
    with gridpay_app() as g:
        rows = leaving.refunds_due(g.store)
    written = write_records(Path(out), PAYOUT_FILE_COLUMNS, (payout_record(r) for r in rows))
    total = sum(r.amount_fen for r in rows)
    console.print(f"{written:,} refunds, {format_fen(total)} yuan, written to {out}")


@payouts_app.command("upload")
def upload(
    path: str = typer.Argument(..., help="The batch file the bank has paid."),
    as_json: bool = _JSON,
) -> None:
    """Post the refunds of a paid batch file as paid by bank transfer (each once, by its ref)."""
    lines = read_payout_csv(Path(path))
    with gridpay_app() as g:
        report = leaving.pay_out(g.store, g.clock, lines, PayoutChannel.BANK, actor=operator())
    _show(report, as_json)


@payouts_app.command("cash")
def cash(
    ref: str = typer.Argument(..., help="The refund's reference (e.g. leave-0000000001-3)."),
    amount: str = typer.Option(..., "--amount", help="The amount handed over, in yuan."),
    office: int = typer.Option(..., "--office", help="The office paying it out."),
    as_json: bool = _JSON,
) -> None:
    """Pay a refund in cash at a counter (once: a refund paid here is not in the bank batch)."""
    line = parse_payout_line(1, ref, amount)
    if line.problem is not None:
        raise InvalidInput(line.problem)
    channel = parse_payout_channel("counter")
    with gridpay_app() as g:
        report = leaving.pay_out(
            g.store, g.clock, [line], channel, office_id=office, actor=operator()
        )
    _show(report, as_json)


@payouts_app.command("handover")
def handover(
    first_day: str = typer.Option(..., "--from", help="First leaving day."),
    last_day: str = typer.Option(..., "--to", help="Last leaving day."),
    out: str = typer.Option(..., "--out", help="The hand-over file (CSV)."),
) -> None:
    """The households that left, for the monthly billing system: closing reading, year-to-date
    kWh (the tier year continues there), amount refunded or owed. One line per close-out of an
    agreement that ended in the range, and one per settle-up after it (a late reading), with
    the settle-ups posted in the range whenever their agreement ended."""
    first, last = parse_day(first_day, "--from"), parse_day(last_day, "--to")
    assert first is not None and last is not None
    days = (last - first).days + 1
    if days > limits.handover_days_max:
        raise InvalidInput(f"--from/--to cover {days} days; at most {limits.handover_days_max}")
    with gridpay_app() as g:
        rows = leaving.handover_rows(g.store, first, last)
    written = write_records(Path(out), HANDOVER_FILE_COLUMNS, (handover_record(r) for r in rows))
    owed = sum(r.owed_fen for r in rows)
    refunded = sum(r.refunded_fen for r in rows)
    settle_ups = sum(r.entry is HandoverEntry.SETTLE_UP for r in rows)
    console.print(
        f"{written:,} lines for monthly billing: {written - settle_ups:,} close-out(s), "
        f"{settle_ups:,} settle-up(s) after a close-out ({format_fen(refunded)} yuan "
        f"refunded, {format_fen(owed)} yuan owed), written to {out}"
    )


def _show(report: PayoutReport, as_json: bool) -> None:
    if as_json:
        print_json(payout_json(report))
    else:
        console.print(
            f"{report.channel.value}: {report.count('paid'):,} paid "
            f"({format_fen(report.paid_fen)} yuan), {report.count('already_paid'):,} already "
            f"paid, {report.count('refused'):,} refused"
        )
        for r in report.results:
            if r.status != "paid":
                console.print(
                    f"line {r.line_no} {escape(printable(r.ref))}: {r.status}: {r.reason}"
                )


def payout_json(report: PayoutReport) -> dict[str, Any]:
    return {
        "channel": report.channel.value,
        "paid": report.count("paid"),
        "already_paid": report.count("already_paid"),
        "refused": report.count("refused"),
        "paid_fen": report.paid_fen,
        "lines": [
            {
                "line": r.line_no,
                "ref": r.ref,
                "amount_fen": r.amount_fen,
                "status": r.status,
                "reason": r.reason,
            }
            for r in report.results
        ],
    }
