"""CLI: accounts (import, add, list) and meters (replace)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gridpay import limits
from gridpay.adapters.account_files import read_accounts_csv
from gridpay.domain.money import parse_kwh
from gridpay.domain.registry import (
    DEFAULT_BILLING_MODE,
    ReplaceMeter,
    RowStatus,
    account_id_from_no,
)
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import (
    RichProgress,
    app,
    console,
    err_console,
    gridpay_app,
    print_json,
)
from gridpay.errors import InvalidInput
from gridpay.services import registry
from gridpay.services.registry import ImportReport

accounts_app = typer.Typer(
    help="Accounts: register them from a file or one by one, and list them.",
    no_args_is_help=True,
)
meters_app = typer.Typer(help="Meters: replace an account's meter.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(meters_app, name="meters")


@accounts_app.command("import")
def accounts_import(
    path: str = typer.Argument(..., help="A CSV file with a header row."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Register accounts and their meters from a CSV file; bad rows are reported, good rows land.

    Columns: account_no, name, phone, language, supply_type, tariff, office, billing_mode,
    meter_no, has_tou, has_switch, installed_on, breaker_a, initial_kwh, and for a prepaid row
    the opening position from monthly billing: opening_kwh (its closing reading) and
    opening_ytd_kwh (kWh already billed this tier year). Importing the same file again changes
    nothing.
    """
    started = time.perf_counter()
    raw = read_accounts_csv(path)
    with gridpay_app() as g:
        report = registry.import_accounts(
            g.store, g.clock, raw, source=Path(path).name, progress=RichProgress()
        )
    seconds = time.perf_counter() - started
    if as_json:
        print_json({**dataclasses.asdict(report), "seconds": round(seconds, 3)})
        return
    _print_report(report, seconds)


def _print_report(report: ImportReport, seconds: float) -> None:
    console.print(
        f"{report.source}: {report.rows:,} rows in {seconds:.1f} s — "
        f"[green]{report.added:,} added[/], {report.unchanged:,} already registered, "
        f"{report.repeated:,} repeated, "
        + (f"[red]{report.rejected:,} rejected[/]" if report.rejected else "0 rejected")
    )
    if report.billing_mode_defaulted:
        console.print(
            f"{report.billing_mode_defaulted:,} added account(s) had no billing_mode and are "
            f"{DEFAULT_BILLING_MODE.value}: prepaid needs the customer's signed agreement"
        )
    if report.prepaid_without_position:
        console.print(
            f"[yellow]{report.prepaid_without_position:,} prepaid row(s) have no opening "
            "position[/]: their agreements are flagged (explain says so); enter each with "
            "`gridpay enrol ACCOUNT --opening-kwh .. --opening-ytd-kwh ..` or the "
            "`gridpay enrol-drive` file"
        )
    if report.ignored_columns:
        console.print(f"ignored column(s): {', '.join(report.ignored_columns)}")
    if not report.problems:
        return
    table = Table(title="rows not written")
    for column in ("row", "account_no", "meter_no", "problem"):
        table.add_column(column, no_wrap=column != "problem")
    for p in report.problems[: limits.import_problems_shown_max]:
        table.add_row(str(p.row_no), p.account_no or "", p.meter_no or "", escape(p.problem))
    console.print(table)
    more = (
        report.rejected
        + report.repeated
        - min(len(report.problems), limits.import_problems_shown_max)
    )
    if more:
        console.print(f"… and {more:,} more (--json lists up to {len(report.problems):,})")


