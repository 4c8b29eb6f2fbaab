"""The signed partner API: every endpoint and every refusal, with what each leaves written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from gridpay import bootstrap
from gridpay.adapters.sql.store import SqlStore
from gridpay.entrypoints.http.app import create_app
from gridpay.services import partners
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, balance_fen, scalar
from tests.partner_client import payment_body, signed_headers


@dataclass
class Caller:
    """One partner calling the app: signs each request with its secret at the clock's time."""

    client: TestClient
    clock: FakeClock
    code: str
    secret: str

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        nonce: str | None = None,
        skew_s: int = 0,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        timestamp_s = int(self.clock.now().timestamp()) + skew_s
        signed = signed_headers(
            self.code, secret or self.secret, method, path, body, timestamp_s, nonce
        )
        return self.client.request(
            method, path, content=body, headers=headers if headers is not None else signed
        )

    def pay(self, reference: str, account_no: str, amount_yuan: str, **kw: Any) -> Response:
        body = payment_body(reference, account_no, amount_yuan)
        return self.request("POST", "/partner/v1/payments", body, **kw)


@pytest.fixture
def caller(client: TestClient, built: bootstrap.App, clock: FakeClock) -> Caller:
    add_accounts(built.store, [1, 2])
    add_accounts(built.store, [3], billing_mode="postpaid")
    partner = partners.add_partner(
        built.store,
        clock,
        code="ICBC",
        name="ICBC Luoyang",
        kind="bank",
        payment_max_yuan="1000",
        day_max_yuan="1500",
    )
    return Caller(client, clock, partner.code, partner.secret)


def written(store: SqlStore) -> dict[str, int]:
    """What a request may leave behind: ledger transfers, nonces, partner payments."""
    return {
        table: int(scalar(store, f"SELECT count(*) FROM {table}"))
        for table in ("transfers", "partner_nonces", "partner_payments")
    }


def refused(response: Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


def test_payment_is_posted_and_a_retry_gets_the_first_answer(
    caller: Caller, built: bootstrap.App
) -> None:
    first = caller.pay("T-1", "0000000001", "100.50")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["transfer_id"] == "pay/bank/ICBC-T-1"
    assert body["balance_fen"] == 10_050 == balance_fen(built.store, 1)
    assert body["status"] == "posted" and body["day"] == "2026-11-28"
    caller.clock.advance(seconds=30)
    caller.pay("T-2", "0000000001", "1")  # the balance moves on ...
    retry = caller.pay("T-1", "0000000001", "100.50")
    assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == body  # ... but the retry gets the first answer, word for word
    assert balance_fen(built.store, 1) == 10_150
    assert written(built.store)["transfers"] == 2


def test_same_reference_with_other_details_is_a_conflict_and_posts_nothing(
    caller: Caller, built: bootstrap.App
) -> None:
    caller.pay("T-1", "0000000001", "10")
    before = written(built.store)
    message = refused(caller.pay("T-1", "0000000002", "10"), 409, "conflict")
    assert "0000000001" in message and "new reference" in message
    refused(caller.pay("T-1", "0000000001", "11"), 409, "conflict")
    after = written(built.store)
    assert after == {**before, "partner_nonces": before["partner_nonces"] + 2}
    assert balance_fen(built.store, 2) == 0


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing X-Partner, X-Timestamp, X-Nonce, X-Signature"),
        ({"X-Partner": "ICBC"}, "missing X-Timestamp"),
    ],
)
def test_unsigned_request_is_refused_and_writes_nothing(
    caller: Caller, built: bootstrap.App, headers: dict[str, str], why: str
) -> None:
    before = written(built.store)
    response = caller.pay("T-1", "0000000001", "10", headers=headers)
    assert why in refused(response, 401, "not_signed_in")
    lookup = caller.client.get("/partner/v1/accounts/0000000001")
    refused(lookup, 401, "not_signed_in")
    assert written(built.store) == before


