"""CLI: pay, refund, reverse — each one posting, idempotent, with a receipt."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from gridpay.domain.ledger import Channel
from gridpay.domain.money import format_fen
from gridpay.domain.payments import Refund, Reverse, TakePayment
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import (
    BY_OPTION,
    app,
    console,
    gridpay_app,
    operator,
    print_json,
)
from gridpay.services import payments
from gridpay.services.payments import Receipt

_CHANNELS = ", ".join(c.value for c in Channel)


@app.command()
def pay(
    account: str = typer.Argument(..., help="The 10-digit account number."),
    amount: str = typer.Argument(..., help="Yuan, at most two decimals, e.g. 100 or 12.30."),
    channel: str = typer.Option(..., "--channel", help=f"One of: {_CHANNELS}."),
    ref: str = typer.Option(..., "--ref", help="The channel's transaction number (idempotency)."),
    office: int | None = typer.Option(
        None, "--office", help="The service office (counter payments only)."
    ),
    by: str | None = BY_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Credit a prepaid account. Retrying with the same channel and --ref records it once."""
    cmd = TakePayment(account, amount_yuan=amount, channel=channel, ref=ref, office_id=office)
    with gridpay_app() as g:
        receipt = payments.take_payment(
            g.store, g.clock, g.settings, cmd, g.credit, actor=operator(by)
        )
    _print_receipt(receipt, "payment", as_json)


@app.command()
def refund(
    account: str = typer.Argument(..., help="The 10-digit account number."),
    amount: str = typer.Argument(..., help="Yuan to pay back, at most the balance."),
    ref: str = typer.Option(..., "--ref", help="The refund's reference (idempotency)."),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the transfer)."),
    by: str | None = BY_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pay back part or all of a prepaid balance (never more than the balance)."""
    with gridpay_app() as g:
        receipt = payments.refund(
            g.store,
            g.clock,
            g.settings,
            Refund(account, amount, ref, note=note),
            g.credit,
            actor=operator(by),
        )
    _print_receipt(receipt, "refund", as_json)


@app.command()
def reverse(
    transfer_id: str = typer.Argument(..., help="The transfer to undo, e.g. pay/bank/TX123."),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the reversal)."),
    by: str | None = BY_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Undo a payment or a refund with a mirroring transfer (nothing is edited or deleted)."""
    with gridpay_app() as g:
        receipt = payments.reverse(
            g.store, g.clock, Reverse(transfer_id, note=note), g.credit, actor=operator(by)
        )
    _print_receipt(receipt, "reversal", as_json)


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    t = receipt.transfer
    return {
        "status": "already_recorded" if receipt.already_recorded else "recorded",
        "transfer_id": t.id,
        "kind": t.kind.value,
        "account_no": receipt.account_no,
        "name": receipt.customer_name,
        "amount_fen": t.amount_fen,
        "amount_yuan": format_fen(t.amount_fen),
        "channel": t.channel,
        "ref": t.ref,
        "office_id": t.office_id,
        "day": t.day.isoformat() if t.day else None,
        "reverses_id": t.reverses_id,
        "note": t.note,
        "balance_fen": receipt.balance_fen,
        "balance_yuan": format_fen(receipt.balance_fen),
    }


def _print_receipt(receipt: Receipt, what: str, as_json: bool) -> None:
    if as_json:
        print_json(receipt_json(receipt))
        return
    t = receipt.transfer
    via = f" via {t.channel}" if t.channel and what == "payment" else ""
    office = f" at office {t.office_id}" if t.office_id is not None else ""
    day = t.day.isoformat() if t.day else "?"
    if receipt.already_recorded:
        console.print(
            f"[yellow]already recorded[/] on {day}: {what} {t.id} of "
            f"{format_fen(t.amount_fen)} yuan, account {receipt.account_no}{via}{office}; "
            f"nothing new was posted. Balance now {format_fen(receipt.balance_fen)} yuan."
        )
        return
    console.print(
        f"[green]recorded[/] {what} {t.id}: {format_fen(t.amount_fen)} yuan, account "
        f"{receipt.account_no} ({escape(printable(receipt.customer_name))}){via}{office}, {day}. "
        f"New balance {format_fen(receipt.balance_fen)} yuan."
    )
