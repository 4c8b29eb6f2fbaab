"""The office console's finance pages: a partner's statement uploaded and reconciled, a line
missing on our side confirmed and posted, the day's report downloaded.

The matching is ``services.reconciliation``'s, the CLI's own; the role rule (finance or admin)
is checked there too, a page only hides the link. The upload is multipart with the session's
CSRF token, refused unread when over ``limits.console_statement_bytes_max``. No customer data
in a URL: a day is addressed by the partner's code and the date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gridpay import bootstrap, limits
from gridpay.adapters.statement_files import parse_statement, report_csv
from gridpay.entrypoints.http.console import (
    Page,
    Session,
    _built,
    _posted,
    _refused,
    _render,
    _session,
    _status,
    _to_sign_in,
)
from gridpay.errors import GridpayError, InvalidInput
from gridpay.services import partners, reconciliation

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class DayView:
    """A partner's day as reconciled last: counts by outcome and the mismatched lines."""

    code: str
    day: dt.date
    counts: dict[str, int]
    mismatches: list[dict[str, Any]]  # RECONCILIATION_SCHEMA rows, at most console_rows_max
    mismatches_more: int  # mismatched lines not listed (the report has them all)


def _day(built: bootstrap.App, text: str) -> dt.date:
    if not text.strip():
        return reconciliation.default_day(built.clock)
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"the statement's day {text!r} is not a date (YYYY-MM-DD)") from None


def _day_view(built: bootstrap.App, session: Session, code: str, day: dt.date) -> DayView:
    lines = reconciliation.day_lines(built.store, code, day, actor=session.actor)
    mismatched = lines.filter(pl.col("outcome") != "matched")
    shown = mismatched.head(limits.console_rows_max)
    return DayView(
        code=code.strip().upper(),
        day=day,
        counts=reconciliation.counts_of(lines),
        mismatches=list(shown.iter_rows(named=True)),
        mismatches_more=mismatched.height - shown.height,
    )


def _statements_page(
    request: Request,
    session: Session,
    code: str,
    day_text: str,
    *,
    notice: str | None = None,
    error: GridpayError | None = None,
    status: int | None = None,
) -> HTMLResponse:
    """The upload form, and the chosen partner's day as reconciled last (if any)."""
    built = _built(request)
    try:
        reconciliation.check_may_reconcile(session.actor)
    except GridpayError as exc:
        return _refused(request, session, exc, "home.j2", found=None, query="")
    view = None
    day = reconciliation.default_day(built.clock)
    try:
        day = _day(built, day_text)
        if code:
            view = _day_view(built, session, code, day)
    except GridpayError as exc:
        error = error or exc
    if status is None:
        status = _status(error.code, 400) if error is not None else 200
    return _render(
        request,
        "statements.j2",
        session,
        status=status,
        partners=partners.list_partners(built.store),
        code=code.strip().upper(),
        day=day,
        view=view,
        outcomes=reconciliation.OUTCOMES,
        notice=notice,
        error=error.message if error is not None else None,
        upload_mb=limits.console_statement_bytes_max // 2**20,
    )


def _on_statements(request: Request, code: str, day_text: str) -> Page:
    return lambda session, notice, error: _statements_page(
        request, session, code, day_text, notice=notice, error=error
    )


@router.get("/console/statements", response_model=None)
def statements(request: Request, partner: str = "", day: str = "") -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    return _statements_page(request, session, partner, day)


@router.post("/console/statements/upload", response_model=None)
async def upload_statement(request: Request) -> Response:
    """A statement uploaded (multipart): refused unread when over the size limit or of unknown
    size; the form is parsed here and the work done in a worker thread (it reads the database)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > limits.console_statement_bytes_max:
        return await run_in_threadpool(_too_large, request)
    form = await request.form(max_files=1, max_fields=limits.console_form_fields_max)
    code, day_text, csrf = (str(form.get(k) or "") for k in ("partner", "day", "csrf"))
    upload = form.get("statement")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    await form.close()

    def action(built: bootstrap.App, session: Session) -> None:
        reconciliation.check_may_reconcile(session.actor)  # before the file is even read
        if not data:
            raise InvalidInput("choose the statement file (CSV) to upload")
        day = _day(built, day_text)
        raw = parse_statement(data, "the uploaded statement")
        reconciliation.reconcile_statement(
            built.store, built.clock, code, raw, day, actor=session.actor
        )

    page = _on_statements(request, code, day_text)
    return await run_in_threadpool(_posted, request, csrf, action, page, "reconciled_ok")


def _too_large(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    too_large = InvalidInput(
        f"the file is over {limits.console_statement_bytes_max // 2**20} MB (or its size was "
        f"not sent): import a larger statement with `gridpay reconcile PARTNER FILE`"
    )
    return _statements_page(request, session, "", "", error=too_large, status=413)


@router.post("/console/statements/confirm", response_model=None)
def confirm_statement_line(
    request: Request,
    partner: str = Form(""),
    day: str = Form(""),
    reference: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    def action(built: bootstrap.App, session: Session) -> None:
        reconciliation.confirm(
            built.store, built.clock, built.settings, built.credit, code=partner,
            reference=reference, day=_day(built, day), actor=session.actor,
        )  # fmt: skip

    return _posted(request, csrf, action, _on_statements(request, partner, day), "confirmed_ok")


@router.get("/console/statements/report", response_model=None)
def statement_report(request: Request, partner: str = "", day: str = "") -> Response:
    session = _session(request)
    if session is None:
        return _to_sign_in()
    built = _built(request)
    try:
        on = _day(built, day)
        lines = reconciliation.day_lines(built.store, partner, on, actor=session.actor)
    except GridpayError as exc:
        return _statements_page(request, session, partner, day, error=exc)
    name = f"reconciliation-{partner.strip().upper()}-{on.isoformat()}.csv"
    return Response(
        report_csv(lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",  # customer data: never kept by a browser
        },
    )