def test_wrong_signature_is_refused_and_writes_nothing(
    caller: Caller, built: bootstrap.App
) -> None:
    before = written(built.store)
    response = caller.pay("T-1", "0000000001", "10", secret="not-the-secret")
    assert "wrong signature" in refused(response, 401, "not_signed_in")
    # A body changed after signing: the signature no longer matches.
    body = payment_body("T-1", "0000000001", "10")
    ts = int(caller.clock.now().timestamp())
    headers = signed_headers(caller.code, caller.secret, "POST", "/partner/v1/payments", body, ts)
    tampered = payment_body("T-1", "0000000001", "999")
    response = caller.client.post("/partner/v1/payments", content=tampered, headers=headers)
    refused(response, 401, "not_signed_in")
    unknown = signed_headers("NOBODY", caller.secret, "POST", "/partner/v1/payments", body, ts)
    response = caller.client.post("/partner/v1/payments", content=body, headers=unknown)
    assert "unknown partner" in refused(response, 401, "not_signed_in")
    assert written(built.store) == before


@pytest.mark.parametrize("skew_s", [-301, 301, -10_000])
def test_stale_request_is_refused_and_writes_nothing(
    caller: Caller, built: bootstrap.App, skew_s: int
) -> None:
    before = written(built.store)
    response = caller.pay("T-1", "0000000001", "10", skew_s=skew_s)
    assert "stale" in refused(response, 401, "not_signed_in")
    assert written(built.store) == before
    assert caller.pay("T-1", "0000000001", "10", skew_s=299).status_code == 201


def test_replayed_request_is_refused_even_after_a_restart(
    caller: Caller, built: bootstrap.App
) -> None:
    body = payment_body("T-1", "0000000001", "10")
    ts = int(caller.clock.now().timestamp())
    headers = signed_headers(caller.code, caller.secret, "POST", "/partner/v1/payments", body, ts)
    assert caller.client.post("/partner/v1/payments", content=body, headers=headers).is_success
    before = written(built.store)
    replay = caller.client.post("/partner/v1/payments", content=body, headers=headers)
    assert "replayed" in refused(replay, 401, "not_signed_in")
    with TestClient(create_app(built)) as restarted:  # a new process: nonces are in the database
        replay = restarted.post("/partner/v1/payments", content=body, headers=headers)
    refused(replay, 401, "not_signed_in")
    assert written(built.store) == before


def test_suspended_partner_is_refused_until_resumed(caller: Caller, built: bootstrap.App) -> None:
    partners.set_suspended(built.store, caller.clock, "ICBC", suspended=True)
    before = written(built.store)
    refused(caller.pay("T-1", "0000000001", "10"), 403, "forbidden")
    refused(caller.request("GET", "/partner/v1/accounts/0000000001"), 403, "forbidden")
    after = written(built.store)
    # The verified nonces are spent (so the refused request cannot be replayed after a resume);
    # nothing else is written.
    assert after == {**before, "partner_nonces": before["partner_nonces"] + 2}
    partners.set_suspended(built.store, caller.clock, "ICBC", suspended=False)
    assert caller.pay("T-1", "0000000001", "10").status_code == 201


def test_over_the_limits_is_refused_with_the_reason(caller: Caller, built: bootstrap.App) -> None:
    before = written(built.store)
    message = refused(caller.pay("T-1", "0000000001", "1000.01"), 409, "refused")
    assert "limit per payment" in message and "1000.00" in message
    assert written(built.store)["partner_payments"] == before["partner_payments"]
    assert caller.pay("T-2", "0000000001", "1000").status_code == 201
    assert caller.pay("T-3", "0000000002", "400").status_code == 201
    middle = written(built.store)
    message = refused(caller.pay("T-4", "0000000002", "100.01"), 409, "refused")
    assert "limit per day" in message and "1500.00" in message
    after = written(built.store)
    assert after == {**middle, "partner_nonces": middle["partner_nonces"] + 1}
    assert caller.pay("T-5", "0000000002", "100").status_code == 201  # exactly the limit
    caller.clock.advance(days=1)  # a new business day, a new allowance
    assert caller.pay("T-6", "0000000002", "100").status_code == 201


