"""CLI: enrol, leave, protect, contacts and `report enrolment`; --json for scripts."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridpay.adapters.account_files import read_accounts_csv
from gridpay.domain.enrolment import AddContact, Contact, Enrol, OpeningPayment, Protect
from gridpay.domain.money import format_fen
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import (
    BY_OPTION,
    app,
    console,
    gridpay_app,
    operator,
    parse_day,
    print_json,
)
from gridpay.entrypoints.cli.payments import receipt_json
from gridpay.errors import InvalidInput
from gridpay.services import enrolment, enrolment_drive
from gridpay.services.enrolment import (
    ContactsReceipt,
    EnrolmentReceipt,
    EnrolmentReport,
    LeaveReceipt,
    ProtectionReceipt,
)

report_app = typer.Typer(
    help="Reports for staff: enrolment progress by office.", no_args_is_help=True
)
app.add_typer(report_app, name="report")

REPORT_WIDTH_MIN = 100  # columns: the progress table fits without wrapping office names
_JSON = typer.Option(False, "--json", help="Print JSON.")
_ACCOUNT = typer.Argument(..., help="The 10-digit account number.")

PRE_DRIVE_FOOTER = (
    "Accounts already prepaid before the drive, with no agreement on record, count as enrolled "
    "before the first day. Eligible: the office's direct-supply accounts."
)


@app.command()
def enrol(
    account: str = _ACCOUNT,
    office: int | None = typer.Option(None, "--office", help="The office signing the agreement."),
    online: bool = typer.Option(False, "--online", help="Signed online (no office)."),
    phone: str | None = typer.Option(
        None, "--phone", help="The customer's SMS phone (default: the account's)."
    ),
    language: str | None = typer.Option(
        None, "--language", help="zh or en (default: the account's)."
    ),
    trusted_phone: str | None = typer.Option(
        None, "--trusted-phone", help="Family or a neighbour told if a protected customer owes."
    ),
    trusted_name: str | None = typer.Option(None, "--trusted-name"),
    trusted_language: str | None = typer.Option(None, "--trusted-language", help="zh or en."),
    protected: str | None = typer.Option(
        None, "--protected", help="medical or elderly_alone: never cut remotely."
    ),
    opening_amount: str | None = typer.Option(
        None, "--opening-amount", help="A first payment in yuan, taken after the agreement."
    ),
    channel: str | None = typer.Option(None, "--channel", help="The opening payment's channel."),
    ref: str | None = typer.Option(None, "--ref", help="The opening payment's reference."),
    opening_kwh: str | None = typer.Option(
        None,
        "--opening-kwh",
        help="Monthly billing's closing reading (kWh): the register the first day starts from.",
    ),
    opening_ytd_kwh: str | None = typer.Option(
        None,
        "--opening-ytd-kwh",
        help="kWh already billed monthly this tier year: the first days' tier position.",
    ),
    by: str | None = BY_OPTION,
    as_json: bool = _JSON,
) -> None:
    """Sign the smart-payment agreement (direct-supply accounts only); SMS 1 is queued.

    Enrolling an account already enrolled changes nothing and shows its agreement.
    """
    opening = _opening(opening_amount, channel, ref)
    cmd = Enrol(
        account,
        office_id=office,
        online=online,
        phone=phone,
        language=language,
        trusted_phone=trusted_phone,
        trusted_name=trusted_name,
        trusted_language=trusted_language,
        protected=protected,
        opening=opening,
        opening_kwh=opening_kwh,
        opening_ytd_kwh=opening_ytd_kwh,
    )
    with gridpay_app() as g:
        receipt = enrolment.enrol(g.store, g.clock, g.settings, cmd, actor=operator(by))
    if as_json:
        print_json(enrolment_json(receipt))
        return
    _print_enrolment(receipt)


@app.command("enrol-drive")
def enrol_drive(
    path: str = typer.Argument(
        ...,
        help="CSV: account_no, office (a number or 'online'), opening_kwh, opening_ytd_kwh "
        "[, phone, language].",
    ),
    by: str | None = BY_OPTION,
    as_json: bool = _JSON,
) -> None:
    """Enrol the households of an enrolment drive file, each with its opening position from
    monthly billing; bad rows are named, good rows land; the same file again changes nothing."""
    raw = read_accounts_csv(path)
    with gridpay_app() as g:
        report = enrolment_drive.enrol_drive_file(
            g.store, g.clock, g.settings, raw, Path(path).name, actor=operator(by)
        )
    if as_json:
        print_json(
            {
                **{k: v for k, v in asdict(report).items() if k != "problems"},
                "problems": [asdict(p) for p in report.problems],
            }
        )
        return
    console.print(
        f"{report.source}: {report.rows} rows, [green]{report.enrolled} enrolled[/], "
        f"{report.already_enrolled} already enrolled, {len(report.problems)} refused"
    )
    if report.without_position:
        console.print(
            f"[yellow]{report.without_position} enrolled without an opening position[/]: "
            f"a staff task asks for each (gridpay tasks)"
        )
    if report.problems:
        table = Table(title="Rows refused")
        for column in ("row", "account", "problem"):
            table.add_column(column)
        for p in report.problems:
            table.add_row(str(p.row_no), escape(printable(p.account_no)), escape(p.problem))
        console.print(table)


@app.command()
def leave(
    account: str = _ACCOUNT,
    note: str | None = typer.Option(None, "--note", help="Why (kept with the refund)."),
    by: str | None = BY_OPTION,
    as_json: bool = _JSON,
) -> None:
    """End the agreement: postpaid again, a positive balance refunded, supply back on."""
    with gridpay_app() as g:
        receipt = enrolment.leave(g.store, g.clock, g.settings, account, note, actor=operator(by))
    if as_json:
        print_json(leave_json(receipt))
        return
    _print_leave(receipt)


@app.command()
def protect(
    account: str = _ACCOUNT,
    reason: str | None = typer.Option(None, "--reason", help="medical or elderly_alone."),
    note: str | None = typer.Option(None, "--note"),
    clear: bool = typer.Option(False, "--clear", help="The customer is no longer protected."),
    by: str | None = BY_OPTION,
    as_json: bool = _JSON,
) -> None:
    """Flag a protected customer: never cut remotely; staff and the trusted contact are told."""
    if clear == (reason is not None):
        raise InvalidInput("give either --reason medical|elderly_alone or --clear")
    with gridpay_app() as g:
        receipt = enrolment.protect(
            g.store, g.clock, Protect(account, reason, note), actor=operator(by)
        )
    if as_json:
        print_json(protection_json(receipt))
        return
    state = f"protected ({receipt.reason})" if receipt.reason else "not protected"
    change = "" if receipt.changed else " (unchanged)"
    console.print(f"account {receipt.account_no} is {state}{change}")


@app.command()
def contacts(
    account: str = _ACCOUNT,
    add: str | None = typer.Option(None, "--add", help="A phone to add."),
    role: str = typer.Option("trusted", "--role", help="customer or trusted."),
    language: str = typer.Option("zh", "--language", help="zh or en."),
    name: str | None = typer.Option(None, "--name"),
    as_json: bool = _JSON,
) -> None:
    """List the account's SMS contacts, or add one (--add PHONE)."""
    with gridpay_app() as g:
        if add is None:
            receipt = enrolment.list_contacts(g.store, account)
        else:
            cmd = AddContact(account, add, role=role, language=language, name=name)
            receipt = enrolment.add_contact(g.store, g.clock, cmd)
    if as_json:
        print_json(contacts_json(receipt))
        return
    _print_contacts(receipt)


