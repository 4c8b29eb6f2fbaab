"""CLI: partners (banks, collection agents, wallets) and the reconciliation of their days."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from gridpay.adapters.statement_files import read_statement, write_report
from gridpay.domain.money import format_fen
from gridpay.domain.partners import Partner
from gridpay.entrypoints.cli._common import (
    app,
    console,
    gridpay_app,
    operator,
    parse_day,
    print_json,
)
from gridpay.entrypoints.cli.payments import receipt_json
from gridpay.services import partners, reconciliation

partners_app = typer.Typer(
    help="Partners of the signed payment API: banks, collection agents, wallets.",
    no_args_is_help=True,
)
app.add_typer(partners_app, name="partners")


def partner_json(partner: Partner, *, with_secret: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": partner.code,
        "name": partner.name,
        "kind": partner.kind.value,
        "channel": partner.channel.value,
        "suspended": partner.suspended,
        "payment_max_yuan": format_fen(partner.payment_amount_fen_max),
        "day_max_yuan": format_fen(partner.day_amount_fen_max),
    }
    if with_secret:
        data["secret"] = partner.secret
    return data


def _show(partner: Partner, what: str, as_json: bool, *, with_secret: bool = False) -> None:
    if as_json:
        print_json(partner_json(partner, with_secret=with_secret))
        return
    state = "[red]suspended[/]" if partner.suspended else "[green]active[/]"
    console.print(
        f"{what} partner {partner.code} ({escape(partner.name)}, {partner.kind.value}): {state}; "
        f"at most {format_fen(partner.payment_amount_fen_max)} yuan a payment, "
        f"{format_fen(partner.day_amount_fen_max)} yuan a day."
    )
    if with_secret:
        console.print(
            f"secret (shown this once; give it to the partner over a safe channel): "
            f"[bold]{partner.secret}[/]",
            soft_wrap=True,
        )


_JSON = typer.Option(False, "--json", help="Print JSON.")


@partners_app.command("add")
def add(
    code: str = typer.Argument(..., help="2-16 letters and digits: the X-Partner header."),
    name: str = typer.Option(..., "--name", help="The partner's name."),
    kind: str = typer.Option(..., "--kind", help="bank, agent or wallet."),
    payment_max: str | None = typer.Option(None, "--payment-max", help="Yuan per payment."),
    day_max: str | None = typer.Option(None, "--day-max", help="Yuan per business day."),
    as_json: bool = _JSON,
) -> None:
    """Add a partner; its HMAC secret is printed this once."""
    with gridpay_app() as g:
        partner = partners.add_partner(
            g.store,
            g.clock,
            code=code,
            name=name,
            kind=kind,
            payment_max_yuan=payment_max,
            day_max_yuan=day_max,
        )
    _show(partner, "added", as_json, with_secret=True)


@partners_app.command("list")
def list_(as_json: bool = _JSON) -> None:
    """The partners, their kind, state and limits (never their secrets)."""
    with gridpay_app() as g:
        found = partners.list_partners(g.store)
    if as_json:
        print_json([partner_json(p) for p in found])
        return
    table = Table("code", "name", "kind", "state", "per payment", "per day")
    for p in found:
        table.add_row(
            p.code,
            escape(p.name),
            p.kind.value,
            "suspended" if p.suspended else "active",
            format_fen(p.payment_amount_fen_max),
            format_fen(p.day_amount_fen_max),
        )
    console.print(table)


@partners_app.command("suspend")
def suspend(code: str = typer.Argument(...), as_json: bool = _JSON) -> None:
    """Refuse every request of the partner (403) until it is resumed."""
    with gridpay_app() as g:
        partner = partners.set_suspended(g.store, g.clock, code, suspended=True)
    _show(partner, "suspended", as_json)


@partners_app.command("resume")
def resume(code: str = typer.Argument(...), as_json: bool = _JSON) -> None:
    """Accept the partner's requests again."""
    with gridpay_app() as g:
        partner = partners.set_suspended(g.store, g.clock, code, suspended=False)
    _show(partner, "resumed", as_json)


@partners_app.command("rotate-secret")
def rotate_secret(code: str = typer.Argument(...), as_json: bool = _JSON) -> None:
    """A new secret, printed once; the old one stops working at once."""
    with gridpay_app() as g:
        partner = partners.rotate_secret(g.store, g.clock, code)
    _show(partner, "new secret for", as_json, with_secret=True)