def test_reversal_gives_the_day_allowance_back(caller: Caller, built: bootstrap.App) -> None:
    caller.pay("T-1", "0000000001", "1000")
    reversed_ = caller.request("POST", "/partner/v1/payments/T-1/reverse")
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["reversal_id"] == "reversal/pay/bank/ICBC-T-1"
    assert balance_fen(built.store, 1) == 0
    again = caller.request("POST", "/partner/v1/payments/T-1/reverse")
    assert again.json() == reversed_.json() and again.headers["idempotent-replayed"] == "true"
    assert written(built.store)["transfers"] == 2
    assert caller.pay("T-2", "0000000001", "1000").status_code == 201  # the allowance is back


def test_only_a_payment_of_today_can_be_reversed(caller: Caller, built: bootstrap.App) -> None:
    caller.pay("T-1", "0000000001", "10")
    caller.clock.advance(days=1)
    before = written(built.store)
    message = refused(caller.request("POST", "/partner/v1/payments/T-1/reverse"), 409, "refused")
    assert "only a payment of today" in message
    refused(caller.request("POST", "/partner/v1/payments/NOPE/reverse"), 404, "not_found")
    assert written(built.store)["transfers"] == before["transfers"]
    assert balance_fen(built.store, 1) == 1_000


def test_account_lookup_masks_the_name(caller: Caller) -> None:
    response = caller.request("GET", "/partner/v1/accounts/0000000001")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "account_no": "0000000001",
        "name_masked": "H**",
        "balance_fen": 0,
        "balance_yuan": "0.00",
        "prepaid": True,
    }
    refused(caller.request("GET", "/partner/v1/accounts/0000000009"), 404, "not_found")
    refused(caller.request("GET", "/partner/v1/accounts/12"), 422, "invalid_input")


def test_payment_into_a_missing_or_postpaid_account_leaves_no_reservation(
    caller: Caller, built: bootstrap.App
) -> None:
    before = written(built.store)
    refused(caller.pay("T-1", "0000000009", "10"), 404, "not_found")
    refused(caller.pay("T-2", "0000000003", "10"), 409, "refused")
    refused(caller.pay("T-3", "0000000001", "12.345"), 422, "invalid_input")
    refused(caller.request("POST", "/partner/v1/payments", b"{not json"), 422, "invalid_input")
    after = written(built.store)
    assert after == {**before, "partner_nonces": before["partner_nonces"] + 4}
    assert caller.pay("T-1", "0000000001", "1500").status_code == 409  # per payment only
    assert caller.pay("T-9", "0000000001", "1000").status_code == 201  # day total untouched


