"""Finance reconciles a partner's day in the console (both engines): the statement uploaded
(multipart, size limit, CSRF), the result, a line missing on our side confirmed and posted as
that finance user, the day's report downloaded. Clerks and supervisors are refused with nothing
written; a bad file is refused whole, with a clear message and nothing written."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from gridpay import bootstrap, limits
from gridpay.domain.actors import Role, cli_actor
from gridpay.domain.partners import SignedHeaders
from gridpay.domain.payments import TakePayment
from gridpay.errors import Forbidden
from gridpay.services import partners, payments, staff
from tests.helpers_accounts import add_accounts, balance_fen, rows, scalar
from tests.http.test_console import PASSWORD, csrf_of, sign_in
from tests.partner_client import payment_body, signed_headers

DAY = "2026-11-28"  # the fake clock's local day: the partner's payments land on it
HEADER = "reference,account_no,amount_yuan,paid_at\n"
# Against R1 10.00 -> 1, R2 20.00 -> 2, R4 40.00 -> 4 received through the API: R1 matches, R2
# differs in amount, R4 is ours only, R5 theirs only.
STATEMENT = HEADER + (
    "R1,0000000001,10.00,2026-11-28T10:00:00+08:00\n"
    "R2,0000000002,25,2026-11-28T10:01:00+08:00\n"
    "R5,0000000003,50.50,2026-11-28T10:02:00+08:00\n"
)


@pytest.fixture
def desk(built: bootstrap.App) -> None:
    """Accounts 1-4 (office 1, prepaid); partner ICBC and its payments R1, R2, R4 (signed
    requests, as its API receives them); a finance user, an admin, a clerk and a supervisor."""
    add_accounts(built.store, range(1, 5), office_id=1)
    icbc = partners.add_partner(built.store, built.clock, code="ICBC", name="ICBC", kind="bank")
    path = "/partner/v1/payments"
    for ref, account, yuan in (("R1", 1, "10"), ("R2", 2, "20"), ("R4", 4, "40")):
        body = payment_body(ref, f"{account:010d}", yuan)
        ts = int(built.clock.now().timestamp())
        h = signed_headers(icbc.code, icbc.secret, "POST", path, body, ts)
        signed = SignedHeaders(h["X-Partner"], h["X-Timestamp"], h["X-Nonce"], h["X-Signature"])
        request = partners.SignedRequest("POST", path, signed, body)
        partners.pay(built.store, built.clock, built.settings, built.credit, request)
    for username, role, office in (
        ("qian", "finance", None),
        ("root", "admin", None),
        ("li", "clerk", 1),
        ("zhao", "supervisor", 1),
    ):
        staff.add_staff(
            built.store, built.clock, username=username, display_name=username.title(),
            password=PASSWORD, role=role, office_id=office, actor=cli_actor("root"),
        )  # fmt: skip


def upload(
    client: TestClient,
    csrf: str,
    data: bytes | str = STATEMENT,
    *,
    partner: str = "ICBC",
    day: str = DAY,
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    body = data.encode() if isinstance(data, str) else data
    return client.post(
        "/console/statements/upload",
        data={"partner": partner, "day": day, "csrf": csrf},
        files={"statement": ("icbc.csv", body, "text/csv")},
        headers=headers or {},
        follow_redirects=False,
    )


def counts(html: str) -> dict[str, int]:
    return {o: int(n) for o, n in re.findall(r'data-outcome="(\w+)">(\d+)</td>', html)}


def nothing_written(built: bootstrap.App) -> None:
    store = built.store
    assert scalar(store, "SELECT count(*) FROM reconciliation_lines") == 0
    assert scalar(store, "SELECT count(*) FROM staff_tasks") == 0
    assert scalar(store, "SELECT count(*) FROM audit_log WHERE action = 'reconciliation.run'") == 0


def test_finance_uploads_confirms_a_missing_line_and_downloads_the_report(
    client: TestClient, desk: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "qian")
    assert "/console/statements" in client.get("/console/").text  # finance sees the link
    page = upload(client, csrf)
    assert page.status_code == 200, page.text
    assert "已对账" in page.text
    assert counts(page.text) == {
        "matched": 1,
        "amount_differs": 1,
        "account_differs": 0,
        "missing_ours": 1,
        "missing_theirs": 1,
    }
    lines = dict(re.findall(r'data-reference="(\w+)" data-outcome="(\w+)"', page.text))
    assert lines == {"R2": "amount_differs", "R4": "missing_theirs", "R5": "missing_ours"}
    assert page.text.count('class="confirm"') == 1  # only the line missing on our side
    assert (
        scalar(built.store, "SELECT count(*) FROM staff_tasks WHERE kind = 'reconciliation'") == 3
    )
    run = rows(
        built.store,
        "SELECT actor_kind, actor_id, actor_role, subject FROM audit_log "
        "WHERE action = 'reconciliation.run'",
    )
    assert [tuple(r) for r in run] == [("staff", "qian", "finance", f"ICBC/{DAY}")]

    confirmed = client.post(
        "/console/statements/confirm",
        data={"partner": "ICBC", "day": DAY, "reference": "R5", "csrf": csrf},
    )
    assert confirmed.status_code == 200 and "款项已入账" in confirmed.text
    assert "已确认： qian" in confirmed.text
    assert balance_fen(built.store, 3) == 5_050
    taken = rows(
        built.store,
        "SELECT actor_kind, actor_id, subject FROM audit_log WHERE action = 'payment.take' "
        "AND account_id = 3",
    )
    assert [tuple(r) for r in taken] == [("staff", "qian", "pay/bank/ICBC-R5")]
    # The same form again (a double click) posts nothing twice.
    again = client.post(
        "/console/statements/confirm",
        data={"partner": "ICBC", "day": DAY, "reference": "R5", "csrf": csrf},
    )
    assert again.status_code == 200
    assert scalar(built.store, "SELECT count(*) FROM transfers WHERE id = 'pay/bank/ICBC-R5'") == 1
    assert balance_fen(built.store, 3) == 5_050

    report = client.get(f"/console/statements/report?partner=ICBC&day={DAY}")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    assert report.headers["cache-control"] == "no-store"
    got = {r["reference"]: r for r in csv.DictReader(io.StringIO(report.text))}
    assert set(got) == {"R1", "R2", "R4", "R5"}
    assert got["R2"]["outcome"] == "amount_differs"
    assert (got["R2"]["amount_yuan_ours"], got["R2"]["amount_yuan_theirs"]) == ("20.00", "25.00")
    assert got["R5"]["confirmed_by"] == "qian"


def test_the_day_shows_again_in_english_and_an_admin_may_reconcile(
    client: TestClient, desk: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "root")
    client.get("/console/lang/en")
    page = upload(client, csrf)
    assert page.status_code == 200 and "Reconciled; each mismatch is a finance task." in page.text
    shown = client.get(f"/console/statements?partner=ICBC&day={DAY}")
    assert shown.status_code == 200 and "missing on our side" in shown.text
    assert counts(shown.text)["missing_theirs"] == 1
    # Uploading the same statement again writes the same lines and opens no task twice.
    upload(client, csrf)
    assert scalar(built.store, "SELECT count(*) FROM staff_tasks") == 3


@pytest.mark.parametrize("username", ["li", "zhao"])
def test_clerks_and_supervisors_are_refused_with_nothing_written(
    client: TestClient, desk: None, built: bootstrap.App, username: str
) -> None:
    csrf = sign_in(client, username)
    assert "/console/statements" not in client.get("/console/").text
    assert client.get("/console/statements").status_code == 403
    refused = upload(client, csrf)
    assert refused.status_code == 403 and "finance" in refused.text
    nothing_written(built)
    assert client.get(f"/console/statements/report?partner=ICBC&day={DAY}").status_code == 403
    # A line reconciled by finance cannot be confirmed by them either.
    finance = TestClient(client.app)
    upload(finance, sign_in(finance, "qian"))
    confirmed = client.post(
        "/console/statements/confirm",
        data={"partner": "ICBC", "day": DAY, "reference": "R5", "csrf": csrf},
    )
    assert confirmed.status_code == 403
    assert balance_fen(built.store, 3) == 0
    assert (
        scalar(built.store, "SELECT confirmed_by FROM reconciliation_lines WHERE reference = 'R5'")
        is None
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("ref,account,amount\nR1,0000000001,10\n", "lacks the column(s) reference"),
        (STATEMENT.encode("utf-8").replace(b"R5", "对".encode("gbk")), "is not UTF-8"),
        (HEADER + "R1,0000000001,10.001,x\n", "line 2"),
        (HEADER + "R1,0000000001,-5,x\n", "line 2"),
        (b"", "choose the statement file"),
    ],
    ids=["wrong header", "not utf-8", "three decimals", "negative", "empty"],
)
def test_a_bad_file_is_refused_with_a_clear_message_and_nothing_written(
    client: TestClient, desk: None, built: bootstrap.App, data: bytes | str, message: str
) -> None:
    csrf = sign_in(client, "qian")
    refused = upload(client, csrf, data)
    assert refused.status_code == 422, refused.text
    assert message in refused.text
    nothing_written(built)


def test_an_unknown_partner_or_day_is_refused_with_nothing_written(
    client: TestClient, desk: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "qian")
    assert upload(client, csrf, partner="NOBODY").status_code == 404
    assert upload(client, csrf, day="28/11/2026").status_code == 422
    nothing_written(built)


def test_an_upload_over_the_size_limit_or_without_csrf_writes_nothing(
    client: TestClient, desk: None, built: bootstrap.App
) -> None:
    csrf = sign_in(client, "qian")
    too_large = upload(
        client,
        csrf,
        headers={"content-length": str(limits.console_statement_bytes_max + 1)},
    )
    assert too_large.status_code == 413 and "MB" in too_large.text
    forged = upload(client, "forged")
    assert (forged.status_code, forged.headers["location"]) == (303, "/console/sign-in")
    nothing_written(built)
    confirmed = client.post(
        "/console/statements/confirm",
        data={"partner": "ICBC", "day": DAY, "reference": "R5", "csrf": "forged"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert balance_fen(built.store, 3) == 0


def test_finance_takes_no_cash_at_a_counter(desk: None, built: bootstrap.App) -> None:
    (member,) = [m for m in staff.list_staff(built.store) if m.username == "qian"]
    finance = staff.actor_of(member)
    assert finance.role is Role.FINANCE
    cash = TakePayment("0000000001", amount_yuan="5", channel="counter", ref="X1", office_id=1)
    with pytest.raises(Forbidden, match="needs a clerk or a supervisor"):
        payments.take_payment(
            built.store, built.clock, built.settings, cash, built.credit, actor=finance
        )
    assert scalar(built.store, "SELECT count(*) FROM transfers WHERE id LIKE 'pay/counter/%'") == 0


def test_the_statement_pages_need_a_sign_in(client: TestClient, desk: None) -> None:
    for path in ("/console/statements", f"/console/statements/report?partner=ICBC&day={DAY}"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/statements/upload",
        data={"partner": "ICBC", "day": DAY, "csrf": csrf_of(page.text)},
        files={"statement": ("icbc.csv", STATEMENT.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")
