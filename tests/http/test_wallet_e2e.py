"""Paying through `gridpay wallet-sim` in its own process, with gridpay served by uvicorn: the
callbacks cross a real socket, and the books balance afterwards (`gridpay audit`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gridpay import bootstrap
from gridpay.entrypoints.http.pay import CSRF_COOKIE, signed_in_account
from gridpay.services.wallet import query_open_orders
from tests.helpers_accounts import add_accounts, balance_fen
from tests.http.wallet_helpers import order_rows
from tests.http.wallet_sim_fixture import RunningWallet, audit, wallet_sim  # noqa: F401

ME = 101


def _pay_through_the_wallet(live_server: str, yuan: str) -> tuple[httpx.Client, str]:
    """The household's clicks without a browser: form, wallet page, confirm; the order id."""
    client = httpx.Client(base_url=live_server, timeout=10)
    form = client.get("/pay")
    assert form.status_code == 200
    made = client.post(
        "/pay", data={"amount_yuan": yuan, "csrf_token": client.cookies[CSRF_COOKIE]}
    )
    assert made.status_code == 303
    handoff = client.get(made.headers["location"])
    link = re.search(r'id="to-wallet" href="([^"]+)"', handoff.text)
    assert link is not None
    pay_url = link.group(1)
    with httpx.Client(timeout=10) as browser:
        page = browser.get(pay_url)
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        confirmed = browser.post(httpx.URL(pay_url).join(action.group(1)))
    assert f"Confirm payment of ¥{yuan} to 国网河南省电力公司" in page.text
    assert confirmed.status_code == 303
    back = confirmed.headers["location"]
    assert back.startswith(f"{live_server}/pay/orders/GW")
    return client, back.rsplit("/", 1)[1]


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def household(built: bootstrap.App, web_app: FastAPI) -> int:
    add_accounts(built.store, [ME])
    web_app.dependency_overrides[signed_in_account] = lambda: f"{ME:010d}"
    return ME


def test_paying_through_the_wallet_process_credits_once_and_the_books_balance(
    built: bootstrap.App,
    live_server: str,
    household: int,
    wallet_sim: Callable[..., RunningWallet],  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    running = wallet_sim("--notify-twice")
    client, order_id = _pay_through_the_wallet(live_server, "66.60")
    request.addfinalizer(client.close)
    _wait_for(lambda: dict(order_rows(built.store)).get(order_id) == "credited")
    # the wallet calls once more after "success": credited nothing more
    _wait_for(lambda: len(running.trades()[order_id]["answers"]) >= 2)  # type: ignore[arg-type]
    assert running.trades()[order_id]["answers"] == ["success", "success"]
    assert balance_fen(built.store, ME) == 6660
    page = client.get(f"/pay/orders/{order_id}")
    assert 'data-state="credited"' in page.text
    done = audit(built.store.url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wallet_that_never_calls_back_is_caught_by_the_query(
    built: bootstrap.App,
    web_app: FastAPI,
    live_server: str,
    household: int,
    wallet_sim: Callable[..., RunningWallet],  # noqa: F811
    tmp_path: Path,
) -> None:
    running = wallet_sim("--never-notify")
    client, order_id = _pay_through_the_wallet(live_server, "12.00")
    client.close()
    time.sleep(0.5)
    assert running.trades()[order_id]["answers"] == []
    assert dict(order_rows(built.store))[order_id] == "created"
    built.clock.advance(seconds=built.settings.wallet_query_after_s + 1)  # type: ignore[attr-defined]
    wallet = web_app.state.wallet
    report = query_open_orders(built.store, built.clock, built.settings, wallet, built.credit)
    assert (report.asked, report.credited) == (1, 1)
    assert balance_fen(built.store, ME) == 1200
    done = audit(built.store.url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
