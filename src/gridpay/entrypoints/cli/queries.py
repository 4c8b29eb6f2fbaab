"""CLI: `account show`, `account statement` and `audit`; Rich for people, --json for scripts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from gridpay.domain.money import format_fen, format_kwh
from gridpay.domain.text import printable
from gridpay.entrypoints.cli._common import RichProgress, app, console, gridpay_app, print_json
from gridpay.services import audit as audit_service
from gridpay.services import queries
from gridpay.services.audit import AuditReport
from gridpay.services.queries import AccountView, Statement, StatementLine, TierPosition

account_app = typer.Typer(help="One account: summary and monthly statement.", no_args_is_help=True)
app.add_typer(account_app, name="account")

_JSON = typer.Option(False, "--json", help="Print JSON.")


@account_app.command("show")
def account_show(
    account: str = typer.Argument(..., help="The 10-digit account number."),
    as_json: bool = _JSON,
) -> None:
    """Balance, year-to-date kWh and tier, the last 30 days, recent transfers."""
    with gridpay_app() as g:
        view = queries.account_show(g.store, g.clock, account)
    if as_json:
        print_json(account_json(view))
        return
    _print_account(view)


@account_app.command("statement")
def account_statement(
    account: str = typer.Argument(..., help="The 10-digit account number."),
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    as_json: bool = _JSON,
) -> None:
    """A month's statement: opening balance, each charge and payment, closing balance."""
    with gridpay_app() as g:
        statement = queries.account_statement(g.store, account, month)
    if as_json:
        print_json(statement_json(statement))
        return
    _print_statement(statement)


@app.command("statement")
def statement(
    account: str = typer.Argument(..., help="The 10-digit account number."),
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    as_json: bool = _JSON,
) -> None:
    """A month's statement (as ``account statement``); an archived month is read from its file."""
    account_statement(account, month, as_json)


@app.command()
def audit(
    days: int = typer.Option(
        1,
        "--days",
        help="Re-price the last N settled days from their readings and tariffs (each costs "
        "about as much as settling it).",
    ),
    all_days: bool = typer.Option(False, "--all", help="Re-price every settled day."),
    as_json: bool = _JSON,
) -> None:
    """Prove the books balance; exits non-zero naming the accounts if anything fails."""
    with gridpay_app() as g:
        report = audit_service.audit(
            g.store,
            days=None if all_days else days,
            progress=RichProgress(),
            nominal_voltage_v=g.settings.nominal_voltage_v,
        )
    if as_json:
        print_json(audit_json(report))
    else:
        _print_audit(report)
    report.raise_if_failed()


# --- JSON --------------------------------------------------------------------------------


def _money(amount_fen: int) -> dict[str, Any]:
    return {"fen": amount_fen, "yuan": format_fen(amount_fen)}


def _tier_json(tier: TierPosition | None) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {
        "tier": tier.tier,
        "tiers": tier.tiers,
        "tier_from_kwh": format_kwh(tier.tier_from_wh),
        "next_tier_from_kwh": _kwh_or_none(tier.next_tier_from_wh),
        "kwh_to_next_tier": _kwh_or_none(tier.wh_to_next_tier),
    }


def _kwh_or_none(energy_wh: int | None) -> str | None:
    return None if energy_wh is None else format_kwh(energy_wh)


def account_json(view: AccountView) -> dict[str, Any]:
    return {
        "account_no": view.account_no,
        "name": view.name,
        "phone": view.phone,
        "language": view.language,
        "supply_type": view.supply_type,
        "billing_mode": view.billing_mode,
        "tariff_code": view.tariff_code,
        "office": {"id": view.office_id, "name": view.office_name},
        "meter_nos": list(view.meter_nos),
        "as_of": view.as_of.isoformat(),
        "balance": _money(view.balance_fen),
        "year_to_date": {
            "year": view.ytd_year,
            "through": view.last_settled_day.isoformat() if view.last_settled_day else None,
            "energy_kwh": format_kwh(view.ytd_wh),
            "charged": _money(view.ytd_charged_fen),
            "tier": _tier_json(view.tier),
        },
        "last_days": {
            "energy_kwh": format_kwh(view.usage_energy_wh),
            "charged": _money(view.usage_charge_fen),
            "days": [
                {
                    "day": u.day.isoformat(),
                    "energy_kwh": format_kwh(u.energy_wh),
                    "charge": _money(u.charge_fen),
                    "estimated": u.estimated,
                }
                for u in view.usage
            ],
        },
        "recent_transfers": [
            {
                **asdict(t),
                "day": t.day.isoformat() if t.day else None,
                "created_at": t.created_at.isoformat(),
                "amount": _money(t.amount_fen),
            }
            for t in view.recent_transfers
        ],
    }


def statement_json(statement: Statement) -> dict[str, Any]:
    return {
        "account_no": statement.account_no,
        "name": statement.name,
        "month": statement.month,
        "opening_balance": _money(statement.opening_balance_fen),
        "lines": [
            {
                "day": line.day.isoformat(),
                "transfer_id": line.transfer_id,
                "kind": line.kind,
                "amount": _money(line.amount_fen),
                "balance": _money(line.balance_fen),
                "energy_kwh": _kwh_or_none(line.energy_wh),
                "channel": line.channel,
                "ref": line.ref,
                "reverses_id": line.reverses_id,
                "note": line.note,
            }
            for line in statement.lines
        ],
        "closing_balance": _money(statement.closing_balance_fen),
        "totals": {kind: _money(fen) for kind, fen in statement.totals_fen.items()},
        "energy_kwh": format_kwh(statement.energy_wh),
    }


