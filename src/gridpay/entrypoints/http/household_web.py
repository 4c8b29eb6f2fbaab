"""What every household page shares: templates, cookies, the anti-forgery token, errors.

Cookies (all ``SameSite=Lax``, ``HttpOnly`` but the display preferences, ``Secure`` when a TLS
proxy fronts the app):

- ``gp_session``: the session's random token (the database keeps its hash);
- ``gp_pre``: a random value before signing in, which the sign-in forms' token is bound to;
- ``gp_challenge``: while a code is typed, the random challenge naming it (never the account);
- ``gp_lang`` (zh | en) and ``gp_large`` (1): the household's display choices, remembered.

Every form carries ``csrf``, an HMAC of the session's token (or of ``gp_pre``): another site can
post a form but cannot know the value, so its post is refused before anything is read.
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridpay import bootstrap
from gridpay.domain.household import Session, csrf_matches, csrf_token
from gridpay.entrypoints.http.app import HTTP_STATUS
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.entrypoints.http.household_text import Words
from gridpay.errors import Forbidden, GridpayError, NotSignedIn
from gridpay.services.household_access import current_session

SESSION_COOKIE = "gp_session"
PRE_COOKIE = "gp_pre"
CHALLENGE_COOKIE = "gp_challenge"
LANG_COOKIE = "gp_lang"
LARGE_COOKIE = "gp_large"
PREFERENCE_MAX_AGE_S = 365 * 24 * 3600
# Where a display-preference form may send the browser back to (never an address from outside).
RETURN_PATHS = ("/signin", "/signin/code", "/home", "/activity", "/statements", "/settings")

_LOCALISED_ERRORS = frozenset(
    f"err_{code}"
    for code in (
        "invalid_input", "not_found", "not_signed_in", "forbidden", "rate_limited", "refused",
        "conflict",
    )
)  # fmt: skip

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(files("gridpay") / "data" / "templates" / "household")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def words_of(request: Request) -> Words:
    return Words(request.cookies.get(LANG_COOKIE, "zh"))


def signed_in(request: Request) -> tuple[Session, str] | None:
    """The valid session of this browser and its token, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    g = gridpay_of(request)
    try:
        return current_session(g.store, g.clock, g.settings, token), token or ""
    except NotSignedIn:
        return None


def to_sign_in() -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def check_csrf(request: Request, given: str | None, session_token: str | None) -> None:
    """Refuse (403, before anything is read or written) a form without the right token."""
    source = session_token or request.cookies.get(PRE_COOKIE)
    if not given or not source or not csrf_matches(source, given):
        raise Forbidden("the form has expired or did not come from this site: reload the page")


def render(
    request: Request,
    template: str,
    *,
    signed: tuple[Session, str] | None = None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page in the household's language, its forms carrying the anti-forgery token."""
    g = gridpay_of(request)
    words = words_of(request)
    new_pre = None
    if signed is not None:
        source = signed[1]
    else:
        source = request.cookies.get(PRE_COOKIE) or ""
        if not source:
            source = new_pre = secrets.token_urlsafe(32)
    html = _templates.get_template(template).render(
        t=words,
        lang=words.language,
        large=request.cookies.get(LARGE_COOKIE) == "1",
        csrf=csrf_token(source),
        session=signed[0] if signed else None,
        company=g.settings.company_name_zh if words.language == "zh" else g.settings.company_name,
        here=request.url.path,
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"
    if new_pre is not None:
        set_cookie(response, g, PRE_COOKIE, new_pre, max_age_s=None)
    return response


def error_page(
    request: Request,
    template: str,
    exc: GridpayError,
    *,
    signed: tuple[Session, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """The form again with what went wrong, and the error's status (``app.HTTP_STATUS``)."""
    words = words_of(request)
    key = f"err_{exc.code}"
    message = words(key) if key in _LOCALISED_ERRORS else words("error")
    if words.language == "en":
        message = exc.message  # the services' own words are English
    status = HTTP_STATUS.get(exc.code, 400)
    return render(request, template, signed=signed, status=status, error=message, **values)


def set_cookie(
    response: Response,
    g: bootstrap.App,
    name: str,
    value: str,
    *,
    max_age_s: int | None,
    http_only: bool = True,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        path=path,
        httponly=http_only,
        samesite="lax",
        secure=g.settings.http_behind_tls,
    )


def clear_cookie(response: Response, g: bootstrap.App, name: str, path: str = "/") -> None:
    response.delete_cookie(
        name, path=path, httponly=True, samesite="lax", secure=g.settings.http_behind_tls
    )
