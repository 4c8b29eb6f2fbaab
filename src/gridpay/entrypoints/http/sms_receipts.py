"""HTTP: the SMS provider's pushed delivery receipts (Alibaba Cloud SMS ``SmsReport``).

``POST /sms/aliyun/receipts/{token}``: a JSON array of reports, as the provider documents it
(https://help.aliyun.com/document_detail/101867.html, "SmsReport" HTTP batch push). The push
carries no signature and comes from addresses Alibaba does not publish, so the URL is the
credential: its last part is a secret token from configuration (``sms_receipt_push_token``, or
the environment's ``GRIDPAY_SMS_RECEIPT_TOKEN``), compared in constant time; a wrong token, or
none configured, is a plain 404, the same as any unknown URL. Serve it over TLS only.

Answers: 200 ``{"code": 0, "msg": "接收成功"}`` when every report is recorded or ignored as
unknown (the provider then stops); 400 for a body that is not a report array (pushing it again
would not help); a database outage is a 503 from the app's error handler, and the provider
pushes again after 1, 5 and 10 minutes.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gridpay import bootstrap, limits
from gridpay.adapters.sms_aliyun import pushed_receipts
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.errors import InvalidInput
from gridpay.services.sms_receipts import record_pushed_receipts

TOKEN_ENV = "GRIDPAY_SMS_RECEIPT_TOKEN"
TOKEN_CHARS_MIN = 32

router = APIRouter(tags=["sms"])
Built = Annotated[bootstrap.App, Depends(gridpay_of)]


def _token(built: bootstrap.App) -> str | None:
    token = os.environ.get(TOKEN_ENV) or built.settings.sms_receipt_push_token
    return token if token and len(token) >= TOKEN_CHARS_MIN else None


@router.post(
    "/sms/aliyun/receipts/{token}",
    include_in_schema=False,  # a provider's endpoint, not part of gridpay's API
    responses={400: {"description": "not an SmsReport array"}, 404: {"description": "no"}},
)
async def aliyun_receipts(token: str, request: Request, built: Built) -> JSONResponse:
    """Record the pushed receipts as polled ones are recorded."""
    expected = _token(built)
    if expected is None or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=404)
    body = await request.body()
    if len(body) > limits.sms_receipt_push_bytes_max:
        raise HTTPException(status_code=413)
    try:
        receipts = pushed_receipts(json.loads(body))
    except (ValueError, InvalidInput) as exc:
        detail = exc.message if isinstance(exc, InvalidInput) else "the body is not JSON"
        return JSONResponse({"code": 1, "msg": detail}, status_code=400)
    report = await run_in_threadpool(record_pushed_receipts, built.store, built.clock, receipts)
    return JSONResponse(
        {"code": 0, "msg": "接收成功", "recorded": report.recorded, "unknown": report.unknown}
    )