def audit_json(report: AuditReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "seconds": round(report.seconds, 3),
        "checks": [{**asdict(c), "seconds": round(c.seconds, 3)} for c in report.checks],
    }


# --- Rich --------------------------------------------------------------------------------


def _print_account(view: AccountView) -> None:
    name = escape(printable(view.name))
    console.print(
        f"[bold]{view.account_no}[/] {name}  ({view.billing_mode}, {view.supply_type} "
        f"supply, tariff {view.tariff_code}, {view.office_name})"
    )
    if view.meter_nos:
        console.print(f"meters: {', '.join(view.meter_nos)}")
    style = "red" if view.balance_fen <= 0 else "green"
    console.print(f"balance: [{style}]{format_fen(view.balance_fen)} yuan[/] (as of {view.as_of})")
    through = f" through {view.last_settled_day}" if view.last_settled_day else ""
    console.print(
        f"{view.ytd_year} to date{through}: {format_kwh(view.ytd_wh)} kWh, "
        f"{format_fen(view.ytd_charged_fen)} yuan charged"
    )
    if view.tier is not None:
        tier = view.tier
        ahead = (
            f"{format_kwh(tier.wh_to_next_tier)} kWh to tier {tier.tier + 1}"
            if tier.wh_to_next_tier is not None
            else "the last tier"
        )
        console.print(f"tier {tier.tier} of {tier.tiers}: {ahead}")
    usage = Table(title=f"last {len(view.usage)} settled days")
    for column in ("day", "kWh", "charge (yuan)", ""):
        usage.add_column(column, justify="right" if column not in ("day", "") else "left")
    for u in view.usage:
        usage.add_row(
            u.day.isoformat(),
            format_kwh(u.energy_wh),
            format_fen(u.charge_fen),
            "estimated" if u.estimated else "",
        )
    usage.add_row("total", format_kwh(view.usage_energy_wh), format_fen(view.usage_charge_fen), "")
    console.print(usage)
    transfers = Table(title="recent transfers")
    for column in ("day", "transfer", "kind", "amount (yuan)"):
        transfers.add_column(column, justify="right" if column.startswith("amount") else "left")
    for t in view.recent_transfers:
        transfers.add_row(
            t.day.isoformat() if t.day else "", t.id, t.kind, format_fen(t.amount_fen)
        )
    console.print(transfers)


def _print_statement(statement: Statement) -> None:
    name = escape(printable(statement.name))
    table = Table(
        title=f"statement {statement.month} — {statement.account_no} {name}",
        caption=f"{format_kwh(statement.energy_wh)} kWh settled in the month",
    )
    table.add_column("day", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for column in ("kWh", "amount", "balance"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        str(statement.first_day), "opening", "", "", "", format_fen(statement.opening_balance_fen)
    )
    for line in statement.lines:
        table.add_row(
            line.day.isoformat(),
            line.kind,
            _line_detail(line),
            _kwh_or_none(line.energy_wh) or "",
            format_fen(line.amount_fen),
            format_fen(line.balance_fen),
        )
    table.add_row(
        str(statement.last_day), "closing", "", "", "", format_fen(statement.closing_balance_fen)
    )
    console.print(table)
    console.print("amounts and balances in yuan")
    totals = ", ".join(
        f"{kind} {format_fen(fen)}" for kind, fen in statement.totals_fen.items() if fen
    )
    console.print(f"totals (yuan): {totals or 'no movements'}")


def _line_detail(line: StatementLine) -> str:
    """What a clerk needs beside the kind: the channel and reference, or what was reversed."""
    if line.transfer_id.startswith("trueup/") and "/position-" in line.transfer_id:
        detail = "re-priced from the opening position entered late"
    elif line.transfer_id.startswith("trueup/"):
        detail = "true-up after a late reading"
    elif line.kind in ("charge", "credit"):
        detail = ""
    elif line.reverses_id:
        detail = f"of {line.reverses_id}"
    else:
        detail = " ".join(part for part in (line.channel, line.ref) if part)
    if line.note:
        detail = f"{detail} ({line.note})".strip()
    return detail


def _print_audit(report: AuditReport) -> None:
    table = Table(title="gridpay audit")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    table.add_column("checked", justify="right")
    for c in report.checks:
        table.add_row(
            c.name,
            "[green]ok[/]" if c.ok else "[bold red]FAILED[/]",
            str(c.failed),
            f"{c.checked:,} {c.checked_what}",
        )
    console.print(table)
    for c in report.failed_checks:
        console.print(f"[bold red]{c.name}[/]: {c.description}.")
        if c.accounts:
            more = f" (+{c.failed - len(c.accounts)} more)" if c.failed > len(c.accounts) else ""
            console.print(f"  accounts: {', '.join(c.accounts)}{more}")
        if c.detail:
            console.print(f"  {c.detail}")
    verdict = "[green]the books balance[/]" if report.ok else "[bold red]audit failed[/]"
    console.print(f"{verdict} ({report.seconds:.2f} s)")
