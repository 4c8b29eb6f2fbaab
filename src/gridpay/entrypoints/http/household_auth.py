"""Households sign in with their account number and a code sent by SMS; sign out; choose a
language and a type size (remembered in cookies, signed in or not).

The account number travels only in a form's body, never in an address; while the code is typed
the browser holds a random challenge (a cookie) naming it. Every form is checked for its
anti-forgery token before anything else (``household_web.check_csrf``).
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridpay import limits
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.entrypoints.http.household_text import LANGUAGES
from gridpay.entrypoints.http.household_web import (
    CHALLENGE_COOKIE,
    LANG_COOKIE,
    LARGE_COOKIE,
    PREFERENCE_MAX_AGE_S,
    RETURN_PATHS,
    SESSION_COOKIE,
    check_csrf,
    clear_cookie,
    error_page,
    render,
    set_cookie,
    signed_in,
)
from gridpay.errors import GridpayError, NotSignedIn
from gridpay.services.household_access import challenge_of, request_code, sign_in, sign_out

router = APIRouter(tags=["households"])

CsrfField = Annotated[str | None, Form(max_length=128)]


@router.get("/signin", response_class=HTMLResponse, summary="The sign-in page")
def signin_page(request: Request) -> Response:
    if signed_in(request) is not None:
        return RedirectResponse("/home", status_code=303)
    return render(request, "signin.html.j2", error=None)


@router.post("/signin", response_class=HTMLResponse, summary="Send a sign-in code by SMS")
def signin_send_code(
    request: Request,
    account_no: Annotated[str, Form(max_length=32)],
    csrf: CsrfField = None,
    contact_phone: Annotated[str | None, Form(max_length=32)] = None,
) -> Response:
    g = gridpay_of(request)
    try:
        check_csrf(request, csrf, None)
        sent = request_code(
            g.store,
            g.clock,
            g.settings,
            account_no,
            contact_phone=(contact_phone or "").strip() or None,
            client_address=request.client.host if request.client else "unknown",
        )
    except GridpayError as exc:
        return error_page(request, "signin.html.j2", exc)
    response = RedirectResponse("/signin/code", status_code=303)
    set_cookie(
        response,
        g,
        CHALLENGE_COOKIE,
        sent.challenge,
        max_age_s=limits.sign_in_code_valid_s,
        path="/signin",
    )
    return response


@router.get("/signin/code", response_class=HTMLResponse, summary="The page to type the code")
def signin_code_page(request: Request) -> Response:
    g = gridpay_of(request)
    challenge = request.cookies.get(CHALLENGE_COOKIE)
    if not challenge:
        return RedirectResponse("/signin", status_code=303)
    try:
        pending = challenge_of(g.store, g.clock, challenge)
    except NotSignedIn:
        return RedirectResponse("/signin", status_code=303)
    return render(request, "code.html.j2", pending=pending, error=None, minutes=_minutes())


@router.post("/signin/code", response_class=HTMLResponse, summary="Sign in with the code")
def signin_with_code(
    request: Request,
    code: Annotated[str, Form(max_length=16)],
    csrf: CsrfField = None,
) -> Response:
    g = gridpay_of(request)
    challenge = request.cookies.get(CHALLENGE_COOKIE) or ""
    try:
        check_csrf(request, csrf, None)
        if not challenge:
            raise NotSignedIn("no code is waiting: ask for a new one")
        done = sign_in(g.store, g.clock, g.settings, challenge, code)
    except GridpayError as exc:
        pending = None
        with contextlib.suppress(NotSignedIn):
            pending = challenge_of(g.store, g.clock, challenge) if challenge else None
        return error_page(request, "code.html.j2", exc, pending=pending, minutes=_minutes())
    response = RedirectResponse("/home", status_code=303)
    set_cookie(
        response,
        g,
        SESSION_COOKIE,
        done.token,
        max_age_s=g.settings.household_session_days * 24 * 3600,
    )
    clear_cookie(response, g, CHALLENGE_COOKIE, path="/signin")
    return response


@router.post("/signout", summary="Sign out of this browser")
def signout(request: Request, csrf: CsrfField = None) -> Response:
    return _sign_out(request, csrf, everywhere=False)


@router.post("/signout/everywhere", summary="Sign out of every browser")
def signout_everywhere(request: Request, csrf: CsrfField = None) -> Response:
    return _sign_out(request, csrf, everywhere=True)


@router.post("/prefs", summary="Choose the language and the type size (remembered)")
def preferences(
    request: Request,
    csrf: CsrfField = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
    large: Annotated[str | None, Form(max_length=8)] = None,
    back: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    g = gridpay_of(request)
    signed = signed_in(request)
    try:
        check_csrf(request, csrf, signed[1] if signed else None)
    except GridpayError as exc:
        return error_page(request, "error.html.j2", exc, signed=signed)
    response = RedirectResponse(back if back in RETURN_PATHS else "/home", status_code=303)
    if lang in LANGUAGES:
        set_cookie(response, g, LANG_COOKIE, lang, max_age_s=PREFERENCE_MAX_AGE_S, http_only=False)
    if large in ("0", "1"):
        set_cookie(
            response, g, LARGE_COOKIE, large, max_age_s=PREFERENCE_MAX_AGE_S, http_only=False
        )
    return response


def _sign_out(request: Request, csrf: str | None, *, everywhere: bool) -> Response:
    g = gridpay_of(request)
    signed = signed_in(request)
    if signed is None:
        return RedirectResponse("/signin", status_code=303)
    try:
        check_csrf(request, csrf, signed[1])
    except GridpayError as exc:
        return error_page(request, "error.html.j2", exc, signed=signed)
    sign_out(g.store, g.clock, signed[0], everywhere=everywhere)
    response = RedirectResponse("/signin", status_code=303)
    clear_cookie(response, g, SESSION_COOKIE)
    return response


def _minutes() -> int:
    return limits.sign_in_code_valid_s // 60
