"""RSA2 as the wallets document it, and the checks a verified notification must pass."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay.adapters.wallet_rsa2 import (
    Rsa2Wallet,
    generate_private_key,
    sign,
    signed,
    signed_text,
    verify,
)
from gridpay.domain.wallet import (
    Notification,
    OrderState,
    Refusal,
    WalletOrder,
    amount_text,
    check_notification,
    parse_amount_text,
)

KEY = generate_private_key()
OTHER_KEY = generate_private_key()
T0 = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def test_the_signed_string_is_the_sorted_pairs_without_the_signature_and_empties() -> None:
    params = {
        "b": "2",
        "a": "1",
        "sign": "xx",
        "sign_type": "RSA2",
        "c": "",
        "total_amount": "9.90",
    }
    assert signed_text(params) == b"a=1&b=2&total_amount=9.90"


def test_a_signature_verifies_with_its_public_key_only() -> None:
    params = signed({"out_trade_no": "GW1", "total_amount": "12.30"}, KEY)
    assert params["sign_type"] == "RSA2"
    assert verify(params, KEY.public_key())
    assert not verify(params, OTHER_KEY.public_key())
    assert not verify({**params, "sign": "!!"}, KEY.public_key())
    assert not verify({k: v for k, v in params.items() if k != "sign"}, KEY.public_key())


fields = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_characters="&="), min_size=1, max_size=12).filter(
        lambda k: k not in ("sign", "sign_type")
    ),
    st.text(st.characters(codec="utf-8", exclude_characters="&"), min_size=1, max_size=30),
    min_size=1,
    max_size=8,
)


@given(params=fields, data=st.data())
def test_changing_any_signed_value_breaks_the_signature(params, data) -> None:  # type: ignore[no-untyped-def]
    with_sign = {**params, "sign": sign(params, KEY)}
    assert verify(with_sign, KEY.public_key())
    key = data.draw(st.sampled_from(sorted(params)))
    changed = data.draw(st.text(min_size=1, max_size=30).filter(lambda v: v != params[key]))
    assert not verify({**with_sign, key: changed}, KEY.public_key())


@given(st.integers(min_value=1, max_value=10**12))
def test_amount_text_round_trips_every_fen(amount_fen: int) -> None:
    assert parse_amount_text(amount_text(amount_fen)) == amount_fen


@pytest.mark.parametrize("text", ["1", "1.2", "1.234", "-1.00", "01.00", "1,000.00", " 1.00", ""])
def test_an_amount_not_exactly_yuan_and_fen_is_not_parsed(text: str) -> None:
    assert parse_amount_text(text) is None


ORDER = WalletOrder("GW" + "a" * 24, 7, 5000, OrderState.CREATED, T0, T0)


def _note(**changes: object) -> Notification:
    fields_ = {
        "notify_id": "N1",
        "app_id": "APP",
        "order_id": ORDER.order_id,
        "trade_no": "T1",
        "amount_fen": 5000,
        "trade_status": "TRADE_SUCCESS",
        "account_no": "0000000007",
        **changes,
    }
    return Notification(**fields_)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10**9).filter(lambda a: a != ORDER.amount_fen))
def test_any_other_amount_is_refused(amount_fen: int) -> None:
    refused = check_notification(_note(amount_fen=amount_fen), ORDER, "APP", "0000000007")
    assert refused is not None and refused[0] is Refusal.WRONG_AMOUNT


def test_the_checks_in_order() -> None:
    assert check_notification(_note(), ORDER, "APP", "0000000007") is None
    cases = [
        (_note(app_id="X"), ORDER, Refusal.WRONG_APP_ID),
        (_note(), None, Refusal.UNKNOWN_ORDER),
        (_note(account_no="0000000008"), ORDER, Refusal.WRONG_ACCOUNT),
        (_note(trade_status="WAIT_BUYER_PAY"), ORDER, Refusal.NOT_PAID),
    ]
    for note, order, refusal in cases:
        account_no = "0000000007" if order is not None else None
        got = check_notification(note, order, "APP", account_no)
        assert got is not None and got[0] is refusal


def test_a_wallet_that_only_verifies_callbacks_opens_no_http_client() -> None:
    wallet = Rsa2Wallet(
        app_id="2026000000000001",
        gateway_url="http://127.0.0.1:9/gateway",
        notify_url="http://127.0.0.1:9/notify",
        return_url="http://127.0.0.1:9/return",
        private_key=OTHER_KEY,
        wallet_public_key=KEY.public_key(),
        timeout_s=1.0,
    )
    params = signed({"notify_id": "n1", "out_trade_no": "GW1"}, KEY)
    assert wallet.verify_notification(params) is Refusal.MALFORMED  # signed, fields missing
    assert wallet._http is None  # a client loads the TLS trust store: made at the first call
    wallet.close()
