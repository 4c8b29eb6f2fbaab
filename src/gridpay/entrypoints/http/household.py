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
from importlib.resources import files
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridpay import limits
from gridpay.domain.household import mask_phone
from gridpay.domain.money import format_fen, format_kwh
from gridpay.domain.payments import format_account_no
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.entrypoints.http.household_chart import REGISTER_COLOURS, chart_svg
from gridpay.entrypoints.http.household_web import (
    check_csrf,
    error_page,
    render,
    signed_in,
    to_sign_in,
    words_of,
)
from gridpay.errors import GridpayError, NotFound
from gridpay.services.household_access import set_access, trusted_contacts
from gridpay.services.household_view import activity, home, statement_months
from gridpay.services.queries import account_statement, parse_month

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
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    try:
        view = home(g.store, g.clock, g.credit, signed[0].account_id, days)
    except GridpayError as exc:
        return error_page(request, "error.html.j2", exc, signed=signed)
    words = words_of(request)
    return render(
        request,
        "home.html.j2",
        signed=signed,
        view=view,
        chart=chart_svg(view.chart, view.chart_days, words),
        chart_choices=limits.household_chart_days,
        colours=REGISTER_COLOURS,
    )


@router.get("/activity", response_class=HTMLResponse, summary="Payments, refunds, messages")
def activity_page(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    found = activity(g.store, signed[0].account_id)
    zone = ZoneInfo(g.settings.time_zone)
    return render(request, "activity.html.j2", signed=signed, found=found, zone=zone)


@router.get("/statements", response_class=HTMLResponse, summary="The monthly statements")
def statements_page(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    return render(request, "statements.html.j2", signed=signed, months=statement_months(g.clock))


@router.get("/statements/{month}.csv", summary="A month's statement as CSV")
def statement_csv(request: Request, month: str) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    try:
        parse_month(month)
        found = account_statement(g.store, format_account_no(signed[0].account_id), month)
    except GridpayError as exc:
        return error_page(request, "error.html.j2", exc, signed=signed)
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


@router.get("/statements/{month}", response_class=HTMLResponse, summary="A month's statement")
def statement_page(request: Request, month: str) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    try:
        parse_month(month)
        found = account_statement(g.store, format_account_no(signed[0].account_id), month)
    except GridpayError as exc:
        return error_page(request, "error.html.j2", exc, signed=signed)
    return render(request, "statement.html.j2", signed=signed, found=found)


@router.get("/settings", response_class=HTMLResponse, summary="Family access, sign out")
def settings_page(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    contacts = trusted_contacts(g.store, signed[0]) if not signed[0].read_only else []
    return render(
        request,
        "settings.html.j2",
        signed=signed,
        contacts=contacts,
        error=None,
        phone_masked=mask_phone(signed[0].phone),
    )


@router.post("/settings/access", summary="Give or take back a family contact's read access")
def settings_access(
    request: Request,
    phone: Annotated[str, Form(max_length=32)],
    allow: Annotated[str, Form(max_length=1, pattern="^[01]$")],
    csrf: Annotated[str | None, Form(max_length=128)] = None,
) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_sign_in()
    g = gridpay_of(request)
    try:
        check_csrf(request, csrf, signed[1])
        set_access(g.store, g.clock, signed[0], phone, allow=allow == "1")
    except GridpayError as exc:
        contacts = trusted_contacts(g.store, signed[0]) if not signed[0].read_only else []
        return error_page(
            request,
            "settings.html.j2",
            exc,
            signed=signed,
            contacts=contacts,
            phone_masked=mask_phone(signed[0].phone),
        )
    return RedirectResponse("/settings", status_code=303)