def _flag(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


@accounts_app.command("add")
def accounts_add(
    account_no: str = typer.Option(..., "--account-no", help="10 digits."),
    name: str = typer.Option(..., "--name"),
    supply_type: str = typer.Option(..., "--supply-type", help="direct or non_direct."),
    tariff: str = typer.Option(..., "--tariff", help="A tariff code (gridpay tariffs list)."),
    office: str = typer.Option(..., "--office", help="Service office number."),
    meter_no: str = typer.Option(..., "--meter-no", help="12 digits."),
    installed_on: str = typer.Option(..., "--installed-on", help="YYYY-MM-DD."),
    phone: str | None = typer.Option(None, "--phone"),
    language: str | None = typer.Option(None, "--language", help="zh (default) or en."),
    billing_mode: str | None = typer.Option(
        None, "--billing-mode", help=f"prepaid or postpaid (default {DEFAULT_BILLING_MODE})."
    ),
    has_tou: bool | None = typer.Option(
        None, "--tou/--no-tou", help="Time-of-use registers (default no)."
    ),
    has_switch: bool | None = typer.Option(
        None, "--switch/--no-switch", help="Remote switch (default yes)."
    ),
    breaker_a: str | None = typer.Option(None, "--breaker-a", help="Amperes (default 60)."),
    initial_kwh: str | None = typer.Option(
        None, "--initial-kwh", help="Register at installation (default 0)."
    ),
) -> None:
    """Register one account and its meter (the same checks as an import row)."""
    fields = {
        "account_no": account_no,
        "name": name,
        "phone": phone,
        "language": language,
        "supply_type": supply_type,
        "tariff": tariff,
        "office": office,
        "billing_mode": billing_mode,
        "meter_no": meter_no,
        "has_tou": _flag(has_tou),
        "has_switch": _flag(has_switch),
        "installed_on": installed_on,
        "breaker_a": breaker_a,
        "initial_kwh": initial_kwh,
    }
    with gridpay_app() as g:
        status = registry.add_account(g.store, g.clock, fields)
    if status == RowStatus.UNCHANGED:
        console.print(f"account {account_no} is already registered with this data (unchanged)")
        return
    console.print(f"account {account_no} registered with meter {meter_no}")
    if billing_mode is None:
        err_console.print(
            f"note: no --billing-mode given, so the account is {DEFAULT_BILLING_MODE.value}"
        )


@accounts_app.command("list")
def accounts_list(
    office: int | None = typer.Option(None, "--office", help="Only this service office."),
    limit: int = typer.Option(limits.account_list_rows_default, "--limit", help="Rows at most."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A short listing of accounts in number order, with the meter in service."""
    with gridpay_app() as g:
        listing = registry.list_accounts(g.store, office, limit)
    if as_json:
        print_json(
            {"total": listing.total, "accounts": [dataclasses.asdict(a) for a in listing.accounts]}
        )
        return
    table = Table()
    for column in ("account_no", "name", "office", "supply", "billing", "tariff", "meter_no"):
        # Numbers are never cut or wrapped: a clerk reads them out to a customer.
        table.add_column(column, no_wrap=column.endswith("_no"))
    for a in listing.accounts:
        table.add_row(
            a.account_no,
            escape(printable(a.name)),
            str(a.office_id),
            a.supply_type.value,
            a.billing_mode.value,
            a.tariff_code,
            a.meter_no or "—",
        )
    console.print(table)
    console.print(f"{len(listing.accounts):,} of {listing.total:,} account(s)")


@meters_app.command("replace")
def meters_replace(
    account: str = typer.Argument(..., help="Account number."),
    old_final_kwh: str = typer.Option(..., "--old-final-kwh", help="Old meter's last register."),
    new_meter: str = typer.Option(..., "--new-meter", help="New meter number (12 digits)."),
    new_initial_kwh: str = typer.Option(
        ..., "--new-initial-kwh", help="New meter's register at installation."
    ),
    day: str = typer.Option(..., "--date", help="Replacement date, YYYY-MM-DD."),
    has_tou: bool | None = typer.Option(
        None, "--tou/--no-tou", help="New meter has TOU registers (default: as the old one)."
    ),
    has_switch: bool | None = typer.Option(
        None, "--switch/--no-switch", help="New meter has a remote switch (default: as the old)."
    ),
    breaker_a: int | None = typer.Option(None, "--breaker-a", help="Default: as the old meter."),
) -> None:
    """Take the account's meter out of service on a date and install a new one that day."""
    try:
        replace_day = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--date {day!r} is not a date like 2026-06-01") from None
    cmd = ReplaceMeter(
        account_id=account_id_from_no(account),
        old_final_wh=parse_kwh(old_final_kwh),
        new_meter_no=new_meter,
        new_initial_wh=parse_kwh(new_initial_kwh),
        day=replace_day,
        new_has_tou=has_tou,
        new_has_switch=has_switch,
        new_breaker_a=breaker_a,
    )
    with gridpay_app() as g:
        done = registry.replace_meter(g.store, g.clock, cmd)
    if done.already_recorded:
        console.print(
            f"account {done.account_no}: meter {done.removed_meter_no} was already replaced by "
            f"{done.installed_meter_no} on {done.day} (unchanged)"
        )
        return
    console.print(
        f"account {done.account_no}: meter {done.removed_meter_no} removed and "
        f"{done.installed_meter_no} installed on {done.day}"
    )
