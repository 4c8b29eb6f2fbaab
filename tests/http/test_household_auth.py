"""Signing in to the households' pages: codes by SMS, sessions, rate limits, CSRF, family access.

Every refusal is checked with nothing written: no message, no code, no session.
"""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gridpay import limits
from gridpay.adapters.sql import schema
from tests.fakes import FakeClock
from tests.http.household_helpers import (
    FAMILY_PHONE,
    OTHER,
    OWNER,
    add_family,
    ask_code,
    city,
    count,
    csrf_of,
    enter_code,
    newest_code,
    sign_in,
)


@pytest.fixture
def town(store, clock: FakeClock):  # type: ignore[no-untyped-def]
    city(store, clock.today(), days=3)
    return store


def test_a_household_signs_in_with_the_code_sent_to_its_phone(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    sent = ask_code(client, f"{OWNER:010d}")
    assert sent.status_code == 200 and sent.url.path == "/signin/code"
    assert "139****0001" in sent.text  # where the code went, masked
    assert "13900000001" not in sent.text
    with town.engine.connect() as conn:
        message = conn.execute(select(schema.messages)).one()
        stored = conn.execute(select(schema.household_codes)).one()
    assert message.kind == "sign_in_code" and message.phone == "13900000001"
    code = newest_code(town)
    assert code in message.body and code not in stored.code_hash
    done = enter_code(client, code)
    assert done.status_code == 200 and done.url.path == "/home"
    token = client.cookies.get("gp_session")
    assert token
    with town.engine.connect() as conn:
        session = conn.execute(select(schema.household_sessions)).one()
    assert session.account_id == OWNER and session.role == "owner"
    assert session.token_hash != token and token not in session.token_hash
    assert 'id="balance-yuan"' in client.get("/home").text


def test_the_session_cookie_is_http_only_and_lax(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    ask_code(client, f"{OWNER:010d}")
    page = client.get("/signin/code")
    response = client.post(
        "/signin/code",
        data={"csrf": csrf_of(page.text), "code": newest_code(town)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "gp_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; behind TLS it is Secure


def test_behind_tls_cookies_are_secure(built, town) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from gridpay.entrypoints.http.app import create_app

    built.settings = replace(built.settings, http_behind_tls=True)
    with TestClient(create_app(built), base_url="https://testserver") as client:
        page = client.get("/signin")
        assert "secure" in page.headers["set-cookie"].lower()


def test_a_wrong_code_counts_a_try_and_the_last_try_locks_it(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    ask_code(client, f"{OWNER:010d}")
    right = newest_code(town)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(limits.sign_in_code_attempts_max - 1):
        assert enter_code(client, wrong).status_code == 401
    assert enter_code(client, wrong).status_code == 429
    locked = enter_code(client, right)
    assert locked.status_code in (401, 429)
    assert count(town, "household_sessions") == 0


def test_an_expired_code_is_refused_and_nothing_is_written(
    client: TestClient, town, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    ask_code(client, f"{OWNER:010d}")
    code = newest_code(town)
    page = client.get("/signin/code")
    clock.advance(seconds=limits.sign_in_code_valid_s + 1)
    response = client.post("/signin/code", data={"csrf": csrf_of(page.text), "code": code})
    assert response.status_code == 401
    assert count(town, "household_sessions") == 0
    with town.engine.connect() as conn:
        assert conn.execute(select(schema.household_codes.c.attempts)).scalar_one() == 0


def test_a_used_code_is_refused_the_second_time(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    ask_code(client, f"{OWNER:010d}")
    challenge = client.cookies.get("gp_challenge")
    code = newest_code(town)
    page = client.get("/signin/code")
    csrf = csrf_of(page.text)
    assert enter_code(client, code).url.path == "/home"
    client.cookies.set("gp_challenge", challenge or "", path="/signin")
    again = client.post("/signin/code", data={"csrf": csrf, "code": code})
    assert again.status_code == 401
    assert count(town, "household_sessions") == 1


def test_too_many_codes_for_one_account_are_refused_with_nothing_sent(
    client: TestClient, town
) -> None:  # type: ignore[no-untyped-def]
    for _ in range(limits.sign_in_codes_per_account_max):
        assert ask_code(client, f"{OWNER:010d}").status_code == 200
    refused = ask_code(client, f"{OWNER:010d}")
    assert refused.status_code == 429
    assert count(town, "messages") == limits.sign_in_codes_per_account_max
    assert count(town, "household_codes") == limits.sign_in_codes_per_account_max


def test_the_limit_per_client_address_holds_across_accounts(
    client: TestClient, town, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(limits, "sign_in_codes_per_client_max", 1)
    assert ask_code(client, f"{OWNER:010d}").status_code == 200
    assert ask_code(client, f"{OTHER:010d}").status_code == 429
    assert count(town, "messages") == 1


def test_a_new_code_supersedes_the_pending_one(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    ask_code(client, f"{OWNER:010d}")
    first_challenge = client.cookies.get("gp_challenge")
    first = newest_code(town)
    ask_code(client, f"{OWNER:010d}")
    client.cookies.set("gp_challenge", first_challenge or "", path="/signin")
    page = client.get("/signin")
    refused = client.post("/signin/code", data={"csrf": csrf_of(page.text), "code": first})
    assert refused.status_code == 401
    assert count(town, "household_sessions") == 0


def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_written(
    client: TestClient, town
) -> None:  # type: ignore[no-untyped-def]
    client.get("/signin")
    missing = client.post("/signin", data={"account_no": f"{OWNER:010d}"})
    forged = client.post("/signin", data={"account_no": f"{OWNER:010d}", "csrf": "ab" * 32})
    assert missing.status_code == 403 and forged.status_code == 403
    assert count(town, "messages") == 0 and count(town, "household_codes") == 0


def test_signed_in_forms_need_the_sessions_csrf_token(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    add_family(town)
    sign_in(client, town)
    grant = client.post("/settings/access", data={"phone": FAMILY_PHONE, "allow": "1"})
    assert grant.status_code == 403
    out = client.post("/signout", data={})
    assert out.status_code == 403
    everywhere = client.post("/signout/everywhere", data={"csrf": "0" * 64})
    assert everywhere.status_code == 403
    prefs = client.post("/prefs", data={"lang": "en"})
    assert prefs.status_code == 403
    assert count(town, "household_access") == 0
    with town.engine.connect() as conn:
        ended = conn.execute(select(schema.household_sessions.c.ended_at)).scalar_one()
    assert ended is None
    assert client.get("/home").url.path == "/home"


def test_an_unknown_account_gets_no_code(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    assert ask_code(client, "0000009999").status_code == 404
    assert ask_code(client, "12ab").status_code == 422
    assert count(town, "messages") == 0


def test_pages_need_a_session(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    for path in ("/home", "/activity", "/statements", "/statements/2026-11", "/settings"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/signin", path
    client.cookies.set("gp_session", "not-a-token")
    assert client.get("/home").url.path == "/signin"


def test_a_session_ends_when_idle_and_when_expired(
    client: TestClient, town, built, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town)
    clock.advance(minutes=built.settings.household_session_idle_minutes - 1)
    assert client.get("/home").url.path == "/home"  # seen again: the idle clock restarts
    clock.advance(minutes=built.settings.household_session_idle_minutes - 1)
    assert client.get("/home").url.path == "/home"
    clock.advance(minutes=built.settings.household_session_idle_minutes + 1)
    assert client.get("/home").url.path == "/signin"


def test_sign_out_ends_this_session_and_everywhere_ends_them_all(web_app, town) -> None:  # type: ignore[no-untyped-def]
    with TestClient(web_app) as phone, TestClient(web_app) as tablet:
        sign_in(phone, town)
        sign_in(tablet, town)
        page = phone.get("/settings")
        assert phone.post("/signout/everywhere", data={"csrf": csrf_of(page.text)}).url.path == (
            "/signin"
        )
        assert tablet.get("/home").url.path == "/signin"
        sign_in(tablet, town)
        sign_in(phone, town)
        page = tablet.get("/home")
        tablet.post("/signout", data={"csrf": csrf_of(page.text)})
        assert tablet.get("/home").url.path == "/signin"
        assert phone.get("/home").url.path == "/home"


def test_a_household_sees_only_its_own_account(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town, OWNER)
    page = client.get("/home", params={"account_no": f"{OTHER:010d}"})
    assert f"{OTHER:010d}" not in page.text
    csv = client.get("/statements/2026-11.csv").text
    statement = client.get("/statements/2026-11").text
    assert f"{OTHER:010d}" not in csv + statement
    # A code for another account cannot be sent to this household's phone either.
    refused = ask_code(client, f"{OTHER:010d}", contact_phone="13900000001")
    assert refused.status_code == 403


def test_the_owner_gives_a_family_member_read_only_access(web_app, town) -> None:  # type: ignore[no-untyped-def]
    add_family(town)
    with TestClient(web_app) as owner, TestClient(web_app) as daughter:
        # Without the owner's say, the family phone gets no code.
        assert ask_code(daughter, f"{OWNER:010d}", FAMILY_PHONE).status_code == 403
        assert count(town, "messages") == 0
        sign_in(owner, town)
        page = owner.get("/settings")
        assert "137****0077" in page.text
        granted = owner.post(
            "/settings/access",
            data={"csrf": csrf_of(page.text), "phone": FAMILY_PHONE, "allow": "1"},
        )
        assert granted.status_code == 200 and count(town, "household_access") == 1
        sent = ask_code(daughter, f"{OWNER:010d}", FAMILY_PHONE)
        assert "137****0077" in sent.text
        sign_in_code = newest_code(town, FAMILY_PHONE)
        assert enter_code(daughter, sign_in_code).url.path == "/home"
        home = daughter.get("/home").text
        assert 'id="read-only"' in home and 'href="/pay"' not in home
        # Read-only: the family member cannot change who has access.
        page = daughter.get("/settings")
        refused = daughter.post(
            "/settings/access",
            data={"csrf": csrf_of(page.text), "phone": FAMILY_PHONE, "allow": "0"},
        )
        assert refused.status_code == 403 and count(town, "household_access") == 1
        # The owner takes access back: the family member is signed out.
        page = owner.get("/settings")
        owner.post(
            "/settings/access",
            data={"csrf": csrf_of(page.text), "phone": FAMILY_PHONE, "allow": "0"},
        )
        assert count(town, "household_access") == 0
        assert daughter.get("/home").url.path == "/signin"


def test_the_owner_cannot_grant_a_phone_that_is_not_a_trusted_contact(
    client: TestClient, town
) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town)
    page = client.get("/settings")
    refused = client.post(
        "/settings/access", data={"csrf": csrf_of(page.text), "phone": "13612345678", "allow": "1"}
    )
    assert refused.status_code == 404 and count(town, "household_access") == 0


def test_no_account_number_or_phone_in_addresses_or_the_access_log(
    client: TestClient, town, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="gridpay.http.access"):
        sign_in(client, town)
        client.get("/home")
    lines = [r.getMessage() for r in caplog.records if r.name == "gridpay.http.access"]
    assert lines
    assert not any(f"{OWNER:010d}" in line or "13900000001" in line for line in lines)


def test_rate_limits_are_kept_in_the_database_across_apps(
    built, town, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from gridpay.entrypoints.http.app import create_app

    monkeypatch.setattr(limits, "sign_in_codes_per_account_max", 1)
    with TestClient(create_app(built)) as first:
        assert ask_code(first, f"{OWNER:010d}").status_code == 200
    with TestClient(create_app(built)) as restarted:
        assert ask_code(restarted, f"{OWNER:010d}").status_code == 429
    assert count(town, "messages") == 1


def test_the_window_passes_and_codes_can_be_sent_again(
    client: TestClient, town, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(limits, "sign_in_codes_per_account_max", 1)
    assert ask_code(client, f"{OWNER:010d}").status_code == 200
    assert ask_code(client, f"{OWNER:010d}").status_code == 429
    clock.advance(seconds=limits.sign_in_rate_window_s)
    assert ask_code(client, f"{OWNER:010d}").status_code == 200


def test_a_new_phone_on_the_account_signs_the_old_one_out(client: TestClient, town) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, town)
    assert client.get("/home").url.path == "/home"
    with town.engine.begin() as conn:  # a change of phone or of owner, confirmed at the counter
        conn.execute(
            schema.accounts.update()
            .where(schema.accounts.c.id == OWNER)
            .values(phone="13811112222")
        )
    assert client.get("/home").url.path == "/signin"
