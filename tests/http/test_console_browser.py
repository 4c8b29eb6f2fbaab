"""The office console in Debian's Chromium, in Chinese and in English: a clerk signs in, enrols
a customer, takes a counter payment and prints the receipt, closes the shift with a difference
that a supervisor then explains.

With GRIDPAY_SCREENSHOTS=<dir> the run also saves the console's screenshots there
(docs/screenshots/console-*.png are made this way).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridpay import bootstrap
from gridpay.domain.actors import cli_actor
from gridpay.services import staff
from tests.helpers_accounts import add_accounts, scalar

PASSWORD = "correct horse battery"
SCREENSHOTS = os.environ.get("GRIDPAY_SCREENSHOTS")
DESK = {"width": 1100, "height": 820}

WORDS = {
    "zh": {
        "enrolled": "已签约",
        "receipt": "收费凭证",
        "closed": "已交班",
        "explained": "差额已说明",
    },
    "en": {
        "enrolled": "Enrolled; the agreement SMS is queued.",
        "receipt": "Payment receipt",
        "closed": "The shift is closed.",
        "explained": "The difference is explained.",
    },
}


@pytest.fixture
def office(built: bootstrap.App) -> None:
    add_accounts(built.store, [1, 2], office_id=1, billing_mode="postpaid")
    for username, name, role in (("li", "李伟", "clerk"), ("zhao", "赵敏", "supervisor")):
        staff.add_staff(
            built.store, built.clock, username=username, display_name=name, password=PASSWORD,
            role=role, office_id=1, actor=cli_actor("root"),
        )  # fmt: skip


def shot(page, lang: str, name: str) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"console-{name}-{lang}.png"), full_page=True)


def sign_in(chromium, base: str, lang: str, username: str):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport=DESK)
    page = context.new_page()
    page.goto(f"{base}/console/lang/{lang}")
    assert page.url.endswith("/console/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/console/")
    return context, page


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_clerk_enrols_takes_a_payment_prints_it_and_closes_the_shift_explained_by_a_supervisor(
    live_server: str, chromium, office: None, built: bootstrap.App, lang: str
) -> None:  # type: ignore[no-untyped-def]
    words = WORDS[lang]
    context, page = sign_in(chromium, live_server, lang, "li")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.fill("input[name=query]", "Household 1")
        page.click("#find")
        assert "139****0001" in page.inner_text("table")  # masked for a clerk
        shot(page, lang, "find")
        page.click("button.open")
        page.click("#enrol")
        assert words["enrolled"] in page.inner_text("p.notice")
        page.fill("#amount", "100")
        page.click("#take-payment")
        page.wait_for_url("**/console/receipts/*")
        assert words["receipt"] in page.inner_text("#receipt")
        assert page.inner_text("#payment-id").startswith("pay/counter/1-li-")
        assert page.inner_text("#receipt-amount") == "100.00"
        assert page.inner_text("#receipt-balance") == "100.00"
        assert page.inner_text("#receipt-office") == "Office 1 (Jianxi)"
        shot(page, lang, "receipt")
        # Printed, the page is the receipt alone.
        page.emulate_media(media="print")
        assert not page.is_visible("header") and not page.is_visible("#print")
        page.emulate_media(media="screen")
        page.goto(f"{live_server}/console/shift")
        assert page.inner_text("#shift-ledger") == "100.00"
        page.fill("#counted", "95")
        page.click("#close-shift")
        assert words["closed"] in page.inner_text("p.notice")
        assert "-5.00" in page.inner_text("tr.close")
        shot(page, lang, "shift")
    finally:
        context.close()
    assert errors == []
    context, page = sign_in(chromium, live_server, lang, "zhao")
    try:
        page.goto(f"{live_server}/console/shift")
        page.fill(
            "tr.close input[name=explanation]",
            "找零多给 5 元" if lang == "zh" else "gave 5 too much change",
        )
        page.click("tr.close button.explain")
        assert words["explained"] in page.inner_text("p.notice")
        assert "zhao" in page.inner_text("tr.close")
        shot(page, lang, "explained")
        page.goto(f"{live_server}/console/reports")
        shot(page, lang, "reports")
    finally:
        context.close()
    assert scalar(built.store, "SELECT explained_by FROM shift_closes") == "zhao"
    assert scalar(built.store, "SELECT count(*) FROM audit_log WHERE action = 'payment.take'") == 1
