"""Partners (banks, collection agents, wallets): who they are, how their requests are signed.

A partner signs every request with HMAC-SHA256 under its own secret. The signed text (the
*canonical string*) is five lines joined by ``\\n``, with no trailing newline::

    METHOD            upper case: POST
    PATH              the request path as sent, without the query: /partner/v1/payments
    TIMESTAMP         whole Unix seconds, as in X-Timestamp: 1796263200
    NONCE             as in X-Nonce: 16 to 64 of [A-Za-z0-9_-]
    BODY_SHA256       lower-case hex SHA-256 of the raw body bytes (of b"" when there is none)

and X-Signature is the lower-case hex HMAC-SHA256 of that text (UTF-8) keyed by the secret's
UTF-8 bytes. docs/partner-api.md has a worked example; ``tests/unit/test_partner_signing.py``
checks the example byte for byte, so the document and the code cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from gridpay import limits
from gridpay.domain.ledger import Channel
from gridpay.domain.money import format_fen
from gridpay.domain.payments import format_account_no, parse_account_no, parse_amount_fen
from gridpay.errors import InvalidInput, NotSignedIn

_CODE = re.compile(r"[A-Z][A-Z0-9]{1,15}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class PartnerKind(StrEnum):
    BANK = "bank"
    AGENT = "agent"
    WALLET = "wallet"


# The ledger channel each kind of partner pays through (its clearing account). A wallet is an
# online payment: it clears through the app channel, as the households' own online payments do.
CHANNEL_OF_KIND = {
    PartnerKind.BANK: Channel.BANK,
    PartnerKind.AGENT: Channel.AGENT,
    PartnerKind.WALLET: Channel.APP,
}


@dataclass(frozen=True)
class Partner:
    code: str  # upper-case letters and digits, e.g. ICBC: the X-Partner header
    name: str
    kind: PartnerKind
    secret: str  # the HMAC key; shown once at creation and at each rotation
    suspended: bool
    payment_amount_fen_max: int  # the largest single payment
    day_amount_fen_max: int  # the most paid in by this partner in one business day
    created_at: dt.datetime

    @property
    def channel(self) -> Channel:
        return CHANNEL_OF_KIND[self.kind]


@dataclass(frozen=True)
class SignedHeaders:
    """The four signature headers as received (None when absent)."""

    partner: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None


@dataclass(frozen=True)
class Signature:
    """Well-formed signature headers, not yet verified."""

    partner_code: str
    timestamp_s: int
    nonce: str
    signature: str


@dataclass(frozen=True)
class PartnerPayment:
    """A partner's payment as recorded on our side: the first answer, kept for its retries."""

    partner_code: str
    reference: str
    account_no: str
    amount_fen: int
    day: dt.date
    status: str  # pending | posted | reversed
    transfer_id: str
    balance_fen: int | None  # the balance the first answer showed (None while pending)
    reversal_id: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class PayOrder:
    """A partner's payment request, checked: what to pay into which account."""

    reference: str
    account_no: str
    amount_fen: int


def parse_pay_order(body: bytes, amount_fen_max: int) -> PayOrder:
    """The JSON body of POST /partner/v1/payments, checked (``InvalidInput`` naming the field)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    fields = ("reference", "account_no", "amount_yuan")
    for name in fields:
        if not isinstance(data.get(name), str):
            raise InvalidInput(f"{name}: a string is required")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(unknown)}")
    return PayOrder(
        reference=parse_reference(data["reference"]),
        account_no=format_account_no(parse_account_no(data["account_no"])),
        amount_fen=parse_amount_fen(data["amount_yuan"], amount_fen_max),
    )


# --- names and values ---------------------------------------------------------------------


def parse_code(text: str) -> str:
    code = text.strip().upper()
    if not _CODE.fullmatch(code):
        raise InvalidInput(
            f"partner code {text!r} is not valid: 2 to 16 letters and digits, starting with a "
            f"letter (e.g. ICBC)"
        )
    return code


def parse_kind(text: str) -> PartnerKind:
    try:
        return PartnerKind(text.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in PartnerKind)
        raise InvalidInput(f"unknown partner kind {text!r}: use one of {known}") from None


def parse_name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > limits.partner_name_chars_max or not name.isprintable():
        raise InvalidInput(
            f"partner name must be 1 to {limits.partner_name_chars_max} printable characters"
        )
    return name


def check_limits(payment_amount_fen_max: int, day_amount_fen_max: int) -> None:
    if payment_amount_fen_max <= 0 or day_amount_fen_max <= 0:
        raise InvalidInput("a partner's limits must be above zero")
    if payment_amount_fen_max > day_amount_fen_max:
        raise InvalidInput(
            f"the per-payment limit ({format_fen(payment_amount_fen_max)} yuan) is above the "
            f"per-day limit ({format_fen(day_amount_fen_max)} yuan)"
        )


def new_secret() -> str:
    """A fresh HMAC key: 256 random bits, URL-safe text (easy to paste into a config)."""
    return secrets.token_urlsafe(32)


def ledger_ref(partner_code: str, reference: str) -> str:
    """The payment's reference in the ledger: the partner's code, a dash, its own reference.

    Codes hold no dash, so two partners' references can never make the same ledger ref."""
    return f"{partner_code}-{reference}"


