"""Finance reconciles a partner's day in Debian's Chromium, in Chinese and in English: uploads
a statement with mismatches, confirms the line missing on our side and downloads the report.

With GRIDPAY_SCREENSHOTS=<dir> the run also saves the page there
(docs/screenshots/console-statements-*.png are made this way).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from gridpay import bootstrap
from tests.helpers_accounts import balance_fen, scalar
from tests.http.test_console_browser import shot, sign_in
from tests.http.test_console_statements import DAY, STATEMENT, desk  # noqa: F401, F811 (fixture)

WORDS = {
    "zh": {"reconciled": "已对账", "confirmed": "款项已入账", "missing_ours": "我方缺失"},
    "en": {
        "reconciled": "Reconciled; each mismatch is a finance task.",
        "confirmed": "Confirmed; the payment is posted.",
        "missing_ours": "missing on our side",
    },
}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_finance_uploads_a_statement_confirms_the_missing_line_and_downloads_the_report(
    live_server: str,
    chromium,
    desk: None,  # noqa: F811
    built: bootstrap.App,
    lang: str,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    words = WORDS[lang]
    statement = tmp_path / "icbc-statement.csv"
    statement.write_text(STATEMENT, encoding="utf-8")
    context, page = sign_in(chromium, live_server, lang, "qian")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.click("#nav-statements")
        page.select_option("#partner", "ICBC")
        page.fill("#day", DAY)
        page.set_input_files("#statement", str(statement))
        page.click("#upload")
        # The click returns once the next page starts arriving; its table may still be parsing.
        page.wait_for_load_state("load")
        assert words["reconciled"] in page.inner_text("p.notice")
        assert page.inner_text("#counts td[data-outcome=matched]") == "1"
        assert page.inner_text("#counts td[data-outcome=amount_differs]") == "1"
        assert page.inner_text("#counts td[data-outcome=missing_ours]") == "1"
        assert page.inner_text("#counts td[data-outcome=missing_theirs]") == "1"
        missing = page.locator("tr.line[data-reference=R5]")
        assert words["missing_ours"] in missing.inner_text()
        assert "50.50" in missing.inner_text()
        shot(page, lang, "statements")
        missing.locator("button.confirm").click()
        page.wait_for_load_state("load")
        assert words["confirmed"] in page.inner_text("p.notice")
        assert "qian" in page.locator("tr.line[data-reference=R5]").inner_text()
        with page.expect_download() as download:
            page.click("#download")
        report = Path(download.value.path()).read_text(encoding="utf-8")
    finally:
        context.close()
    assert errors == []
    got = {r["reference"]: r for r in csv.DictReader(io.StringIO(report))}
    assert set(got) == {"R1", "R2", "R4", "R5"}
    assert (got["R5"]["outcome"], got["R5"]["confirmed_by"]) == ("missing_ours", "qian")
    assert balance_fen(built.store, 3) == 5_050
    assert (
        scalar(built.store, "SELECT actor_id FROM audit_log WHERE subject = 'pay/bank/ICBC-R5'")
        == "qian"
    )
