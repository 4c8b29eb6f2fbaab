"""Paying online: the household's pay form and order page, and the wallet's callback.

Household routes take the signed-in account from ``signed_in_account`` (the households'
session cookie) and check forms with ``check_csrf`` (the pay form's own double-submit token).
The callback ``POST /wallet/notify`` is the wallet's: form-encoded, RSA2-signed, answered with
the plain text ``success`` (the wallet stops resending) or ``failure``.
"""

from __future__ import annotations

import hmac
import secrets
from functools import partial
from importlib import resources
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from prometheus_client import Counter

from gridpay import bootstrap, limits
from gridpay.domain.enrolment import format_account_no
from gridpay.domain.money import format_fen
from gridpay.domain.wallet import OrderState, Refusal
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.errors import Forbidden, InvalidInput, NotFound, NotSignedIn, Refused
from gridpay.ports.payments_online import PaymentProvider
from gridpay.services.group_commit import GroupCommit
from gridpay.services.wallet import CallbackOutcome, OrderView, accept_many, make_order, order_view

router = APIRouter(tags=["paying online"])

CSRF_COOKIE = "gp_pay_csrf"
CSRF_FIELD = "csrf_token"
STATIC_PATH = "/static/pay/pay.css"
# What a refused callback is answered with: the status says why, the body what wallets read.
REFUSAL_STATUS = {
    Refusal.UNSIGNED: 401,
    Refusal.BAD_SIGNATURE: 401,
    Refusal.MALFORMED: 422,
    Refusal.WRONG_APP_ID: 403,
    Refusal.WRONG_ACCOUNT: 403,
    Refusal.UNKNOWN_ORDER: 404,
    Refusal.WRONG_AMOUNT: 409,
    Refusal.NOT_PAID: 409,
}
_STATE_TEXT = {
    OrderState.CREATED: "等待支付 · Waiting for payment",
    OrderState.PAID: "已支付，正在入账 · Paid, being credited",
    OrderState.CREDITED: "已到账 · Credited",
    OrderState.CLOSED: "已关闭 · Closed (not paid)",
    OrderState.FAILED: "支付未能入账，请联系 95598 · Not credited: call the hotline",
}


# --- the seams filled at merge ------------------------------------------------------------


def signed_in_account(request: Request) -> str:
    """The signed-in household's account number (its session cookie); a trusted contact's
    read-only session cannot pay."""
    from gridpay.entrypoints.http.household_web import signed_in  # it imports app.py, as we do

    found = signed_in(request)
    if found is None:
        raise NotSignedIn("sign in to pay")
    session, _ = found
    if session.read_only:
        raise Forbidden("read-only access: only the account's owner can pay from these pages")
    return format_account_no(session.account_id)


async def check_csrf(request: Request) -> None:
    """A form's token must equal the one its page set in a cookie (double submit)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    kept = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not kept or not hmac.compare_digest(sent, kept):
        raise Forbidden("the form's security token is missing or stale: reload the page")


def csrf_token_for(request: Request) -> str:
    """The page's CSRF token: the cookie's, or a new one (set by ``_with_csrf_cookie``)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


async def built_of(request: Request) -> bootstrap.App:
    """``gridpay_of`` on the event loop: a plain ``def`` dependency would be run on the thread
    pool, one hand-over between threads per request for reading an attribute."""
    return gridpay_of(request)


async def wallet_of(request: Request) -> PaymentProvider:
    """The configured wallet, built once per app (tests put theirs in ``app.state.wallet``).

    On the event loop, so the callbacks that arrive together at start-up find the one wallet
    the first of them built (on the thread pool each would build its own, all at once)."""
    wallet: PaymentProvider | None = getattr(request.app.state, "wallet", None)
    if wallet is None:
        wallet = bootstrap.payment_provider(gridpay_of(request).settings)
        if wallet is None:
            # An optional feature left off is not a server fault: as if the page did not exist.
            raise NotFound("paying online is not offered here (no wallet configured)")
        request.app.state.wallet = wallet
    return wallet


Account = Annotated[str, Depends(signed_in_account)]
Built = Annotated[bootstrap.App, Depends(built_of)]
Wallet = Annotated[PaymentProvider, Depends(wallet_of)]


# --- the household's pages ----------------------------------------------------------------


@router.get("/pay", response_class=HTMLResponse)
def pay_form(request: Request, account_no: Account) -> Response:
    """The pay form: an amount, then the wallet's page."""
    token = csrf_token_for(request)
    html = _render("pay_form.html.j2", account_no=account_no, csrf_token=token, amount_yuan="")
    return _with_csrf_cookie(HTMLResponse(html), request, token)


