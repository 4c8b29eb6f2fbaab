"""The households' promise end to end in Debian's Chromium at a phone's size, with nothing
overridden: a cut-off household signs in with the code from the SMS outbox, pays from its home
page through the wallet (`gridpay wallet-sim`, its own process, calling back over a socket) and
sees its supply being restored — in Chinese and in English."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from gridpay import bootstrap
from gridpay.adapters.sql import schema
from tests.helpers_accounts import balance_fen
from tests.http.test_wallet_browser import cut_off_broke
from tests.http.wallet_sim_fixture import RunningWallet, wallet_sim  # noqa: F401
from tests.integration.credit_helpers import BROKE

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

_CODE = re.compile(r"(?:验证码|is )(\d{6})")


def _code_from_outbox(built: bootstrap.App) -> str:
    m = schema.messages
    newest = select(m.c.body).where(m.c.kind == "sign_in_code").order_by(m.c.id.desc()).limit(1)
    with built.store.engine.connect() as conn:
        body = conn.execute(newest).scalar_one()
    found = _CODE.search(body)
    assert found is not None, body
    return found.group(1)


@pytest.mark.parametrize(
    ("language", "balance_heading", "restoring"),
    [("zh", "可用余额", "正在恢复供电"), ("en", "Balance", "Supply being restored")],
    ids=["zh", "en"],
)
def test_a_cut_off_household_signs_in_pays_and_sees_supply_being_restored(
    built: bootstrap.App,
    city,  # type: ignore[no-untyped-def]
    clock,  # type: ignore[no-untyped-def]
    live_server: str,
    wallet_sim: Callable[..., RunningWallet],  # noqa: F811
    phone_page,  # type: ignore[no-untyped-def]
    language: str,
    balance_heading: str,
    restoring: str,
) -> None:
    cut_off_broke(built, clock)
    wallet_sim()
    assert balance_fen(built.store, BROKE) < 0
    page = phone_page
    page.goto(live_server + "/signin")
    if language == "en":
        page.click("#lang-switch")
        page.wait_for_url("**/signin")
    page.fill("#account_no", f"{BROKE:010d}")
    page.click("#send-code")
    page.wait_for_url("**/signin/code")
    page.fill("#code", _code_from_outbox(built))
    page.click("#sign-in")
    page.wait_for_url("**/home")
    assert page.inner_text("h2 >> nth=0") == balance_heading
    assert page.inner_text("#balance-yuan").startswith("-")

    page.click("#pay")
    page.wait_for_url("**/pay")
    page.fill("#amount_yuan", "100.00")
    page.click("button[type=submit]")
    page.wait_for_selector("#confirm")  # the wallet's own page, served by wallet-sim
    page.click("#confirm")
    page.wait_for_url(f"{live_server}/pay/orders/*")
    deadline = time.monotonic() + 30
    while page.get_attribute("#order-state", "data-state") != "credited":
        assert time.monotonic() < deadline, page.content()
        time.sleep(0.2)
        page.reload()
    assert restoring in page.inner_text("#restoring")
    assert balance_fen(built.store, BROKE) > 0
    c = schema.meter_commands
    reconnects = select(c.c.state).where(c.c.account_id == BROKE, c.c.action == "reconnect")
    with built.store.engine.connect() as conn:
        assert conn.execute(reconnects).scalars().all() == ["queued"]  # the relay is next
    page.goto(live_server + "/home")
    assert not page.inner_text("#balance-yuan").startswith("-")