@report_app.command("enrolment")
def report_enrolment(
    first_day: str | None = typer.Option(
        None, "--from", help="First day (default: the first agreement)."
    ),
    last_day: str | None = typer.Option(None, "--to", help="Last day (default: today)."),
    as_json: bool = _JSON,
) -> None:
    """Enrolment progress per day and office: enrolled that day, so far, eligible, share."""
    first, last = parse_day(first_day, "--from"), parse_day(last_day, "--to")
    with gridpay_app() as g:
        report = enrolment.enrolment_report(g.store, g.clock, first, last)
    if as_json:
        print_json(report_json(report))
        return
    _print_report(report)


# --- JSON ---------------------------------------------------------------------------------


def enrolment_json(receipt: EnrolmentReceipt) -> dict[str, Any]:
    paid = receipt.opening_payment
    return {
        "status": "already_recorded" if receipt.already_recorded else "recorded",
        "account_no": receipt.account_no,
        "name": receipt.customer_name,
        "enrolment_id": receipt.enrolment_id,
        "enrolled_on": receipt.enrolled_on.isoformat(),
        "channel": receipt.channel,
        "office_id": receipt.office_id,
        "contacts": [_contact_json(c) for c in receipt.contacts],
        "protection": receipt.protection,
        "sms_queued": receipt.sms_queued,
        "opening_payment": receipt_json(paid) if paid is not None else None,
        "position": receipt.position,
        "position_missing": receipt.position_missing,
        "position_corrected_fen": receipt.position_corrected_fen,
    }


