"""The office console: server-rendered pages for counter staff, in Chinese and English.

Signed-in staff only (a session cookie, HttpOnly, SameSite=Lax, Secure behind TLS; the database
keeps the token's hash). Every form is a POST carrying a CSRF token: the session's own token
hashed with a purpose (so it needs no storage), or before sign-in a double-submit cookie. No
customer data travels in a URL (searches and households are POSTed; a receipt is addressed by
its audit entry's number). The rules are the services': a page only hides what a role may not
do, the service refuses it anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridpay import bootstrap
from gridpay.domain.account_changes import ChangePhone, ConfirmPhone
from gridpay.domain.actors import Actor, Role
from gridpay.domain.enrolment import Enrol
from gridpay.domain.ledger import Channel
from gridpay.domain.money import format_fen
from gridpay.domain.payments import TakePayment
from gridpay.entrypoints.http.console_text import LANGUAGES, text_for
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.errors import GridpayError, NotFound
from gridpay.ports.staff import StaffMember
from gridpay.services import (
    account_changes,
    console,
    enrolment,
    payments,
    staff,
)

router = APIRouter(include_in_schema=False)

SESSION_COOKIE = "gridpay_console"
CSRF_COOKIE = "gridpay_console_csrf"
LANG_COOKIE = "gridpay_console_lang"
_STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
T = TypeVar("T")


# --- plumbing: templates, sessions, CSRF ---------------------------------------------------


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gridpay", "data/templates/console"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["yuan"] = format_fen
    return env


@dataclass(frozen=True)
class Session:
    token: str
    member: StaffMember
    actor: Actor
    csrf: str

    @property
    def is_clerk(self) -> bool:
        return self.member.role is Role.CLERK

    @property
    def is_supervisor(self) -> bool:
        return self.member.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def at_counter(self) -> bool:
        return self.member.role in (Role.CLERK, Role.SUPERVISOR, Role.ADMIN)

    @property
    def reconciles(self) -> bool:
        return self.member.role in (Role.FINANCE, Role.ADMIN)


def _csrf_of(token: str) -> str:
    """The session's CSRF token: derived, so a form needs no stored state and a stolen CSRF
    token tells nothing about the session's own."""
    return hashlib.sha256(f"console-csrf:{token}".encode()).hexdigest()


def _session(request: Request) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    built = _built(request)
    member = staff.signed_in(built.store, built.clock, token)
    if member is None or token is None:
        return None
    return Session(token, member, staff.actor_of(member), _csrf_of(token))


def _csrf_ok(session: Session, given: str) -> bool:
    return hmac.compare_digest(session.csrf.encode(), given.encode())


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGUAGES else "zh"


def _render(
    request: Request,
    template: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    built = _built(request)
    lang = _lang(request)
    zone = ZoneInfo(built.settings.time_zone)
    values = {
        "error": None,
        "notice": None,
        "t": text_for(lang),
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "session": session,
        "company": built.settings.company_name_zh if lang == "zh" else built.settings.company_name,
        "local": lambda at: at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "",
    }
    page = _templates().get_template(template).render(values | context)
    response = HTMLResponse(page, status_code=status)
    response.headers["cache-control"] = "no-store"  # customer data: never kept by a browser
    return response


def _to_sign_in() -> RedirectResponse:
    return RedirectResponse("/console/sign-in", status_code=303)


def _refused(
    request: Request, session: Session, exc: GridpayError, template: str, **context: Any
) -> HTMLResponse:
    return _render(
        request,
        template,
        session,
        status=_status(exc.code, 400),
        error=exc.message,
        **context,
    )


def _built(request: Request) -> bootstrap.App:
    return gridpay_of(request)


def _status(code: str, default: int) -> int:
    # Imported here: app.py imports this module to mount the router.
    from gridpay.entrypoints.http.app import HTTP_STATUS

    return HTTP_STATUS.get(code, default)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- static files, language ------------------------------------------------------------


@router.get("/static/console/{name}")
def static_file(name: str) -> Response:
    media_type = _STATIC.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name!r}")
    body = resources.files("gridpay").joinpath("data/static/console", name).read_bytes()
    return Response(body, media_type=media_type, headers={"cache-control": "max-age=3600"})


@router.get("/console/lang/{lang}")
def choose_language(lang: str) -> RedirectResponse:
    response = RedirectResponse("/console/", status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


# --- signing in and out ------------------------------------------------------------------


@router.get("/console/sign-in")
def sign_in_page(request: Request) -> HTMLResponse:
    return _sign_in_form(request, None, 200)


def _sign_in_form(request: Request, error: str | None, status: int) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _render(request, "sign_in.j2", None, status=status, csrf=token, error=error)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_built(request).settings.http_behind_tls,
        path="/console",
    )
    return response


