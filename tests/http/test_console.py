"""The office console over HTTP (both engines): sign-in with CSRF and a rate limit, the
session cookie, every form's CSRF, and the role rules refused with nothing written."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from gridpay import bootstrap
from gridpay.domain.actors import cli_actor
from gridpay.services import staff
from tests.helpers_accounts import add_accounts, execute, scalar

PASSWORD = "correct horse battery"


@pytest.fixture
def people(built: bootstrap.App) -> None:
    """Accounts 1 (office 1, postpaid), 2 (office 2, prepaid), 3 (office 1, non-direct); a
    clerk and a supervisor at office 1, a clerk at office 2."""
    store = built.store
    add_accounts(store, [1], office_id=1, billing_mode="postpaid")
    add_accounts(store, [2], office_id=2)
    add_accounts(store, [3], office_id=1, billing_mode="postpaid")
    execute(store, "UPDATE accounts SET supply_type = 'non_direct' WHERE id = 3")
    for username, role, office in (
        ("li", "clerk", 1),
        ("zhao", "supervisor", 1),
        ("wang", "clerk", 2),
    ):
        staff.add_staff(
            store, built.clock, username=username, display_name=username.title(),
            password=PASSWORD, role=role, office_id=office, actor=cli_actor("root"),
        )  # fmt: skip


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Signed in: the CSRF token of the signed-in pages."""
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/").text)