def parse_reference(text: str) -> str:
    """A partner's own transaction reference: 1..N of [A-Za-z0-9_.:-] (it goes in a URL path)."""
    ref = text.strip()
    allowed = limits.partner_reference_chars_max
    if not re.fullmatch(rf"[A-Za-z0-9_.:-]{{1,{allowed}}}", ref):
        raise InvalidInput(
            f"reference {text[:80]!r} is not valid: 1 to {allowed} of letters, digits and _ . : -"
        )
    return ref


def mask_name(name: str) -> str:
    """The name shown to a partner before paying: its first character and two stars (张**).

    Always two stars, whatever the length, so the mask does not tell the name's length."""
    stripped = name.strip()
    return f"{stripped[:1]}**" if stripped else "**"


# --- signing ------------------------------------------------------------------------------


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_string(method: str, path: str, timestamp_s: int, nonce: str, body: bytes) -> str:
    return "\n".join([method.upper(), path, str(timestamp_s), nonce, body_sha256(body)])


def sign(secret: str, method: str, path: str, timestamp_s: int, nonce: str, body: bytes) -> str:
    text = canonical_string(method, path, timestamp_s, nonce, body)
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def parse_signature(headers: SignedHeaders) -> Signature:
    """The headers checked for shape only (NotSignedIn naming what is missing or malformed)."""
    missing = [
        name
        for name, value in (
            ("X-Partner", headers.partner),
            ("X-Timestamp", headers.timestamp),
            ("X-Nonce", headers.nonce),
            ("X-Signature", headers.signature),
        )
        if not value
    ]
    if missing:
        raise NotSignedIn(f"unsigned request: missing {', '.join(missing)}")
    assert headers.partner and headers.timestamp and headers.nonce and headers.signature
    if not _CODE.fullmatch(headers.partner):
        raise NotSignedIn("X-Partner is not a partner code")
    if not _TIMESTAMP.fullmatch(headers.timestamp):
        raise NotSignedIn("X-Timestamp must be whole Unix seconds")
    if not _NONCE.fullmatch(headers.nonce):
        raise NotSignedIn("X-Nonce must be 16 to 64 of letters, digits, _ and -")
    if not _SIGNATURE.fullmatch(headers.signature):
        raise NotSignedIn("X-Signature must be 64 lower-case hex digits")
    return Signature(
        partner_code=headers.partner,
        timestamp_s=int(headers.timestamp),
        nonce=headers.nonce,
        signature=headers.signature,
    )


def check_fresh(signature: Signature, now: dt.datetime, window_s: int) -> None:
    """Refuse a timestamp more than ``window_s`` from now (either way: clocks drift)."""
    skew_s = abs(int(now.timestamp()) - signature.timestamp_s)
    if skew_s > window_s:
        raise NotSignedIn(
            f"stale request: X-Timestamp is {skew_s} s from the server's time; at most "
            f"{window_s} s is accepted (check the client's clock)"
        )


def check_signed(signature: Signature, secret: str, method: str, path: str, body: bytes) -> None:
    wanted = sign(secret, method, path, signature.timestamp_s, signature.nonce, body)
    if not hmac.compare_digest(wanted, signature.signature):
        raise NotSignedIn("wrong signature: see docs/partner-api.md for the canonical string")