def leave_json(receipt: LeaveReceipt) -> dict[str, Any]:
    refund = receipt.refund
    return {
        "status": "left",
        "closed_out": receipt.closed_out,
        "account_no": receipt.account_no,
        "name": receipt.customer_name,
        "enrolment_id": receipt.enrolment_id,
        "enrolled_on": receipt.enrolled_on.isoformat(),
        "left_on": receipt.left_on.isoformat(),
        "refund": None
        if refund is None
        else {
            "transfer_id": refund.id,
            "amount_fen": refund.amount_fen,
            "amount_yuan": format_fen(refund.amount_fen),
        },
        "debt_fen": receipt.debt_fen,
        "debt_yuan": format_fen(receipt.debt_fen),
        "balance_fen": receipt.balance_fen,
        "reconnect_queued": receipt.reconnect_queued,
        "reconnect_impossible": receipt.reconnect_impossible,
        "sms_queued": receipt.sms_queued,
    }


def protection_json(receipt: ProtectionReceipt) -> dict[str, Any]:
    return {
        "account_no": receipt.account_no,
        "protected": receipt.reason is not None,
        "reason": receipt.reason,
        "note": receipt.note,
        "changed": receipt.changed,
    }


def contacts_json(receipt: ContactsReceipt) -> dict[str, Any]:
    return {
        "account_no": receipt.account_no,
        "added": receipt.added,
        "contacts": [_contact_json(c) for c in receipt.contacts],
    }


def report_json(report: EnrolmentReport) -> dict[str, Any]:
    return {
        "from": report.first_day.isoformat(),
        "to": report.last_day.isoformat(),
        "rows": [
            {**row, "day": row["day"].isoformat()} for row in report.rows.iter_rows(named=True)
        ],
        "note": PRE_DRIVE_FOOTER,
    }


def _contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "phone": contact.phone,
        "role": contact.role.value,
        "language": contact.language.value,
        "name": contact.name,
    }


# --- people -------------------------------------------------------------------------------


def _print_enrolment(receipt: EnrolmentReceipt) -> None:
    where = f"at office {receipt.office_id}" if receipt.office_id is not None else "online"
    name = escape(printable(receipt.customer_name))
    if receipt.already_recorded:
        console.print(
            f"[yellow]already enrolled[/]: account {receipt.account_no} signed the agreement "
            f"on {receipt.enrolled_on.isoformat()} {where}; nothing new was recorded."
        )
    else:
        console.print(
            f"[green]enrolled[/] account {receipt.account_no} ({name}) {where} "
            f"on {receipt.enrolled_on.isoformat()}: prepaid from now on"
            + ("; the agreement SMS is queued." if receipt.sms_queued else ".")
        )
    if receipt.protection:
        console.print(f"protected customer ({receipt.protection}): never cut remotely")
    if receipt.position:
        colour = "yellow" if receipt.position_missing else "default"
        console.print(f"[{colour}]{escape(receipt.position)}[/]")
    if receipt.position_corrected_fen:
        fen = receipt.position_corrected_fen
        console.print(
            "the agreement's settled days were re-priced from it: "
            + (
                f"{format_fen(fen)} yuan more charged"
                if fen > 0
                else f"{format_fen(-fen)} yuan credited back"
            )
        )
    paid = receipt.opening_payment
    if paid is not None:
        status = "already recorded" if paid.already_recorded else "recorded"
        console.print(
            f"opening payment {paid.transfer.id} {status} after the agreement: "
            f"{format_fen(paid.transfer.amount_fen)} yuan, balance {format_fen(paid.balance_fen)} "
            f"yuan."
        )


