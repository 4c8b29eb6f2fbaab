"""A household in a real browser (Debian's Chromium, a phone's screen): signs in with the code from
the SMS outbox, reads balance, chart and tier position, in Chinese and in English; large type.

With ``GRIDPAY_SCREENSHOTS=<folder>`` the run also saves phone-size screenshots of the main pages
(how docs/screenshots/ is made); an ordinary run saves nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridpay.domain.payments import TakePayment
from gridpay.services.payments import take_payment
from tests.fakes import FakeClock
from tests.http.household_helpers import OWNER, city, newest_code

SHOTS = os.environ.get("GRIDPAY_SCREENSHOTS")


def _shot(page, name: str, *, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


@pytest.fixture
def town(store, built, clock: FakeClock):  # type: ignore[no-untyped-def]
    city(store, clock.today(), days=120, ytd_start_wh=1_300_000)
    take_payment(
        store,
        clock,
        built.settings,
        TakePayment(f"{OWNER:010d}", "500.00", "app", "W-1"),
        built.credit,
    )
    return store


def _sign_in(page, base: str, store) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/signin")
    page.fill("#account_no", f"{OWNER:010d}")
    page.click("#send-code")
    page.wait_for_url("**/signin/code")
    assert "139****0001" in page.inner_text("#sent-to")
    page.fill("#code", newest_code(store))
    page.click("#sign-in")
    page.wait_for_url("**/home")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_household_signs_in_and_reads_its_account_in_chinese_and_english(
    live_server: str, phone_page, town
) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    page.goto(live_server + "/signin")
    _shot(page, "zh-signin")
    _sign_in(page, live_server, town)
    assert page.inner_text("#balance-yuan") == "96.80"  # 500 - 120 days of 3.36
    assert "第1档" in page.inner_text("#tier-sentence")
    assert "下一度电 0.56 元" in page.inner_text("#tier-sentence")
    assert page.locator("svg.chart g.bar").count() == 30
    # The chart's one bit of script: a tapped bar shows its day.
    page.locator("svg.chart g.bar").last.click()
    assert "6.00 kWh" in page.inner_text("#tapped")
    _shot(page, "zh-home")
    page.goto(live_server + "/home?days=365")
    assert page.locator("svg.chart g.bar").count() == 120
    page.goto(live_server + "/home")
    page.click("#lang-switch")
    page.wait_for_url("**/home")
    assert page.inner_text("h2 >> nth=0") == "Balance"
    assert "of 2,160 kWh in tier 1 — the next kWh costs 0.56 yuan" in page.inner_text(
        "#tier-sentence"
    )
    assert "At your pace tier 2 starts around" in page.inner_text("#tier-forecast")
    _shot(page, "en-home")
    page.goto(live_server + "/activity")
    _shot(page, "en-activity")
    page.goto(live_server + "/statements/2026-11")
    _shot(page, "en-statement", full_page=False)  # a month of lines: the top tells enough
    page.click("#lang-switch")
    page.goto(live_server + "/activity")
    _shot(page, "zh-activity")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_large_type_toggles_and_is_remembered(live_server: str, phone_page, town) -> None:  # type: ignore[no-untyped-def]
    page = phone_page
    _sign_in(page, live_server, town)

    def font_px() -> float:
        return float(page.evaluate("getComputedStyle(document.body).fontSize").removesuffix("px"))

    normal = font_px()
    page.click("#large-switch")
    page.wait_for_url("**/home")
    assert font_px() > normal * 1.2
    page.goto(live_server + "/statements")
    assert font_px() > normal * 1.2  # remembered across pages
    _shot(page, "zh-statements-large")
    page.click("#large-switch")
    page.wait_for_url("**/statements")
    assert font_px() == normal


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_pages_work_without_javascript(live_server: str, chromium, town) -> None:  # type: ignore[no-untyped-def]
    from tests.http.conftest import PHONE_VIEWPORT

    context = chromium.new_context(viewport=PHONE_VIEWPORT, java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in(page, live_server, town)
        assert page.inner_text("#balance-yuan") == "96.80"
        assert page.locator("svg.chart g.bar").count() == 30
        page.click("#lang-switch")
        assert "Balance" in page.content()
        page.click("#sign-out")
        page.wait_for_url("**/signin")
    finally:
        context.close()