def test_a_payment_cut_by_a_crash_leaves_nothing_and_the_retry_posts_it_once(
    caller: Caller, built: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridpay.services import payments

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died")  # not a refusal: the transaction never commits

    before = written(built.store)
    with monkeypatch.context() as m:
        m.setattr(payments, "take_payment_in", crash)
        m.setattr(payments, "take_payments_in", crash)
        with pytest.raises(RuntimeError):
            caller.pay("T-1", "0000000001", "10")
    assert written(built.store) == before  # one transaction: not even the nonce
    assert caller.pay("T-1", "0000000001", "10").status_code == 201
    assert caller.pay("T-1", "0000000001", "10").status_code == 200
    assert balance_fen(built.store, 1) == 1_000


def test_time_window_is_a_setting(caller: Caller, built: bootstrap.App) -> None:
    from dataclasses import replace

    built.settings = replace(built.settings, partner_signature_window_s=10)
    refused(caller.pay("T-1", "0000000001", "10", skew_s=11), 401, "not_signed_in")
    assert caller.pay("T-1", "0000000001", "10", skew_s=10).status_code == 201


def test_old_nonces_are_pruned_and_stay_refused_by_the_window(
    caller: Caller, built: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller.pay("T-1", "0000000001", "10", nonce="n" * 16)
    caller.clock.advance(seconds=602)  # two windows and the second of truncated timestamps
    monkeypatch.setattr("gridpay.services.partners.random.randrange", lambda n: 0)
    caller.pay("T-2", "0000000001", "10")
    assert scalar(built.store, "SELECT count(*) FROM partner_nonces") == 1
    # The pruned nonce's request is stale by now: the window still refuses it.
    old = caller.pay("T-1", "0000000001", "10", nonce="n" * 16, skew_s=-602)
    refused(old, 401, "not_signed_in")
    assert dt.timedelta(seconds=601) > dt.timedelta(seconds=2 * 300)


def test_racing_payments_never_pass_the_day_limit_and_a_raced_reference_posts_once(
    caller: Caller, built: bootstrap.App
) -> None:
    from gridpay.errors import Conflict, Refused
    from tests.concurrency import race

    def signed_pay(reference: str, amount_yuan: str) -> partners.PaymentAnswer:
        body = payment_body(reference, "0000000001", amount_yuan)
        ts = int(caller.clock.now().timestamp())
        h = signed_headers(caller.code, caller.secret, "POST", "/partner/v1/payments", body, ts)
        headers = partners.SignedHeaders(
            h["X-Partner"], h["X-Timestamp"], h["X-Nonce"], h["X-Signature"]
        )
        request = partners.SignedRequest("POST", "/partner/v1/payments", headers, body)
        return partners.pay(built.store, built.clock, built.settings, built.credit, request)

    # 8 payments of 300 yuan race for a day limit of 1,500: exactly 5 pass.
    results, errors = race(8, lambda i: signed_pay(f"R-{i}", "300"))
    assert len(results) == 5 and len(errors) == 3
    assert all(isinstance(e, Refused) and "limit per day" in str(e) for e in errors)
    assert balance_fen(built.store, 1) == 150_000
    caller.clock.advance(days=1)
    # The same reference raced 6 times: one posting, the others get its answer (or wait).
    results, errors = race(6, lambda i: signed_pay("SAME", "10"))
    assert not [e for e in errors if not isinstance(e, Conflict)], errors
    assert {r.payment.transfer_id for r in results} == {"pay/bank/ICBC-SAME"}
    assert balance_fen(built.store, 1) == 151_000


def test_suspension_from_another_process_takes_effect_within_the_partner_cache(
    caller: Caller, built: bootstrap.App
) -> None:
    cache = partners.partner_cache(built.store)
    moved_s = [0.0]
    cache.monotonic_s = lambda: moved_s[0]
    assert caller.pay("C-1", "0000000001", "10").status_code == 201  # the partner is read
    # The CLI suspends it from another process: its own store, so this server's cache is not told.
    other = SqlStore(built.store.url)
    try:
        partners.set_suspended(other, caller.clock, "ICBC", suspended=True)
    finally:
        other.dispose()
    moved_s[0] = cache.ttl_s / 2
    assert caller.pay("C-2", "0000000001", "10").status_code == 201  # still its copy
    moved_s[0] = cache.ttl_s
    refused(caller.pay("C-3", "0000000001", "10"), 403, "forbidden")
    assert scalar(built.store, "SELECT count(*) FROM partner_payments") == 2
    # Resumed through this process's own service: at once, whatever the copy's age.
    partners.set_suspended(built.store, caller.clock, "ICBC", suspended=False)
    assert caller.pay("C-3", "0000000001", "10").status_code == 201
    partners.set_suspended(built.store, caller.clock, "ICBC", suspended=True)
    refused(caller.pay("C-4", "0000000001", "10"), 403, "forbidden")


def test_the_partner_cache_keeps_a_partner_for_its_ttl_only() -> None:
    reads: list[str] = []
    moved_s = [100.0]

    class Repo:
        def partner(self, code: str) -> object:
            reads.append(code)
            return None if code == "NOPE" else f"partner {code} #{len(reads)}"

    class Uow:
        partners = Repo()

    cache = partners.PartnerCache(ttl_s=1.0, monotonic_s=lambda: moved_s[0])
    uow: Any = Uow()
    first = cache.partner(uow, "ICBC")
    moved_s[0] += 0.99
    assert cache.partner(uow, "ICBC") is first and reads == ["ICBC"]
    moved_s[0] += 0.01
    assert cache.partner(uow, "ICBC") != first and reads == ["ICBC", "ICBC"]
    assert cache.partner(uow, "NOPE") is None and cache.partner(uow, "NOPE") is None
    assert reads.count("NOPE") == 2  # an unknown code is read each time, never kept
    cache.forget("ICBC")
    cache.partner(uow, "ICBC")
    assert reads.count("ICBC") == 3
