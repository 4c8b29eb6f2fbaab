"""The household's pages: home (balance, days left, usage chart, tier position, supply), payments
and messages, monthly statements (page and CSV), settings (family access, sign out everywhere).

Every page is for the signed-in household's own account only: the account comes from the
session, never from the address or a form, so another household's account cannot be asked for.
A trusted contact's session reads the same pages; the forms that change something refuse it.
Everything works without JavaScript; the script only makes the chart's bars tappable.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from importlib.resources import files
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridpay import bootstrap, limits
from gridpay.domain.household import Session, mask_phone
from gridpay.domain.money import format_fen, format_kwh
from gridpay.domain.payments import format_account_no
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.entrypoints.http.household_chart import REGISTER_COLOURS, chart_svg
from gridpay.entrypoints.http.household_web import (
    SESSION_COOKIE,
    check_csrf,
    error_page,
    render,
    signed_in,
    to_sign_in,
    words_of,
)
from gridpay.errors import GridpayError, NotFound, NotSignedIn
from gridpay.services.household_access import set_access, trusted_contacts
from gridpay.services.household_view import activity, signed_in_home, statement_months
from gridpay.services.queries import Statement, account_statement, parse_month

router = APIRouter(tags=["households"])

_STATIC_DIR = files("gridpay") / "data" / "static" / "household"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# The files are read once: a page's CSS and script are then a dictionary lookup.
_STATIC = {
    entry.name: (entry.read_bytes(), _STATIC_TYPES[entry.name[entry.name.rfind(".") :]])
    for entry in _STATIC_DIR.iterdir()
    if entry.name[entry.name.rfind(".") :] in _STATIC_TYPES
}


@router.get("/static/household/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    found = _STATIC.get(name)
    if found is None:
        raise NotFound(f"no file {name!r}")
    body, media_type = found
    return Response(body, media_type=media_type, headers={"cache-control": "max-age=3600"})


@router.get("/home", response_class=HTMLResponse, summary="The household's home page")
def home_page(
    request: Request,
    days: Annotated[int, Query(description="chart days: 30, 90 or 365")] = 30,
) -> Response:
    g = gridpay_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        # The session and the page's reads in one read-only transaction.
        session, view = signed_in_home(g.store, g.clock, g.settings, g.credit, token, days)
    except NotSignedIn:
        return to_sign_in()
    except GridpayError as exc:
        failed = exc  # shown on the error page, for a signed-in household only
        return signed_page(request, lambda signed, g: _raise(failed))
    words = words_of(request)
    return render(
        request,
        "home.html.j2",
        signed=(session, token or ""),
        view=view,
        chart=chart_svg(view.chart, view.chart_days, words),
        chart_choices=limits.household_chart_days,
        colours=REGISTER_COLOURS,
    )


@router.get("/activity", response_class=HTMLResponse, summary="Payments, refunds, messages")
def activity_page(request: Request) -> Response:
    def page(signed: Signed, g: bootstrap.App) -> Response:
        found = activity(g.store, signed[0].account_id)
        zone = ZoneInfo(g.settings.time_zone)
        return render(request, "activity.html.j2", signed=signed, found=found, zone=zone)

    return signed_page(request, page)


@router.get("/statements", response_class=HTMLResponse, summary="The monthly statements")
def statements_page(request: Request) -> Response:
    return signed_page(
        request,
        lambda signed, g: render(
            request, "statements.html.j2", signed=signed, months=statement_months(g.clock)
        ),
    )


@router.get("/statements/{month}.csv", summary="A month's statement as CSV")
def statement_csv(request: Request, month: str) -> Response:
    return signed_page(request, lambda signed, g: _csv(_statement_of(g, signed, month)))


@router.get("/statements/{month}", response_class=HTMLResponse, summary="A month's statement")
def statement_page(request: Request, month: str) -> Response:
    return signed_page(
        request,
        lambda signed, g: render(
            request, "statement.html.j2", signed=signed, found=_statement_of(g, signed, month)
        ),
    )


@router.get("/settings", response_class=HTMLResponse, summary="Family access, sign out")
def settings_page(request: Request) -> Response:
    return signed_page(
        request,
        lambda signed, g: render(
            request, "settings.html.j2", signed=signed, error=None, **_settings_of(g, signed)
        ),
    )


@router.post("/settings/access", summary="Give or take back a family contact's read access")
def settings_access(
    request: Request,
    phone: Annotated[str, Form(max_length=32)],
    allow: Annotated[str, Form(max_length=1, pattern="^[01]$")],
    csrf: Annotated[str | None, Form(max_length=128)] = None,
) -> Response:
    def change(signed: Signed, g: bootstrap.App) -> Response:
        check_csrf(request, csrf, signed[1])
        set_access(g.store, g.clock, signed[0], phone, allow=allow == "1")
        return RedirectResponse("/settings", status_code=303)

    return signed_page(request, change, "settings.html.j2", _settings_of)


# --- what the pages share -------------------------------------------------------------------

Signed = tuple[Session, str]


def signed_page(
    request: Request,
    page: Callable[[Signed, bootstrap.App], Response],
    error_template: str = "error.html.j2",
    error_values: Callable[[bootstrap.App, Signed], dict[str, Any]] | None = None,
) -> Response:
    """A page for the signed-in household only: to the sign-in page without a session; the
    error template (with ``error_values``) and the error's status when the page raises."""
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    try:
        return page(signed, g)
    except GridpayError as exc:
        values = error_values(g, signed) if error_values is not None else {}
        return error_page(request, error_template, exc, signed=signed, **values)


def _raise(exc: GridpayError) -> Response:
    raise exc


def _statement_of(g: bootstrap.App, signed: Signed, month: str) -> Statement:
    parse_month(month)
    return account_statement(g.store, format_account_no(signed[0].account_id), month)


def _settings_of(g: bootstrap.App, signed: Signed) -> dict[str, Any]:
    session = signed[0]
    contacts = trusted_contacts(g.store, session) if not session.read_only else []
    return {"contacts": contacts, "phone_masked": mask_phone(session.phone)}


def _csv(found: Statement) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "kind", "amount_yuan", "balance_yuan", "energy_kwh", "channel"])
    writer.writerow(["", "opening", "", format_fen(found.opening_balance_fen), "", ""])
    for line in found.lines:
        writer.writerow(
            [
                line.day.isoformat(),
                line.kind,
                format_fen(line.amount_fen),
                format_fen(line.balance_fen),
                format_kwh(line.energy_wh) if line.energy_wh is not None else "",
                line.channel or "",
            ]
        )
    writer.writerow(["", "closing", "", format_fen(found.closing_balance_fen), "", ""])
    return Response(
        out.getvalue().encode("utf-8-sig"),  # the BOM makes spreadsheet programs read UTF-8
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="statement-{found.month}.csv"',
            "cache-control": "no-store",
        },
    )
