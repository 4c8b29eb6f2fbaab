"""The browser tooling itself: Debian's Chromium renders the app's page, Chinese included."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_chromium_renders_the_landing_page_in_chinese(live_server: str, phone_page) -> None:  # type: ignore[no-untyped-def]
    response = phone_page.goto(live_server + "/")
    assert response is not None and response.status == 200
    heading = phone_page.locator("h1")
    assert heading.inner_text() == "国网河南省电力公司"
    # Rendered with a CJK font (fonts-noto-cjk): a real glyph is wider than the empty box a
    # missing font draws, so 9 characters at the default size take well over 9 * 10 px.
    box = heading.bounding_box()
    assert box is not None and box["width"] > 90
    # The CSP holds in the browser too: an inline script is refused.
    ran = phone_page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__inline_ran = true';
                   document.body.appendChild(s); return window.__inline_ran === true; }"""
    )
    assert ran is False
