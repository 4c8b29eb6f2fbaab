"""CLI: staff accounts for the office console, and the audit log's search and export."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import sys
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from gridpay.domain.audit_trail import AuditEntry
from gridpay.domain.payments import format_account_no
from gridpay.entrypoints.cli._common import (
    BY_OPTION,
    app,
    console,
    gridpay_app,
    operator,
    parse_day,
    print_json,
)
from gridpay.errors import InvalidInput
from gridpay.ports.staff import StaffMember
from gridpay.services import audit_trail, staff

staff_app = typer.Typer(
    help="Staff of the office console: roles and passwords.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")
audit_log_app = typer.Typer(
    help="The audit log: who made every write (search, export).", no_args_is_help=True
)
app.add_typer(audit_log_app, name="audit-log")

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _read_password() -> str:
    """From a prompt (typed twice, not echoed), or the first line of stdin when it is not a
    terminal (scripts): never from an argument, which the process list and history would show."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise InvalidInput("the two passwords differ")
    return first


def _member_json(m: StaffMember) -> dict[str, object]:
    return {
        "username": m.username,
        "display_name": m.display_name,
        "role": m.role.value,
        "office_id": m.office_id,
        "active": m.active,
        "created_at": m.created_at.isoformat(),
    }


@staff_app.command("add")
def add(
    username: str = typer.Argument(..., help="Sign-in name: lower-case letters and digits."),
    name: str = typer.Option(..., "--name", help="The name the console shows."),
    role: str = typer.Option(..., "--role", help="clerk, supervisor, finance or admin."),
    office: int | None = typer.Option(
        None, "--office", help="The office (clerks and supervisors)."
    ),
    by: str | None = BY_OPTION,
    as_json: bool = _JSON,
) -> None:
    """Add a staff member; the password is read from a prompt (or stdin), never an argument."""
    password = _read_password()
    with gridpay_app() as g:
        member = staff.add_staff(
            g.store,
            g.clock,
            username=username,
            display_name=name,
            password=password,
            role=role,
            office_id=office,
            actor=operator(by),
        )
    if as_json:
        print_json(_member_json(member))
        return
    where = f" at office {member.office_id}" if member.office_id is not None else ""
    console.print(f"added {member.username} ({member.role.value}{where})", markup=False)


@staff_app.command("list")
def list_(as_json: bool = _JSON) -> None:
    """Every staff member, active or not."""
    with gridpay_app() as g:
        members = staff.list_staff(g.store)
    if as_json:
        print_json([_member_json(m) for m in members])
        return
    table = Table()
    for column in ("username", "name", "role", "office", "active"):
        table.add_column(column)
    for m in members:
        table.add_row(
            m.username,
            escape(m.display_name),
            m.role.value,
            str(m.office_id or ""),
            "yes" if m.active else "no",
        )
    console.print(table)


@staff_app.command("disable")
def disable(username: str = typer.Argument(...), by: str | None = BY_OPTION) -> None:
    """Disable a member: no sign-in, and their open sessions end now."""
    with gridpay_app() as g:
        member = staff.disable_staff(g.store, g.clock, username, actor=operator(by))
    console.print(f"{member.username} is disabled", markup=False)


@staff_app.command("set-password")
def set_password(username: str = typer.Argument(...), by: str | None = BY_OPTION) -> None:
    """A new password (prompt or stdin); the member's open sessions end."""
    password = _read_password()
    with gridpay_app() as g:
        staff.set_password(g.store, g.clock, username, password, actor=operator(by))
    console.print(f"password of {username} changed; their sessions ended", markup=False)


# --- the audit log ---------------------------------------------------------------------

_COLUMNS = (
    "id",
    "at",
    "actor",
    "role",
    "office_id",
    "action",
    "account_no",
    "subject",
    "amount_fen",
    "reason",
    "detail",
)


def _entry_row(e: AuditEntry, zone: ZoneInfo) -> dict[str, object]:
    return {
        "id": e.id,
        "at": e.at.astimezone(zone).isoformat(),
        "actor": e.actor_label,
        "role": e.actor_role,
        "office_id": e.actor_office_id,
        "action": e.action,
        "account_no": format_account_no(e.account_id) if e.account_id is not None else None,
        "subject": e.subject,
        "amount_fen": e.amount_fen,
        "reason": e.reason,
        "detail": e.detail,
    }


@audit_log_app.command("search")
def search(
    account: str | None = typer.Option(None, "--account", help="An account number."),
    actor: str | None = typer.Option(
        None, "--actor", help="Who: an id (li) or kind:id (staff:li, cli:root, system:system)."
    ),
    action: str | None = typer.Option(
        None, "--action", help="An action (payment.take) or a prefix ending in '.' (payment.)."
    ),
    since: str | None = typer.Option(None, "--since", help="From this day on (local date)."),
    limit: int = typer.Option(200, "--limit", help="At most this many entries, newest first."),
    as_json: bool = _JSON,
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (for a spreadsheet)."),
) -> None:
    """Search the audit log: who made which write, to which account, why."""
    if as_json and as_csv:
        raise InvalidInput("give --json or --csv, not both")
    day = parse_day(since, "--since")
    with gridpay_app() as g:
        zone = ZoneInfo(g.settings.time_zone)
        start = dt.datetime.combine(day, dt.time(), zone) if day is not None else None
        entries = audit_trail.search(
            g.store, account_no=account, actor=actor, action=action, since=start, limit=limit
        )
    found = [_entry_row(e, zone) for e in entries]
    if as_json:
        print_json(found)
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(found)
        return
    table = Table()
    for column in ("at", "actor", "action", "account", "amount", "reason"):
        table.add_column(column)
    for r in found:
        table.add_row(
            str(r["at"])[:19],
            escape(str(r["actor"])),
            str(r["action"]),
            str(r["account_no"] or ""),
            "" if r["amount_fen"] is None else str(r["amount_fen"]),
            escape(str(r["reason"] or "")),
        )
    console.print(table)
