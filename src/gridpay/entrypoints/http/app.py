"""The FastAPI application: errors as JSON with stable codes, health, metrics, access log, headers.

Every response carries the same security headers (a Content-Security-Policy without inline script,
no framing, no sniffing; HSTS when a TLS proxy fronts the app) and every request one access-log
line in JSON with phone numbers masked. The households' pages, the staff console and the partner
API are routers mounted in ``create_app``; they raise gridpay's typed errors and this module turns
them into statuses (one table, beside the CLI's exit codes).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridpay import bootstrap
from gridpay.domain.text import mask_phones
from gridpay.entrypoints.http import console, console_statements, partner, pay, sms_receipts
from gridpay.errors import DatabaseUnreachable, GridpayError

access_log = logging.getLogger("gridpay.http.access")

# One table: error code -> HTTP status (the CLI's exit codes are in entrypoints/cli/_common.py).
HTTP_STATUS = {
    "invalid_input": 422,
    "not_found": 404,
    "conflict": 409,
    "refused": 409,
    "business_date_refused": 409,
    "not_signed_in": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "delivery_failed": 502,
    "meter_frame_error": 502,
    "no_database": 503,
    "database_unreachable": 503,
    "audit_failed": 500,
    "config_error": 500,
}
# Starlette's own refusals (unknown path, wrong method) in the same shape as ours.
_STARLETTE_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON every refusal carries: ``{"error": {"code": ..., "message": ...}}``."""
    return {"error": {"code": code, "message": message}}


def create_app(built: bootstrap.App) -> FastAPI:
    """The application over one built gridpay (settings, store, clock, policy)."""
    app = FastAPI(
        title="gridpay",
        version="0.1.0",
        summary="Smart prepaid electricity: households, counters, partners.",
        # The interactive docs pages load scripts from a CDN, which the CSP (and a closed
        # network) refuse: the spec itself is served, for clients and schemathesis.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.gridpay = built
    metrics = _Metrics()
    app.state.metrics = metrics
    _install_error_handlers(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Alive, and the database answers (503 with the error's code if it does not)."""
        try:
            built.store.ping()
        except Exception as exc:  # any failure to answer is "unhealthy", never a 500 page
            raise DatabaseUnreachable(f"the database did not answer: {type(exc).__name__}") from exc
        return {"status": "ok", "database": "ok"}

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        return _LANDING.format(company=built.settings.company_name_zh)

    app.include_router(console.router)  # the office console (staff)
    app.include_router(console_statements.router)  # the console's finance pages
    from gridpay.entrypoints.http import household, household_auth  # they import this module

    app.include_router(household_auth.router)
    app.include_router(household.router)
    app.include_router(partner.router)
    app.include_router(pay.router)
    app.include_router(sms_receipts.router)  # the SMS provider's pushed delivery receipts
    app.add_middleware(Observed, metrics=metrics, hsts=built.settings.http_behind_tls)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridpayError)
    async def gridpay_error(_: Request, exc: GridpayError) -> JSONResponse:
        status = HTTP_STATUS.get(exc.code, 400)
        return JSONResponse(error_body(exc.code, exc.message), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return JSONResponse(error_body("invalid_input", problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STARLETTE_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )


class _Metrics:
    """Per-app registry: two apps in one process (tests) never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gridpay_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "gridpay_http_request_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Observed:
    """Pure ASGI middleware (no per-request task as BaseHTTPMiddleware would add): security
    headers, a request id, metrics and one JSON access-log line per request."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: _Metrics, hsts: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        status = 500
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.extend(_SECURITY_HEADERS)
                headers.append((b"x-request-id", request_id.encode()))
                if self.hsts and https:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed_s = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route_path, str(status)).inc()
            self.metrics.seconds.labels(route_path).observe(elapsed_s)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                line = {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],  # never the query string: it may hold customer data
                    "route": route_path,
                    "status": status,
                    "ms": round(elapsed_s * 1000, 2),
                    "client": client[0] if client else None,
                }
                access_log.info(mask_phones(json.dumps(line, ensure_ascii=False)))


_LANDING = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridpay</title></head>
<body><h1>{company}</h1><p>先充值，后用电 · Charge first, then use</p></body></html>
"""
