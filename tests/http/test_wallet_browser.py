"""A household pays in Chromium at a phone's size: the pay form, the wallet's page (its own
process), back to the order page showing the credit and the supply being restored."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from gridpay import bootstrap
from gridpay.entrypoints.http.pay import signed_in_account
from gridpay.services.credit import judge_all
from tests.helpers_accounts import balance_fen
from tests.http.wallet_sim_fixture import RunningWallet, wallet_sim  # noqa: F401
from tests.integration.credit_helpers import BROKE, local

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# GRIDPAY_SCREENSHOTS=1 saves the pages at a phone's size for the docs (not on every run).
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("GRIDPAY_SCREENSHOTS"):
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name))


def cut_off_broke(built: bootstrap.App, clock) -> None:  # type: ignore[no-untyped-def]
    """BROKE is judged into arrears, noticed and cut (the relay confirmed open); the clock
    then stands at the evening of the cut."""
    judge_all(built.store, clock, built.credit)
    clock.set(local(dt.date(2026, 12, 7), 8, 0))
    judge_all(built.store, clock, built.credit)
    clock.set(local(dt.date(2026, 12, 7), 8, 30))
    judge_all(built.store, clock, built.credit)
    with built.store.unit_of_work() as uow:
        uow.credit.confirm_supply(BROKE, "off", clock.now())
        uow.commit()
    clock.set(local(dt.date(2026, 12, 7), 19, 0))


@pytest.fixture
def cut_off(built: bootstrap.App, web_app: FastAPI, city, clock) -> int:  # type: ignore[no-untyped-def]
    """A household in arrears whose supply was cut, signed in."""
    cut_off_broke(built, clock)
    web_app.dependency_overrides[signed_in_account] = lambda: f"{BROKE:010d}"
    return BROKE


def test_a_cut_off_household_pays_in_the_browser_and_sees_supply_being_restored(
    built: bootstrap.App,
    live_server: str,
    cut_off: int,
    wallet_sim: Callable[..., RunningWallet],  # noqa: F811
    phone_page,  # type: ignore[no-untyped-def]
) -> None:
    wallet_sim()
    page = phone_page
    assert balance_fen(built.store, cut_off) < 0
    page.goto(f"{live_server}/pay")
    page.fill("#amount_yuan", "100.00")
    _shot(page, "pay-form.png")
    page.click("button[type=submit]")
    page.wait_for_selector("#confirm")
    assert "Confirm payment of ¥100.00 to 国网河南省电力公司" in page.inner_text("#what")
    _shot(page, "pay-wallet-confirm.png")
    page.click("#confirm")
    page.wait_for_url(f"{live_server}/pay/orders/GW*")
    deadline = time.monotonic() + 20
    while page.get_attribute("#order-state", "data-state") != "credited":
        assert time.monotonic() < deadline, page.content()
        time.sleep(0.2)
        page.reload()
    assert "¥100.00" in page.content()
    assert page.inner_text("#restoring") == "正在恢复供电 · Supply being restored"
    _shot(page, "pay-order-credited.png")
    assert balance_fen(built.store, cut_off) > 0