@router.post(
    "/pay",
    status_code=303,
    response_class=RedirectResponse,
    dependencies=[Depends(check_csrf)],
    responses={303: {"description": "To the hand-off page that opens the wallet's page"}},
)
def pay(
    account_no: Account,
    built: Built,
    wallet: Wallet,
    amount_yuan: Annotated[str, Form(max_length=16)],
    # Checked by ``check_csrf``; declared here so the spec (and schemathesis) knows the field.
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Make an order for the amount and send the browser on to the wallet to confirm it.

    Through a hand-off page of ours: the CSP's ``form-action 'self'`` forbids a form's
    redirect chain to leave the site, and a page's refresh (or a tap on its link) may."""
    made = make_order(built.store, built.clock, built.settings, wallet, account_no, amount_yuan)
    return RedirectResponse(f"/pay/orders/{made.order_id}/wallet", status_code=303)


@router.get("/pay/orders/{order_id}/wallet", response_class=HTMLResponse)
def to_wallet(order_id: str, account_no: Account, built: Built) -> str:
    """The hand-off to the wallet's page for an order still waiting for payment."""
    view = _view(built, order_id, account_no)
    if view.order.state is not OrderState.CREATED or not view.order.pay_url:
        raise Refused(f"order {view.order.order_id} is not waiting for payment")
    return _render(
        "pay_handoff.html.j2",
        pay_url=view.order.pay_url,
        amount_yuan=format_fen(view.order.amount_fen),
    )


@router.get("/pay/orders/{order_id}", response_class=HTMLResponse)
def order_page(order_id: str, account_no: Account, built: Built) -> str:
    """The order's state and, once credited, the balance and "supply being restored"."""
    view = _view(built, order_id, account_no)
    return _render(
        "pay_order.html.j2",
        order_id=view.order.order_id,
        amount_yuan=format_fen(view.order.amount_fen),
        state=view.order.state.value,
        state_text=_STATE_TEXT[view.order.state],
        balance_yuan=format_fen(view.balance_fen),
        restoring=view.restoring,
        supply_on=view.supply_on,
        pay_url=view.order.pay_url,
    )


@router.get(STATIC_PATH, include_in_schema=False)
def pay_css() -> Response:
    css = resources.files("gridpay").joinpath("data", "static", "pay", "pay.css").read_text()
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})


# --- the wallet's callback ----------------------------------------------------------------


@router.post(
    "/wallet/notify",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "success: credited, or credited before (a resent notification)"},
        **{s: {"description": "failure: refused, nothing credited"} for s in (401, 403, 404, 409)},
    },
)
async def wallet_notify(request: Request, built: Built, wallet: Wallet) -> PlainTextResponse:
    """The wallet's asynchronous payment notification (form-encoded, RSA2-signed)."""
    form = await request.form(
        max_fields=limits.wallet_callback_fields_max, max_files=0, max_part_size=4096
    )
    params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    # Joined with the callbacks that arrive meanwhile into one transaction, off the event loop.
    outcome = await _callbacks_of(request, built, wallet).submit(params)
    if outcome.accepted:
        return PlainTextResponse("success")
    assert outcome.refusal is not None
    refused_counter(request).labels(reason=outcome.refusal.value).inc()
    return PlainTextResponse(
        "failure",
        status_code=REFUSAL_STATUS[outcome.refusal],
        headers={"x-gridpay-refusal": outcome.refusal.value},
    )


def _callbacks_of(
    request: Request, built: bootstrap.App, wallet: PaymentProvider
) -> GroupCommit[dict[str, str], CallbackOutcome]:
    """The app's group commit of wallet callbacks (one writer per process), made at first use."""
    group: GroupCommit[dict[str, str], CallbackOutcome] | None = getattr(
        request.app.state, "wallet_callbacks", None
    )
    if group is None:
        run = partial(accept_many, built.store, built.clock, built.settings, wallet, built.credit)
        group = GroupCommit(run, limits.wallet_batch_callbacks_max)
        request.app.state.wallet_callbacks = group
    return group


def refused_counter(request: Request) -> Counter:
    """``gridpay_wallet_callbacks_refused_total{reason}`` on the app's own metrics registry
    (served at /metrics), made with the app's first refusal. Refusals are rows in
    ``wallet_callbacks`` too: the counter is for alerting (a burst of bad signatures), the rows
    are for looking (``gridpay wallet callbacks --refused``)."""
    counter: Counter | None = getattr(request.app.state, "wallet_refused", None)
    if counter is None:
        counter = Counter(
            "gridpay_wallet_callbacks_refused",
            "Wallet callbacks refused (nothing credited), by reason",
            ["reason"],
            registry=request.app.state.metrics.registry,
        )
        request.app.state.wallet_refused = counter
    return counter


# --- helpers ------------------------------------------------------------------------------

_templates = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: (
            resources.files("gridpay").joinpath("data", "templates", name).read_text("utf-8")
        )
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _view(built: bootstrap.App, order_id: str, account_no: str) -> OrderView:
    if len(order_id) > 64:
        raise InvalidInput("order id is too long")
    return order_view(built.store, order_id, account_no)


def _render(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(**context)


def _with_csrf_cookie(response: Response, request: Request, token: str) -> Response:
    if request.cookies.get(CSRF_COOKIE) != token:
        settings = gridpay_of(request).settings
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=settings.http_behind_tls,
            path="/",
        )
    return response
