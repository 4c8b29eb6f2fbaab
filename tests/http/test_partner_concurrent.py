"""Partner payments arriving together over real sockets: grouped into shared commits, each
landed exactly once, a retry answered with the first answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI

from gridpay import bootstrap
from gridpay.services import partners
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, scalar
from tests.partner_client import payment_body, signed_headers

PAYMENTS = 60
PATH = "/partner/v1/payments"


def test_concurrent_payments_share_commits_and_each_lands_once(
    built: bootstrap.App, web_app: FastAPI, live_server: str, clock: FakeClock
) -> None:
    add_accounts(built.store, range(1, 6))
    partner = partners.add_partner(built.store, clock, code="ABC", name="ABC", kind="bank")

    def pay(i: int) -> httpx.Response:
        body = payment_body(f"P-{i % PAYMENTS}", f"{1 + i % 5:010d}", "2.00")
        now_s = int(clock.now().timestamp())
        headers = signed_headers(partner.code, partner.secret, "POST", PATH, body, now_s)
        return httpx.post(live_server + PATH, content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=12) as pool:
        first = list(pool.map(pay, range(PAYMENTS)))
        retries = list(pool.map(pay, range(PAYMENTS, 2 * PAYMENTS)))
    assert [r.status_code for r in first] == [201] * PAYMENTS
    assert [r.status_code for r in retries] == [200] * PAYMENTS
    for answer, retry in zip(first, retries, strict=True):
        assert retry.json() == answer.json()
    group = web_app.state.partner_payments
    assert group.requests == 2 * PAYMENTS
    assert group.batches <= group.requests
    assert scalar(built.store, "SELECT count(*) FROM transfers") == PAYMENTS
    total = "SELECT sum(credits_posted_fen) FROM ledger_accounts WHERE kind = 'customer'"
    assert scalar(built.store, total) == PAYMENTS * 200