def test_the_console_needs_a_sign_in(client: TestClient, people: None) -> None:
    for path in ("/console/", "/console/shift", "/console/queues", "/console/reports"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")


def test_signing_in_sets_an_http_only_session_cookie(client: TestClient, people: None) -> None:
    page = client.get("/console/sign-in")
    assert page.status_code == 200 and "登录" in page.text
    response = client.post(
        "/console/sign-in",
        data={"username": "li", "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "gridpay_console=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Li" in client.get("/console/").text


def test_a_sign_in_without_the_csrf_cookie_is_refused(client: TestClient, people: None) -> None:
    response = client.post(
        "/console/sign-in", data={"username": "li", "password": PASSWORD, "csrf": "forged"}
    )
    assert response.status_code == 403
    assert scalar(client.app.state.gridpay.store, "SELECT count(*) FROM staff_sessions") == 0  # type: ignore[attr-defined]


def test_failed_sign_ins_are_rate_limited(client: TestClient, people: None) -> None:
    for _ in range(5):
        page = client.get("/console/sign-in")
        response = client.post(
            "/console/sign-in",
            data={"username": "li", "password": "not the password", "csrf": csrf_of(page.text)},
        )
        assert response.status_code == 401
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"username": "li", "password": PASSWORD, "csrf": csrf_of(page.text)},
    )
    assert response.status_code == 429


def test_a_form_without_the_sessions_csrf_token_writes_nothing(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    sign_in(client, "li")
    response = client.post(
        "/console/enrol", data={"account_no": "0000000001", "csrf": "forged"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert scalar(built.store, "SELECT count(*) FROM enrolments") == 0


def test_a_clerk_enrols_takes_a_payment_and_prints_its_receipt(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "li")
    found = client.post("/console/find", data={"query": "Household 1", "csrf": csrf})
    assert "0000000001" in found.text and "139****0001" in found.text  # masked for a clerk
    assert "0000000002" not in found.text  # another office's household
    page = client.post("/console/enrol", data={"account_no": "0000000001", "csrf": csrf})
    assert page.status_code == 200 and "已签约" in page.text
    ref = re.search(r'name="ref" value="([^"]+)"', page.text)
    assert ref is not None
    paid = client.post(
        "/console/pay",
        data={"account_no": "0000000001", "amount": "88.50", "ref": ref.group(1), "csrf": csrf},
        follow_redirects=False,
    )
    assert paid.status_code == 303
    receipt = client.get(paid.headers["location"])
    assert "88.50" in receipt.text and "Office 1 (Jianxi)" in receipt.text
    # The same form again (a double click) is the same payment.
    again = client.post(
        "/console/pay",
        data={"account_no": "0000000001", "amount": "88.50", "ref": ref.group(1), "csrf": csrf},
        follow_redirects=False,
    )
    assert again.headers["location"] == paid.headers["location"]
    assert scalar(built.store, "SELECT count(*) FROM transfers WHERE kind = 'payment'") == 1


def test_a_non_direct_supply_household_shows_why_it_cannot_enrol(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "li")
    page = client.post("/console/household", data={"account_no": "0000000003", "csrf": csrf})
    assert "户内电表不属于供电公司" in page.text
    client.get("/console/lang/en")
    page = client.post("/console/household", data={"account_no": "0000000003", "csrf": csrf})
    assert "meter in the home is not the company" in page.text
    refused = client.post("/console/enrol", data={"account_no": "0000000003", "csrf": csrf})
    assert refused.status_code == 409
    assert scalar(built.store, "SELECT count(*) FROM enrolments") == 0


def test_a_clerk_cannot_open_pay_into_or_hold_another_offices_household(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "li")
    opened = client.post("/console/household", data={"account_no": "0000000002", "csrf": csrf})
    assert opened.status_code == 403
    paid = client.post(
        "/console/pay",
        data={"account_no": "0000000002", "amount": "5", "ref": "X1", "csrf": csrf},
    )
    assert paid.status_code == 403
    held = client.post(
        "/console/hold", data={"account_no": "0000000002", "reason": "x", "csrf": csrf}
    )
    assert held.status_code == 403
    assert scalar(built.store, "SELECT count(*) FROM transfers") == 0
    assert scalar(built.store, "SELECT count(*) FROM protections") == 0


def test_a_clerk_cannot_hold_a_cut_nor_explain_a_shift(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "li")
    held = client.post(
        "/console/hold", data={"account_no": "0000000001", "reason": "x", "csrf": csrf}
    )
    assert held.status_code == 403
    closed = client.post("/console/shift/close", data={"counted": "10", "csrf": csrf})
    assert closed.status_code == 200
    close_id = int(scalar(built.store, "SELECT id FROM shift_closes"))
    explained = client.post(
        "/console/shift/explain",
        data={"close_id": str(close_id), "explanation": "mine", "csrf": csrf},
    )
    assert explained.status_code == 403
    assert scalar(built.store, "SELECT explained_at FROM shift_closes") is None


def test_the_queues_and_reports_render_for_a_supervisor(client: TestClient, people: None) -> None:
    sign_in(client, "zhao")
    assert client.get("/console/queues").status_code == 200
    reports = client.get("/console/reports")
    assert reports.status_code == 200 and "Office 1 (Jianxi)" in reports.text


def test_signing_out_ends_the_session(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "li")
    client.post("/console/sign-out", data={"csrf": csrf})
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert scalar(built.store, "SELECT count(*) FROM staff_sessions WHERE ended_at IS NULL") == 0


def test_static_files_are_served_and_others_are_not(client: TestClient) -> None:
    assert client.get("/static/console/console.css").status_code == 200
    assert (
        client.get("/static/console/console.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )
    assert client.get("/static/console/..%2Fapp.py").status_code == 404


def test_the_queue_shows_each_decisions_reason_and_the_offices_tasks_only(
    client: TestClient, people: None, built: bootstrap.App
) -> None:
    add_accounts(built.store, [4], office_id=1)
    execute(
        built.store,
        "INSERT INTO credit_state (account_id, state, cycle, pay_by, supply, updated_at) VALUES "
        "(4, 'arrears', 0, '2026-11-20', 'on', '2026-11-28 02:00:00'), "
        "(2, 'disconnected', 0, '2026-11-10', 'off', '2026-11-28 02:00:00')",
    )
    execute(
        built.store,
        "INSERT INTO credit_decisions (key, account_id, at, action, reason_code, reason) VALUES "
        "('k1', 4, '2026-11-28 02:00:00', 'hold', 'holiday', 'not cut on a public holiday')",
    )
    execute(
        built.store,
        "INSERT INTO staff_tasks (key, account_id, kind, reason, created_at) VALUES "
        "('t1', 4, 'protected', 'call the customer', '2026-11-28 02:00:00'), "
        "('t2', 2, 'cut_failed', 'other office task', '2026-11-28 02:00:00')",
    )
    sign_in(client, "li")
    page = client.get("/console/queues").text
    assert "0000000004" in page and "not cut on a public holiday" in page
    assert "call the customer" in page
    assert "0000000002" not in page and "other office task" not in page