@partners_app.command("set-limits")
def set_limits(
    code: str = typer.Argument(...),
    payment_max: str | None = typer.Option(None, "--payment-max", help="Yuan per payment."),
    day_max: str | None = typer.Option(None, "--day-max", help="Yuan per business day."),
    as_json: bool = _JSON,
) -> None:
    """Change the partner's limits (per payment, per business day)."""
    with gridpay_app() as g:
        partner = partners.set_limits(
            g.store, g.clock, code, payment_max_yuan=payment_max, day_max_yuan=day_max
        )
    _show(partner, "limits of", as_json)


# --- reconcile ----------------------------------------------------------------------------


class _StatementByDefault(TyperGroup):
    """``gridpay reconcile PARTNER FILE`` runs the ``statement`` command; ``gridpay reconcile
    confirm ...`` its own (a group whose first argument is not a command name)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["statement", *args]
        return super().parse_args(ctx, args)


reconcile_app = typer.Typer(
    cls=_StatementByDefault,
    help="Reconcile a partner's day against its statement; confirm lines missing on our side.",
    no_args_is_help=True,
)
app.add_typer(reconcile_app, name="reconcile")


@reconcile_app.command("statement")
def statement(
    partner: str = typer.Argument(..., help="The partner's code."),
    file: str = typer.Argument(..., help="The statement: CSV, see docs/partner-api.md."),
    date: str | None = typer.Option(None, "--date", help="The statement's day (yesterday)."),
    report: str | None = typer.Option(None, "--report", help="Write the day's report (CSV)."),
    as_json: bool = _JSON,
) -> None:
    """(the default: `gridpay reconcile PARTNER FILE`) Match the statement against our payments;
    each mismatch becomes a finance task."""
    raw = read_statement(Path(file))
    with gridpay_app() as g:
        day = parse_day(date, "--date") or reconciliation.default_day(g.clock)
        result = reconciliation.reconcile_statement(
            g.store, g.clock, partner, raw, day, actor=operator()
        )
    if report is not None:
        write_report(Path(report), result.lines)
    if as_json:
        print_json(
            {
                "partner": result.partner_code,
                "day": result.day.isoformat(),
                "lines": result.counts,
                "tasks_opened": result.tasks_opened,
                "tasks_closed": result.tasks_closed,
                "report": str(report) if report else None,
            }
        )
        return
    counts = ", ".join(f"{n} {outcome}" for outcome, n in result.counts.items())
    console.print(
        f"{result.partner_code} {result.day}: {counts}; finance tasks opened "
        f"{result.tasks_opened}, closed {result.tasks_closed}"
        + (f"; report written to {report}" if report else "")
    )


@reconcile_app.command("confirm")
def confirm(
    partner: str = typer.Argument(..., help="The partner's code."),
    ref: str = typer.Argument(..., help="The statement line's reference."),
    by: str = typer.Option(..., "--by", help="The finance user confirming it."),
    date: str | None = typer.Option(None, "--date", help="The statement's day (yesterday)."),
    as_json: bool = _JSON,
) -> None:
    """Post a payment that is on the partner's statement but missing on our side."""
    with gridpay_app() as g:
        day = parse_day(date, "--date") or reconciliation.default_day(g.clock)
        receipt = reconciliation.confirm(
            g.store, g.clock, g.settings, g.credit, code=partner, reference=ref, by=by, day=day
        )
    if as_json:
        print_json(receipt_json(receipt))
        return
    state = "already recorded" if receipt.already_recorded else "posted"
    console.print(
        f"{state}: {receipt.transfer.id}, {format_fen(receipt.transfer.amount_fen)} yuan into "
        f"account {receipt.account_no}; balance {format_fen(receipt.balance_fen)} yuan."
    )


@reconcile_app.command("report")
def report_(
    partner: str = typer.Argument(..., help="The partner's code."),
    out: str = typer.Argument(..., help="Where to write the CSV report."),
    date: str | None = typer.Option(None, "--date", help="The statement's day (yesterday)."),
) -> None:
    """Write the latest reconciliation of the partner's day as CSV."""
    with gridpay_app() as g:
        day = parse_day(date, "--date") or reconciliation.default_day(g.clock)
        lines = reconciliation.day_lines(g.store, partner, day)
    written = write_report(Path(out), lines)
    console.print(f"{written} lines written to {out}")
