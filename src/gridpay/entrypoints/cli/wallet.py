"""CLI: ``gridpay wallet callbacks``, the wallet's notifications as gridpay judged them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from gridpay import limits
from gridpay.entrypoints.cli._common import app, console, gridpay_app, parse_day, print_json
from gridpay.services.wallet import recent_callbacks

wallet_app = typer.Typer(
    help="Paying online: the wallet's callbacks (payment notifications).", no_args_is_help=True
)
app.add_typer(wallet_app, name="wallet")


@wallet_app.command("callbacks")
def callbacks(
    refused: bool = typer.Option(
        False,
        "--refused",
        help="Only the refused ones (unsigned, bad signature, wrong order/amount/account, "
        "not paid): nothing was credited for them. A wallet's resent notification of a "
        "credited order is no refusal (answered success): it is listed as a duplicate.",
    ),
    since: str | None = typer.Option(None, "--since", help="From this day on (local date)."),
    limit: int = typer.Option(
        limits.wallet_callbacks_listed_default, "--limit", help="At most this many, newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The wallet's callbacks, newest first, each with its outcome and why."""
    day = parse_day(since, "--since")
    with gridpay_app() as g:
        zone = ZoneInfo(g.settings.time_zone)
        start = dt.datetime.combine(day, dt.time(), zone) if day is not None else None
        found = recent_callbacks(g.store, refused_only=refused, since=start, limit=limit)
    rows = [
        {
            "received_at": c.received_at.astimezone(zone).isoformat(timespec="seconds"),
            "outcome": c.outcome,
            "notify_id": c.notify_id,
            "order_id": c.order_id,
            "detail": c.detail,
        }
        for c in found
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} {'refused ' if refused else ''}wallet callbacks")
    for column in ("received", "outcome", "notify id", "order", "why"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["received_at"])[:19],
            str(r["outcome"]),
            escape(str(r["notify_id"] or "")),
            escape(str(r["order_id"] or "")),
            escape(str(r["detail"])),
        )
    console.print(table)
