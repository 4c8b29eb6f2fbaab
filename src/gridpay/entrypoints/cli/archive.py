"""CLI: ``archive month``: a closed month's transfers out of the hot database into Parquet."""

from __future__ import annotations

from pathlib import Path

import typer

from gridpay.domain.money import format_fen
from gridpay.entrypoints.cli._common import app, console, gridpay_app, print_json
from gridpay.services import archive as archive_service

archive_app = typer.Typer(
    help="Old months of the ledger: archived to Parquet, their totals kept for the audit.",
    no_args_is_help=True,
)
app.add_typer(archive_app, name="archive")


@archive_app.command("month")
def archive_month(
    month: str = typer.Argument(..., help="The month, YYYY-MM: ended and fully settled."),
    folder: str = typer.Option(
        "archive", "--folder", help="Where the month's Parquet file is written."
    ),
    keep_table: bool = typer.Option(
        False,
        "--keep-table",
        help="PostgreSQL: keep the detached partition as a plain table instead of dropping it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Export the month's transfers with a sha256 and totals, then take them out of the hot
    ledger. Running it again finishes an interrupted removal."""
    with gridpay_app() as g:
        report = archive_service.archive_month(
            g.store, g.clock, month, Path(folder), keep_table=keep_table
        )
    done = report.archived
    if as_json:
        print_json(
            {
                "month": f"{done.month:%Y-%m}",
                "path": done.path,
                "sha256": done.sha256,
                "transfers": done.transfers,
                "amount_fen": done.amount_fen,
                "already_archived": report.already,
                "removed_from_hot": report.removed,
            }
        )
        return
    verb = "was already archived" if report.already else "archived"
    console.print(
        f"{done.month:%Y-%m} {verb}: {done.transfers:,} transfers, "
        f"{format_fen(done.amount_fen)} yuan, sha256 {done.sha256[:16]}…, file {done.path}; "
        f"{report.removed:,} taken out of the hot ledger now"
    )
