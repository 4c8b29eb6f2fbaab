"""CLI: `messages` lists the SMS outbox; `messages send` runs one pass of the sending worker."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gridpay import limits
from gridpay.adapters.sms import shown_url, sms_gateway_from_settings
from gridpay.config import Settings
from gridpay.domain.messages import MessageKind, MessageStatus
from gridpay.entrypoints.cli._common import app, console, gridpay_app, print_json
from gridpay.ports.gateways import TemplateSmsGateway
from gridpay.services import messaging
from gridpay.services.messaging import MessageView, ReceiptReport, SendReport

messages_app = typer.Typer(help="Customer SMS: the outbox and its sending worker.")
app.add_typer(messages_app, name="messages")

_JSON = typer.Option(False, "--json", help="Print JSON.")
_STATUSES = ", ".join(s.value for s in MessageStatus)
_KINDS = ", ".join(k.value for k in MessageKind)


@messages_app.callback(invoke_without_command=True)
def messages_list(
    ctx: typer.Context,
    account: str | None = typer.Option(None, "--account", help="The 10-digit account number."),
    status: str | None = typer.Option(None, "--status", help=f"One of: {_STATUSES}."),
    kind: str | None = typer.Option(None, "--kind", help=f"One of: {_KINDS}."),
    limit: int = typer.Option(
        50, "--limit", help=f"Rows, newest first (<= {limits.page_rows_max})."
    ),
    as_json: bool = _JSON,
) -> None:
    """List messages in the outbox, newest first (with `send`: send the due ones)."""
    if ctx.invoked_subcommand is not None:
        return
    with gridpay_app() as g:
        views = messaging.list_messages(g.store, account, status, kind, limit)
        zone = ZoneInfo(g.settings.time_zone)
    if as_json:
        print_json([message_json(v) for v in views])
        return
    _print_messages(views, zone)


@messages_app.command("send")
def messages_send(
    limit: int = typer.Option(
        limits.message_send_batch_max,
        "--limit",
        help=f"Messages to send in this pass (<= {limits.message_send_batch_max}).",
    ),
    as_json: bool = _JSON,
) -> None:
    """Send the messages that are due through the configured gateway (one pass)."""
    with gridpay_app() as g:
        gateway = sms_gateway_from_settings(g.settings, g.clock, _print_plain)
        try:
            report = messaging.send_due(g.store, g.clock, gateway, limit)
            # A gateway without receipts has none to ask for (its output keeps its shape).
            has_receipts = isinstance(gateway, TemplateSmsGateway)
            receipts = messaging.poll_receipts(g.store, g.clock, gateway)
        finally:
            gateway.close()
        where = _gateway_description(g.settings)
        gateway_name = g.settings.sms_gateway
    if as_json:
        extra = receipts_json(receipts) if has_receipts else {}
        print_json({**report_json(report, gateway_name), **extra})
        return
    _print_report(report, where)
    if receipts.asked:
        console.print(
            f"delivery receipts: {receipts.delivered} delivered, {receipts.undelivered} "
            f"undelivered, {receipts.waiting + receipts.unreachable} still waiting"
        )


# --- output ----------------------------------------------------------------------------------


def _instant(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def message_json(view: MessageView) -> dict[str, Any]:
    return {
        "id": view.id,
        "dedupe_key": view.dedupe_key,
        "account_no": view.account_no,
        "phone": view.phone,
        "language": view.language,
        "kind": view.kind,
        "status": view.status,
        "attempts": view.attempts,
        "body": view.body,
        "created_at": _instant(view.created_at),
        "next_attempt_at": _instant(view.next_attempt_at),
        "sent_at": _instant(view.sent_at),
        "last_error": view.last_error,
        "receipt": view.receipt,
        "delivered_at": _instant(view.delivered_at),
        "delivery_error": view.delivery_error,
    }


def receipts_json(report: ReceiptReport) -> dict[str, Any]:
    return {
        "receipts": {
            "asked": report.asked,
            "delivered": report.delivered,
            "undelivered": report.undelivered,
            "waiting": report.waiting,
            "unreachable": report.unreachable,
        }
    }


def report_json(report: SendReport, gateway: str) -> dict[str, Any]:
    return {
        "gateway": gateway,
        "due": report.due,
        "sent": report.sent,
        "failed_attempts": report.failed_attempts,
        "gave_up": report.gave_up,
    }


def _print_plain(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_messages(views: list[MessageView], zone: ZoneInfo) -> None:
    """A table narrow enough for an 80-column terminal, with room left for the body."""
    if not views:
        console.print("no messages")
        return
    table = Table(show_lines=True)
    # Numbers are never cut or wrapped: a clerk reads them out to a customer.
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("account_no / phone", no_wrap=True, min_width=11)
    table.add_column("kind / status", no_wrap=True, min_width=21)
    table.add_column("body", overflow="fold", ratio=1, min_width=20)
    for v in views:
        body = Text(v.body)  # plain text: a body or an error is never read as Rich markup
        if v.last_error is not None:
            body.append(f"\nlast error: {v.last_error}", style="red")
        table.add_row(
            str(v.id), Text(f"{v.account_no or '—'}\n{v.phone}"), Text(_state(v, zone)), body
        )
    console.print(table)


def _state(view: MessageView, zone: ZoneInfo) -> str:
    """Kind, status, and when: created, sent, or the next try."""
    lines = [view.kind, view.status]
    if view.status == MessageStatus.SENT:
        lines.append(f"sent {_local(view.sent_at, zone)}")
        lines.append(_receipt(view, zone))
    else:
        lines.append(f"made {_local(view.created_at, zone)}")
    if view.status == MessageStatus.PENDING and view.attempts:
        lines.append(f"retry {_local(view.next_attempt_at, zone)}")
    if view.attempts:
        lines.append(f"{view.attempts} tries" if view.attempts > 1 else "1 try")
    return "\n".join(lines)


def _receipt(view: MessageView, zone: ZoneInfo) -> str:
    """What the provider said about delivery (the gateways without receipts: accepted)."""
    if view.receipt is None:
        return "receipt awaited"
    if view.receipt == "delivered":
        return f"delivered {_local(view.delivered_at, zone)}"
    if view.receipt == "undelivered":
        return f"undelivered: {view.delivery_error or '?'}"
    return view.receipt


def _local(at: dt.datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else "—"


def _gateway_description(settings: Settings) -> str:
    if settings.sms_gateway == "file":
        return f"written to {settings.sms_file}"
    if settings.sms_gateway == "http":
        return f"posted to {shown_url(settings.sms_http_url or '')}"
    return "printed above"


def _print_report(report: SendReport, where: str) -> None:
    if report.due == 0:
        console.print("no messages due")
        return
    console.print(
        f"[green]sent[/] {report.sent} ({escape(where)}); {report.failed_attempts} failed and "
        f"will be retried; {report.gave_up} given up after "
        f"{limits.message_send_attempts_max} attempts"
    )
