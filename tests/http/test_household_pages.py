"""The households' pages: what they show, in Chinese and English, with and without a session."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gridpay.adapters.sql import schema
from gridpay.domain.payments import TakePayment
from gridpay.services.payments import take_payment
from tests.fakes import FakeClock
from tests.http.household_helpers import OWNER, city, csrf_of, sign_in

DAILY_WH = 6_000


@pytest.fixture
def town(store, clock: FakeClock):  # type: ignore[no-untyped-def]
    city(store, clock.today(), days=40, daily_wh=DAILY_WH)
    return store


@pytest.fixture
def paid(town, built):  # type: ignore[no-untyped-def]
    """The owner paid 200 yuan online after 40 days of 3.36 yuan: 65.60 yuan left."""
    take_payment(
        town,
        built.clock,
        built.settings,
        TakePayment(f"{OWNER:010d}", "200.00", "app", "W-1"),
        built.credit,
    )
    return town


def _english(client: TestClient) -> None:
    page = client.get("/signin" if not client.cookies.get("gp_session") else "/home")
    client.post("/prefs", data={"csrf": csrf_of(page.text), "lang": "en", "back": "/home"})


def test_home_shows_balance_days_left_and_the_periods(client: TestClient, paid) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, paid)
    page = client.get("/home").text
    assert 'id="balance-yuan">65.60<' in page
    assert "约可用 19 天" in page  # 65.60 / 3.36 a day, whole days
    assert "6.00 千瓦时 · 3.36 元" in page  # yesterday
    assert 'href="/pay"' in page


def test_the_tier_sentence_gives_the_next_kwh_price_and_the_day_the_next_tier_starts(
    client: TestClient, town, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town)
    _english(client)
    page = client.get("/home").text
    # 1,800 kWh + 40 days of 6 kWh = 2,040 kWh; 120 kWh to tier 2 at 6 a day: 20 days after
    # the last settled day (27 November).
    assert "2,040 of 2,160 kWh in tier 1 — the next kWh costs 0.56 yuan." in page
    assert "At your pace tier 2 starts around 17 December." in page


def test_in_tier_2_the_next_kwh_carries_its_surcharge(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    with town.engine.begin() as conn:
        conn.execute(
            update(schema.daily_usage).values(ytd_wh=schema.daily_usage.c.ytd_wh + 500_000)
        )
    sign_in(client, town)
    _english(client)
    page = client.get("/home").text
    assert "2,540 of 3,120 kWh in tier 2 — the next kWh costs 0.61 yuan." in page


def test_the_chart_shows_30_90_or_365_days_and_refuses_other_spans(
    client: TestClient, town
) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town)
    for days, bars in ((30, 30), (90, 40), (365, 40)):
        page = client.get("/home", params={"days": days}).text
        assert page.count('class="bar') == bars, days
        assert f'href="/home?days={days}" aria-current="page"' in page
    assert client.get("/home", params={"days": 7}).status_code == 422


def test_estimated_days_are_marked_and_tou_days_are_split_by_register(
    client: TestClient, town, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    u = schema.daily_usage
    yesterday = clock.today() - dt.timedelta(days=1)
    before = yesterday - dt.timedelta(days=1)
    with town.engine.begin() as conn:
        conn.execute(
            update(u)
            .where(u.c.account_id == OWNER, u.c.day == before)
            .values(sharp_wh=1_000, peak_wh=2_000, flat_wh=3_000, valley_wh=4_000)
        )
        conn.execute(
            update(u)
            .where(u.c.account_id == OWNER, u.c.day == yesterday)
            .values(sharp_wh=1_500, peak_wh=3_000, flat_wh=4_500, valley_wh=7_000)
        )
        conn.execute(
            update(u)
            .where(u.c.account_id == OWNER, u.c.day == before - dt.timedelta(days=3))
            .values(estimated=True)
        )
    sign_in(client, town)
    page = client.get("/home").text
    assert page.count('class="bar est"') == 1
    assert 'fill="url(#est)"' in page
    assert "估算" in page
    assert 'class="legend"' in page  # the registers' colours are explained
    for colour in ("#b3261e", "#e8871e", "#3a9a5b"):
        assert f'fill="{colour}"' in page
    legend = page[page.index('class="legend"') : page.index("</ul>", page.index('class="legend"'))]
    for name in ("尖峰", "高峰", "平段", "低谷"):  # the registers in the page's language
        assert name in legend, legend
    for name in ("sharp", "peak", "valley"):
        assert f"</span>{name}<" not in legend, legend


def test_language_and_large_type_are_switched_and_remembered(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/signin")
    assert '<html lang="zh-CN">' in page.text and "发送验证码" in page.text
    client.post("/prefs", data={"csrf": csrf_of(page.text), "lang": "en", "back": "/signin"})
    page = client.get("/signin")
    assert '<html lang="en">' in page.text and "Send code" in page.text
    client.post("/prefs", data={"csrf": csrf_of(page.text), "large": "1", "back": "/signin"})
    sign_in(client, town)
    home = client.get("/home").text
    assert '<body class="large">' in home and "Balance" in home
    back = client.post(
        "/prefs", data={"csrf": csrf_of(home), "large": "0", "back": "https://evil.example/"}
    )
    assert back.url.path == "/home"  # never sent elsewhere
    assert '<body class="">' in back.text


def test_supply_state_in_the_words_of_explain(client: TestClient, town, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    with town.engine.begin() as conn:
        conn.execute(
            schema.credit_state.insert().values(
                account_id=OWNER,
                state="arrears",
                cycle=1,
                notice_at=clock.now(),
                pay_by=clock.today() + dt.timedelta(days=3),
                supply="on",
                updated_at=clock.now(),
            )
        )
        conn.execute(
            schema.credit_decisions.insert().values(
                key="arrears/1",
                account_id=OWNER,
                at=clock.now(),
                action="notify_arrears",
                reason_code="balance_not_positive",
                reason="balance -134.40 yuan is not above zero: arrears notice, pay by 2026-12-01",
            )
        )
    sign_in(client, town)
    _english(client)
    page = client.get("/home").text
    assert "please pay by 1 December" in page
    assert "The earliest a cut could happen is" in page
    assert "arrears notice, pay by 2026-12-01" in page


def test_activity_lists_payments_and_messages_but_never_codes(client: TestClient, paid) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, paid)
    page = client.get("/activity").text
    assert "200.00" in page and "缴费" in page
    assert "验证码" not in page


def test_statements_view_and_csv_download(client: TestClient, paid, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, paid)
    listing = client.get("/statements").text
    month = f"{clock.today():%Y-%m}"
    assert f'href="/statements/{month}"' in listing
    page = client.get(f"/statements/{month}")
    assert page.status_code == 200 and 'id="closing">65.60' in page.text
    download = client.get(f"/statements/{month}.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = download.content.decode("utf-8-sig").splitlines()
    assert rows[0] == "day,kind,amount_yuan,balance_yuan,energy_kwh,channel"
    assert rows[-1].startswith(",closing,,65.60")
    assert any(",payment,200.00," in row for row in rows)
    assert client.get("/statements/2026-13").status_code == 422


def test_static_files_are_served_and_pages_carry_no_inline_script(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    css = client.get("/static/household/household.css")
    js = client.get("/static/household/household.js")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/static/household/../app.py").status_code == 404
    sign_in(client, town)
    page = client.get("/home").text
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


def test_pages_are_not_cached(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town)
    assert client.get("/home").headers["cache-control"] == "no-store"
