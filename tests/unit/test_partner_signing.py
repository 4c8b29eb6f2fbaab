"""Partner signatures: the documented worked example, and what each header check refuses."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.partners import (
    SignedHeaders,
    canonical_string,
    check_fresh,
    check_signed,
    mask_name,
    parse_pay_order,
    parse_signature,
    sign,
)
from gridpay.errors import InvalidInput, NotSignedIn

DOC = Path(__file__).resolve().parents[2] / "docs" / "partner-api.md"
SECRET = "demo-secret-do-not-use-0123456789abcdef"
BODY = b'{"reference":"T20261128-0001","account_no":"0000000042","amount_yuan":"100.00"}'


def test_the_documented_worked_example_is_what_the_code_computes() -> None:
    doc = DOC.read_text(encoding="utf-8")
    canonical = canonical_string(
        "POST", "/partner/v1/payments", 1796263200, "5f2b9c1e8d7a4b3c", BODY
    )
    signature = sign(SECRET, "POST", "/partner/v1/payments", 1796263200, "5f2b9c1e8d7a4b3c", BODY)
    assert f"```\n{canonical}\n```" in doc
    assert f"X-Signature: {signature}" in doc
    assert BODY.decode() in doc and f"these {len(BODY)} bytes" in doc
    assert re.search(r"X-Timestamp: 1796263200", doc)


def test_the_documented_python_client_signs_as_the_server_checks() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert 'canonical = "\\n".join([method, path, timestamp, nonce, hashlib.sha256(body)' in doc


def _headers(**over: str | None) -> SignedHeaders:
    values: dict[str, str | None] = {
        "partner": "ICBC",
        "timestamp": "1796263200",
        "nonce": "5f2b9c1e8d7a4b3c",
        "signature": sign(
            SECRET, "POST", "/partner/v1/payments", 1796263200, "5f2b9c1e8d7a4b3c", BODY
        ),
    }
    values.update(over)
    return SignedHeaders(**values)


def test_a_good_signature_verifies() -> None:
    signature = parse_signature(_headers())
    check_signed(signature, SECRET, "POST", "/partner/v1/payments", BODY)
    check_fresh(signature, dt.datetime(2026, 12, 3, 2, 5, tzinfo=dt.UTC), 300)


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"partner": None}, "missing X-Partner"),
        ({"signature": ""}, "missing X-Signature"),
        ({"timestamp": "12.5"}, "whole Unix seconds"),
        ({"nonce": "short"}, "X-Nonce"),
        ({"signature": "A" * 64}, "64 lower-case hex"),
        ({"partner": "icbc"}, "partner code"),
    ],
)
def test_malformed_headers_are_unsigned(over: dict[str, str | None], why: str) -> None:
    with pytest.raises(NotSignedIn, match=why):
        parse_signature(_headers(**over))


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/partner/v1/payments", "/partner/v1/payments/X/reverse"]),
    body=st.binary(max_size=64),
    flip=st.integers(min_value=0, max_value=3),
)
def test_any_change_to_a_signed_part_breaks_the_signature(
    method: str, path: str, body: bytes, flip: int
) -> None:
    signature = parse_signature(
        _headers(signature=sign(SECRET, method, path, 1796263200, "5f2b9c1e8d7a4b3c", body))
    )
    check_signed(signature, SECRET, method, path, body)
    changed = [
        (SECRET + "x", method, path, body),
        (SECRET, "PUT", path, body),
        (SECRET, method, path + "/", body),
        (SECRET, method, path, body + b" "),
    ][flip]
    with pytest.raises(NotSignedIn, match="wrong signature"):
        check_signed(signature, *changed)


@pytest.mark.parametrize("skew_s", [-301, 301])
def test_outside_the_window_is_stale(skew_s: int) -> None:
    now = dt.datetime.fromtimestamp(1796263200 + skew_s, dt.UTC)
    with pytest.raises(NotSignedIn, match="stale"):
        check_fresh(parse_signature(_headers()), now, 300)


def test_names_are_masked_to_one_character_and_two_stars() -> None:
    assert mask_name("张三") == "张**"
    assert mask_name("欧阳娜娜") == "欧**"
    assert mask_name(" ") == "**"


def test_pay_order_is_checked_field_by_field() -> None:
    order = parse_pay_order(BODY, 5_000_000)
    assert (order.reference, order.account_no, order.amount_fen) == (
        "T20261128-0001",
        "0000000042",
        10_000,
    )
    for body, why in [
        (b"[]", "JSON object"),
        (b'{"reference": 1}', "reference"),
        (BODY.replace(b"100.00", b"1.001"), "decimals"),
        (BODY.replace(b"0000000042", b"42"), "10 digits"),
        (BODY.replace(b"T20261128-0001", b"has space"), "reference"),
        (BODY[:-1] + b',"extra":"x"}', "unknown fields"),
        (b"\xff", "not JSON"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            parse_pay_order(body, 5_000_000)
