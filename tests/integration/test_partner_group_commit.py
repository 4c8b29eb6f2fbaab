"""Group commit of partner payments: several requests in one transaction, each on its own.

A refused or failing request among good ones leaves nothing of itself (but its nonce, once its
signature verified) and takes nothing from the others; a retry inside the same batch gets the
first answer; every good payment lands exactly once.
"""

from __future__ import annotations

from typing import Any

import pytest

from gridpay import bootstrap
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.partners import SignedHeaders, sign
from gridpay.errors import Conflict, NotSignedIn, Refused
from gridpay.services import partners, payments
from gridpay.services.partners import PaymentAnswer, SignedRequest
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, balance_fen, scalar
from tests.partner_client import payment_body

PATH = "/partner/v1/payments"


@pytest.fixture
def built(store: SqlStore, clock: FakeClock) -> bootstrap.App:
    settings = Settings(database_url=store.url, environment="test")
    add_accounts(store, [1, 2, 3])
    add_accounts(store, [9], billing_mode="postpaid")
    return bootstrap.App(settings, store, clock, bootstrap.credit_policy(settings))


@pytest.fixture
def bank(built: bootstrap.App, clock: FakeClock) -> partners.Partner:
    return partners.add_partner(
        built.store, clock, code="ICBC", name="ICBC", kind="bank", payment_max_yuan="1000"
    )


def _signed(
    partner: partners.Partner,
    clock: FakeClock,
    reference: str,
    account_id: int,
    yuan: str,
    nonce: str | None = None,
    secret: str | None = None,
) -> SignedRequest:
    body = payment_body(reference, f"{account_id:010d}", yuan)
    now_s = int(clock.now().timestamp())
    nonce = nonce or f"nonce-{reference}-{account_id}-{yuan}-0000000000".replace(".", "_")
    signature = sign(secret or partner.secret, "POST", PATH, now_s, nonce, body)
    return SignedRequest(
        "POST", PATH, SignedHeaders(partner.code, str(now_s), nonce, signature), body
    )


def _written(store: SqlStore) -> dict[str, int]:
    return {
        t: int(scalar(store, f"SELECT count(*) FROM {t}"))
        for t in ("transfers", "partner_nonces", "partner_payments", "audit_log")
    }


def test_a_batch_with_bad_requests_among_good_ones_lands_each_good_one_exactly_once(
    built: bootstrap.App, bank: partners.Partner, clock: FakeClock
) -> None:
    before = _written(built.store)
    good_1 = _signed(bank, clock, "G-1", 1, "10")
    batch = [
        good_1,
        _signed(bank, clock, "B-over", 2, "5000"),  # over the limit per payment
        _signed(bank, clock, "G-2", 2, "20"),
        _signed(bank, clock, "G-1", 1, "10", nonce="nonce-retry-of-G-1"),  # a retry
        _signed(bank, clock, "G-1", 3, "10", nonce="nonce-conflict-G-1"),  # same ref, other
        _signed(bank, clock, "B-postpaid", 9, "10"),
        _signed(bank, clock, "B-nonce", 3, "30", nonce=good_1.headers.nonce),  # nonce replayed
        _signed(bank, clock, "B-forged", 3, "30", secret="not-the-secret"),
        _signed(bank, clock, "G-3", 3, "30"),
    ]
    outcomes = partners.pay_many(built.store, clock, built.settings, built.credit, batch)

    first, over, second, retry, conflict, postpaid, replayed, forged, third = outcomes
    assert isinstance(first, PaymentAnswer) and not first.replayed
    assert isinstance(over, Refused) and "limit per payment" in over.message
    assert isinstance(second, PaymentAnswer) and not second.replayed
    assert isinstance(retry, PaymentAnswer) and retry.replayed
    assert retry.payment == first.payment  # the first answer, word for word
    assert isinstance(conflict, Conflict)
    assert isinstance(postpaid, Refused)
    assert isinstance(replayed, NotSignedIn)
    assert isinstance(forged, NotSignedIn)
    assert isinstance(third, PaymentAnswer) and third.payment.balance_fen == 3_000

    after = _written(built.store)
    # Nonces: every request whose signature verified (7 of 9: not the replay, not the forgery).
    assert after == {
        "transfers": before["transfers"] + 3,
        "partner_nonces": before["partner_nonces"] + 7,
        "partner_payments": before["partner_payments"] + 3,
        "audit_log": before["audit_log"] + 3,
    }
    assert [balance_fen(built.store, a) for a in (1, 2, 3, 9)] == [1_000, 2_000, 3_000, 0]
    refs = "SELECT count(*) FROM partner_payments WHERE reference LIKE 'B-%'"
    assert scalar(built.store, refs) == 0
    day = "SELECT amount_fen FROM partner_days WHERE partner_code = 'ICBC'"
    assert scalar(built.store, day) == 6_000  # the refused ones gave their amounts back


def test_a_request_failing_in_a_batch_fails_alone(
    built: bootstrap.App,
    bank: partners.Partner,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = payments.take_payment_in
    real_many = payments.take_payments_in

    def crash_on_account_2(*args: Any, **kwargs: Any) -> Any:
        if kwargs["account"].id == 2:
            raise RuntimeError("the disk is full")
        return real(*args, **kwargs)

    def crash_with_account_2(*args: Any, **kwargs: Any) -> Any:
        # the batch's statements fail (they carry account 2's rows): the batch is undone, and
        # each payment is taken again on its own, where only account 2's fails
        if any(p.account.id == 2 for p in args[3]):
            raise RuntimeError("the disk is full")
        return real_many(*args, **kwargs)

    monkeypatch.setattr(payments, "take_payment_in", crash_on_account_2)
    monkeypatch.setattr(payments, "take_payments_in", crash_with_account_2)
    batch = [_signed(bank, clock, f"R-{a}", a, "10") for a in (1, 2, 3)]
    outcomes = partners.pay_many(built.store, clock, built.settings, built.credit, batch)
    assert isinstance(outcomes[1], RuntimeError)
    assert all(isinstance(o, PaymentAnswer) for o in (outcomes[0], outcomes[2]))
    assert [balance_fen(built.store, a) for a in (1, 2, 3)] == [1_000, 0, 1_000]
    # Nothing of the failed one, not even its nonce: its retry goes through as new.
    assert scalar(built.store, "SELECT count(*) FROM partner_nonces") == 2
    monkeypatch.setattr(payments, "take_payment_in", real)
    monkeypatch.setattr(payments, "take_payments_in", real_many)
    (again,) = partners.pay_many(built.store, clock, built.settings, built.credit, [batch[1]])
    assert isinstance(again, PaymentAnswer) and not again.replayed
    assert balance_fen(built.store, 2) == 1_000
