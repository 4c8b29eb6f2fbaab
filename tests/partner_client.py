"""A partner's client for tests and benches: signs requests as docs/partner-api.md says."""

from __future__ import annotations

import json
import secrets
from typing import Any

from gridpay.domain.partners import sign


def signed_headers(
    code: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    timestamp_s: int,
    nonce: str | None = None,
) -> dict[str, str]:
    nonce = nonce or secrets.token_hex(16)
    return {
        "X-Partner": code,
        "X-Timestamp": str(timestamp_s),
        "X-Nonce": nonce,
        "X-Signature": sign(secret, method, path, timestamp_s, nonce, body),
        "Content-Type": "application/json",
    }


def payment_body(reference: str, account_no: str, amount_yuan: str) -> bytes:
    data: dict[str, Any] = {
        "reference": reference,
        "account_no": account_no,
        "amount_yuan": amount_yuan,
    }
    return json.dumps(data).encode()
