"""`gridpay enrol / leave / protect / contacts / report enrolment`: output and exit codes."""

from __future__ import annotations

import json

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts, balance_fen, cli, execute

A = "0000000001"


@pytest.fixture
def accounts(store: SqlStore) -> SqlStore:
    add_accounts(store, [1, 2], billing_mode="postpaid")
    execute(store, "UPDATE accounts SET supply_type = 'non_direct' WHERE id = 2")
    return store


def test_enrol_at_an_office_with_an_opening_payment_prints_the_agreement_and_the_payment(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        accounts, monkeypatch, capsys, "enrol", A, "--office", "2", "--protected", "medical",
        "--opening-amount", "30", "--channel", "counter", "--ref", "C-9",
    )  # fmt: skip
    assert code == 0, err
    assert "enrolled account 0000000001" in out
    assert "at office 2" in out
    assert "agreement SMS is queued" in out
    assert "never cut remotely" in out
    assert "opening payment pay/counter/C-9 recorded after the agreement: 30.00 yuan" in out
    assert balance_fen(accounts, 1) == 3_000


def test_enrol_json_and_its_retry(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("enrol", A, "--online", "--language", "en", "--trusted-phone", "13600000001",
            "--trusted-name", "Li Na", "--json")  # fmt: skip
    code, out, _ = cli(accounts, monkeypatch, capsys, *args)
    assert code == 0
    first = json.loads(out)
    assert first["status"] == "recorded"
    assert (first["channel"], first["office_id"], first["sms_queued"]) == ("online", None, True)
    assert [(c["phone"], c["role"], c["language"]) for c in first["contacts"]] == [
        ("13900000001", "customer", "en"),
        ("13600000001", "trusted", "zh"),
    ]
    assert first["opening_payment"] is None
    code, out, _ = cli(accounts, monkeypatch, capsys, *args)
    again = json.loads(out)
    assert again["status"] == "already_recorded"
    assert again["enrolment_id"] == first["enrolment_id"]
    assert not again["sms_queued"]


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("enrol", "0000000002", "--office", "1"), 6, "meter in the home is not the company's"),
        (("enrol", A), 3, "--office N or --online"),
        (("enrol", A, "--office", "1", "--opening-amount", "5"), 3, "--channel and --ref"),
        (("enrol", "0000000009", "--online"), 4, "does not exist"),
        (("leave", A), 6, "not enrolled in smart payment"),
        (("protect", A), 3, "--reason medical|elderly_alone or --clear"),
        (("report", "enrolment", "--from", "June"), 3, "is not a date"),
    ],
)
def test_refusals_exit_with_their_code_and_reason(
    accounts: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    exit_code: int,
    message: str,
) -> None:
    code, _, err = cli(accounts, monkeypatch, capsys, *args)
    assert code == exit_code
    assert message in " ".join(err.split())


def test_leave_ends_the_agreement_tonight_and_says_how_the_balance_is_settled(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol = ("enrol", A, "--office", "1", "--opening-amount", "12.50", "--channel", "bank",
             "--ref", "B-1")  # fmt: skip
    assert cli(accounts, monkeypatch, capsys, *enrol)[0] == 0
    code, out, _ = cli(accounts, monkeypatch, capsys, "leave", A, "--json")
    assert code == 0
    receipt = json.loads(out)
    # The leaving day is not settled yet: the night settles it, then refunds what is left.
    assert (receipt["closed_out"], receipt["refund"], receipt["debt_fen"]) == (False, None, 0)
    assert (receipt["balance_fen"], receipt["sms_queued"]) == (1_250, 1)
    code, _, err = cli(accounts, monkeypatch, capsys, "enrol", A, "--online")
    assert code != 0
    assert "that day is not settled yet" in " ".join(err.split())
    assert cli(accounts, monkeypatch, capsys, "audit")[0] == 0


def test_protect_and_clear(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(accounts, monkeypatch, capsys, "protect", A, "--reason", "elderly_alone",
                       "--note", "lives alone", "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out) == {
        "account_no": A,
        "protected": True,
        "reason": "elderly_alone",
        "note": "lives alone",
        "changed": True,
    }
    code, out, _ = cli(accounts, monkeypatch, capsys, "protect", A, "--clear")
    assert code == 0
    assert "is not protected" in out


def test_contacts_are_listed_and_added(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(accounts, monkeypatch, capsys, "contacts", A, "--add", "13600000002",
                       "--language", "en", "--name", "Wang", "--json")  # fmt: skip
    assert code == 0
    added = json.loads(out)
    assert added["added"] is True
    assert added["contacts"] == [
        {"phone": "13600000002", "role": "trusted", "language": "en", "name": "Wang"}
    ]
    code, out, _ = cli(accounts, monkeypatch, capsys, "contacts", A)
    assert code == 0
    assert "13600000002" in out and "trusted" in out


def test_report_enrolment_json_and_table(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(accounts, monkeypatch, capsys, "enrol", A, "--office", "3")[0] == 0
    code, out, _ = cli(accounts, monkeypatch, capsys, "report", "enrolment", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["from"] == report["to"]
    overall = [r for r in report["rows"] if r["office_id"] is None]
    assert len(report["rows"]) == 7
    assert overall[0]["enrolled"] == 1
    assert overall[0]["eligible"] == 1
    assert overall[0]["share_pct"] == 100.0
    office_3 = next(r for r in report["rows"] if r["office_id"] == 3)
    assert office_3["signed_here"] == 1 and office_3["enrolled"] == 0
    assert "prepaid before the drive" in report["note"]
    code, out, _ = cli(accounts, monkeypatch, capsys, "report", "enrolment")
    assert code == 0
    assert "all offices" in out
    assert "100.0 %" in out