def _print_leave(receipt: LeaveReceipt) -> None:
    name = escape(printable(receipt.customer_name))
    left_on = receipt.left_on.isoformat()
    console.print(
        f"[green]left[/] smart payment: the agreement of account {receipt.account_no} ({name}) "
        f"ends at the end of {left_on}; monthly billing from the next day."
    )
    if not receipt.closed_out:
        console.print(
            f"{left_on} is settled tonight with the meter's closing reading; then the balance "
            f"is refunded (to pay out: gridpay payouts) or handed to monthly billing as owed."
        )
    if receipt.refund is not None:
        console.print(
            f"balance of {format_fen(receipt.refund.amount_fen)} yuan refunded by "
            f"{receipt.refund.id}: pay it out with gridpay payouts."
        )
    elif receipt.debt_fen > 0:
        console.print(
            f"{format_fen(receipt.debt_fen)} yuan owed is handed to monthly billing "
            f"(gridpay payouts handover)."
        )
    if receipt.reconnect_queued:
        console.print("supply was off: a reconnect command is queued.")
    if receipt.reconnect_impossible:
        console.print(f"[red]{receipt.reconnect_impossible}[/]")


def _print_contacts(receipt: ContactsReceipt) -> None:
    if receipt.added is False:
        console.print("[yellow]that phone is already a contact[/]; nothing was added.")
    table = Table(title=f"Contacts of account {receipt.account_no}")
    for column in ("phone", "role", "language", "name"):
        table.add_column(column)
    for c in receipt.contacts:
        table.add_row(c.phone, c.role.value, c.language.value, escape(printable(c.name or "")))
    console.print(table)


def _print_report(report: EnrolmentReport) -> None:
    table = Table(
        title=f"Enrolment {report.first_day.isoformat()} to {report.last_day.isoformat()}"
    )
    table.add_column("day", no_wrap=True)
    table.add_column("office", no_wrap=True)
    for column in ("new", "signed", "in force", "eligible", "share"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in report.rows.iter_rows(named=True):
        share = "-" if row["share_pct"] is None else f"{row['share_pct']:.1f} %"
        overall = row["office_id"] is None
        cells = (
            row["day"].isoformat(),
            row["office"],
            f"{row['enrolled']:,}",
            f"{row['signed_here']:,}",
            f"{row['enrolled_total']:,}",
            f"{row['eligible']:,}",
            share,
        )
        table.add_row(*cells, style="bold" if overall else None, end_section=overall)
    # At full width even through a pipe (as `gridpay demo` does): office names are long.
    Console(width=max(console.width, REPORT_WIDTH_MIN)).print(table)
    console.print(
        "new: agreements signed that day by the office's accounts (online ones too); signed: "
        "at this office's counter; in force: at the end of the day. " + PRE_DRIVE_FOOTER
    )


def _opening(amount: str | None, channel: str | None, ref: str | None) -> OpeningPayment | None:
    given = [v is not None for v in (amount, channel, ref)]
    if not any(given):
        return None
    if not all(given):
        raise InvalidInput("an opening payment needs --opening-amount, --channel and --ref")
    assert amount is not None and channel is not None and ref is not None
    return OpeningPayment(amount, channel, ref)