@router.post("/console/sign-in", response_model=None)
def sign_in(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return _sign_in_form(request, "CSRF", 403)
    built = _built(request)
    try:
        signed = staff.sign_in(built.store, built.clock, username, password, _client(request))
    except GridpayError as exc:
        return _sign_in_form(request, exc.message, _status(exc.code, 400))
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=int((signed.expires_at - built.clock.now()).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=built.settings.http_behind_tls,
        path="/",
    )
    response.delete_cookie(CSRF_COOKIE, path="/console")
    return response


@router.post("/console/sign-out")
def sign_out(request: Request, csrf: str = Form("")) -> RedirectResponse:
    session = _session(request)
    if session is not None and _csrf_ok(session, csrf):
        built = _built(request)
        staff.sign_out(built.store, built.clock, session.token)
    response = _to_sign_in()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- forms: one session check, CSRF check and error-to-page for every POST ------------------

# A page shown after a form: the notice on success, or the refusal's message and status.
Page = Callable[[Session, str | None, GridpayError | None], HTMLResponse]


def _posted(
    request: Request,
    csrf: str,
    action: Callable[[bootstrap.App, Session], T],
    page: Page,
    notice: str | None = None,
    *,
    then: Callable[[Session, T], Response] | None = None,
) -> Response:
    """A form's POST: signed in with the session's CSRF token (else back to sign-in, nothing
    done), then ``action``; a refusal shows ``page`` with its message and the error's status,
    success shows ``page`` with ``notice`` (or what ``then`` makes of the action's result)."""
    session = _session(request)
    if session is None or not _csrf_ok(session, csrf):
        return _to_sign_in()
    try:
        result = action(_built(request), session)
    except GridpayError as exc:
        return page(session, None, exc)
    if then is not None:
        return then(session, result)
    return page(session, notice, None)


def _on_household(request: Request, account_no: str) -> Page:
    return lambda session, notice, error: _household_page(
        request, session, account_no, notice=notice, error=error
    )


def _on_shift(request: Request) -> Page:
    return lambda session, notice, error: _shift_page(request, session, notice=notice, error=error)


# --- finding a household -----------------------------------------------------------------


@router.get("/console/", response_model=None)
def home(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    return _render(request, "home.j2", session, found=None, query="")


@router.post("/console/find", response_model=None)
def find(request: Request, query: str = Form(""), csrf: str = Form("")) -> Response:
    def page(session: Session, notice: str | None, error: GridpayError | None) -> HTMLResponse:
        assert error is not None
        return _refused(request, session, error, "home.j2", found=None, query=query)

    return _posted(
        request,
        csrf,
        lambda built, session: console.find_households(built.store, session.actor, query),
        page,
        then=lambda session, found: _render(request, "home.j2", session, found=found, query=query),
    )


def _household_page(
    request: Request,
    session: Session,
    account_no: str,
    *,
    notice: str | None = None,
    error: GridpayError | None = None,
) -> HTMLResponse:
    built = _built(request)
    try:
        household = console.household(built.store, session.actor, account_no)
    except GridpayError as exc:
        return _refused(request, session, exc, "home.j2", found=None, query="")
    status = _status(error.code, 400) if error is not None else 200
    return _render(
        request,
        "household.j2",
        session,
        status=status,
        h=household,
        notice=notice,
        error=error.message if error is not None else None,
        payment_ref=secrets.token_hex(6).upper(),
    )


@router.post("/console/household", response_model=None)
def household(request: Request, account_no: str = Form(""), csrf: str = Form("")) -> Response:
    return _posted(request, csrf, lambda built, session: None, _on_household(request, account_no))


# --- writes at the counter ---------------------------------------------------------------


@router.post("/console/enrol", response_model=None)
def enrol(request: Request, account_no: str = Form(""), csrf: str = Form("")) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        cmd = Enrol(account_no, office_id=session.member.office_id)
        enrolment.enrol(built.store, built.clock, built.settings, cmd, actor=session.actor)

    return _posted(request, csrf, action, _on_household(request, account_no), "enrolled_ok")


@router.post("/console/pay", response_model=None)
def pay(
    request: Request,
    account_no: str = Form(""),
    amount: str = Form(""),
    ref: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    def action(built: bootstrap.App, session: Session) -> int:
        # The form's reference makes a resubmitted form (a double click, a refresh) the same
        # payment: the office and the clerk keep two clerks' references apart.
        cmd = TakePayment(
            account_no,
            amount_yuan=amount,
            channel=Channel.COUNTER.value,
            ref=f"{session.member.office_id or 0}-{session.member.username}-{ref}",
            office_id=session.member.office_id,
        )
        receipt = payments.take_payment(
            built.store, built.clock, built.settings, cmd, built.credit, actor=session.actor
        )
        return console.payment_entry_id(built.store, receipt.transfer.id)

    return _posted(
        request,
        csrf,
        action,
        _on_household(request, account_no),
        then=lambda session, entry_id: RedirectResponse(
            f"/console/receipts/{entry_id}", status_code=303
        ),
    )


@router.get("/console/receipts/{entry_id}", response_model=None)
def receipt(request: Request, entry_id: int) -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    try:
        printed = console.payment_receipt(_built(request).store, session.actor, entry_id)
    except GridpayError as exc:
        return _refused(request, session, exc, "home.j2", found=None, query="")
    return _render(request, "receipt.j2", session, r=printed)


@router.post("/console/phone", response_model=None)
def change_phone(
    request: Request,
    account_no: str = Form(""),
    phone: str = Form(""),
    reason: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        cmd = ChangePhone(account_no, phone, session.member.username, reason)
        account_changes.request_phone_change(
            built.store, built.clock, built.settings, cmd, actor=session.actor
        )

    return _posted(request, csrf, action, _on_household(request, account_no), "code_sent")


@router.post("/console/phone/confirm", response_model=None)
def confirm_phone(
    request: Request, account_no: str = Form(""), code: str = Form(""), csrf: str = Form("")
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        cmd = ConfirmPhone(account_no, code)
        account_changes.confirm_phone_change(built.store, built.clock, cmd, actor=session.actor)

    return _posted(request, csrf, action, _on_household(request, account_no), "phone_changed")


@router.post("/console/leave", response_model=None)
def leave(
    request: Request, account_no: str = Form(""), note: str = Form(""), csrf: str = Form("")
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        enrolment.leave(
            built.store, built.clock, built.settings, account_no, note or None,
            actor=session.actor,
        )  # fmt: skip

    return _posted(request, csrf, action, _on_household(request, account_no), "left_ok")


@router.post("/console/hold", response_model=None)
def hold(
    request: Request, account_no: str = Form(""), reason: str = Form(""), csrf: str = Form("")
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        staff.hold_cut(built.store, built.clock, account_no, reason, actor=session.actor)

    return _posted(request, csrf, action, _on_household(request, account_no), "held_ok")


# --- the shift ---------------------------------------------------------------------------


def _shift_page(
    request: Request,
    session: Session,
    *,
    notice: str | None = None,
    error: GridpayError | None = None,
) -> HTMLResponse:
    built = _built(request)
    so_far = None
    if session.member.role in (Role.CLERK, Role.SUPERVISOR):
        so_far = staff.shift_so_far(built.store, session.actor)
    closes = staff.shift_closes(built.store, session.actor)
    status = _status(error.code, 400) if error is not None else 200
    return _render(
        request,
        "shift.j2",
        session,
        status=status,
        so_far=so_far,
        closes=closes,
        notice=notice,
        error=error.message if error is not None else None,
    )


@router.get("/console/shift", response_model=None)
def shift(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    return _shift_page(request, session)


@router.post("/console/shift/close", response_model=None)
def close_shift(
    request: Request, counted: str = Form(""), note: str = Form(""), csrf: str = Form("")
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        staff.close_shift(built.store, built.clock, counted, note or None, actor=session.actor)

    return _posted(request, csrf, action, _on_shift(request), "closed_ok")


@router.post("/console/shift/explain", response_model=None)
def explain_shift(
    request: Request, close_id: int = Form(0), explanation: str = Form(""), csrf: str = Form("")
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        staff.explain_shift(built.store, built.clock, close_id, explanation, actor=session.actor)

    return _posted(request, csrf, action, _on_shift(request), "explained_ok")


# --- queues and reports ------------------------------------------------------------------


@router.get("/console/queues", response_model=None)
def queues(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    store = _built(request).store
    return _render(
        request,
        "queues.j2",
        session,
        arrears=console.arrears_queue(store, session.actor),
        tasks=console.open_tasks(store, session.actor),
    )


@router.get("/console/reports", response_model=None)
def reports(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    built = _built(request)
    today = built.clock.today()
    progress = enrolment.enrolment_report(built.store, built.clock, today, today)
    return _render(
        request,
        "reports.j2",
        session,
        progress=list(progress.rows.iter_rows(named=True)),
        day=today,
        commands=console.command_status(built.store),
    )
