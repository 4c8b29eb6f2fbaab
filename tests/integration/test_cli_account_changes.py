"""`gridpay accounts change-tariff / change-phone / confirm-phone`: output and exit codes."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, cli, rows
from tests.integration.test_account_changes import OWNER_FROM, _enrolled_and_settled

A = "0000000001"


@pytest.fixture
def accounts(store: SqlStore) -> SqlStore:
    add_accounts(store, [1], billing_mode="postpaid")
    return store


def test_change_tariff_prints_the_change_and_its_retry_says_so(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (
        "accounts", "change-tariff", A, "--tariff", "henan-residential-shared",
        "--from", "2026-12-05", "--by", "clerk-17", "--reason", "moved to a shared meter",
    )  # fmt: skip
    code, out, err = cli(accounts, monkeypatch, capsys, *args)
    assert code == 0, err
    assert "henan-residential-tiered -> henan-residential-shared from 2026-12-05" in out
    assert "the tier year continues (by clerk-17: moved to a shared meter)" in out

    code, out, err = cli(accounts, monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["already_recorded"] is True
    assert (data["changed_by"], data["from_day"]) == ("clerk-17", "2026-12-05")


def test_change_tariff_without_a_reason_or_with_a_bad_day_is_refused(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(
        accounts, monkeypatch, capsys, "accounts", "change-tariff", A,
        "--tariff", "henan-residential-shared", "--from", "5 Dec", "--by", "clerk-17",
        "--reason", "x",
    )  # fmt: skip
    assert code != 0 and "is not a date" in err
    code, _, err = cli(
        accounts, monkeypatch, capsys, "accounts", "change-tariff", A,
        "--tariff", "henan-residential-shared", "--from", "2026-12-05", "--by", "clerk-17",
        "--reason", " ",
    )  # fmt: skip
    assert code != 0 and "say why" in err


def test_change_phone_then_confirm_it_with_the_code_sent_to_the_new_phone(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        accounts, monkeypatch, capsys, "accounts", "change-phone", A, "--phone", "13912345678",
        "--by", "clerk-17", "--reason", "new SIM",
    )  # fmt: skip
    assert code == 0, err
    assert "a code is queued for 13912345678" in out
    ((body,),) = rows(accounts, "SELECT body FROM messages WHERE phone = '13912345678'")
    match = re.search(r"(\d{6})", body.replace(A, ""))
    assert match is not None

    code, _, err = cli(
        accounts, monkeypatch, capsys, "accounts", "confirm-phone", A, "--code", "12345"
    )
    assert code != 0 and "6 digits" in err
    code, out, err = cli(
        accounts, monkeypatch, capsys, "accounts", "confirm-phone", A, "--code", match.group(1)
    )
    assert code == 0, err
    assert "messages now go to 13912345678" in out


def test_change_owner_of_an_account_without_an_agreement_is_refused_with_the_reason(
    accounts: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(
        accounts, monkeypatch, capsys, "accounts", "change-owner", A, "--from", "2026-12-05",
        "--name", "李娜", "--phone", "13655556666", "--by", "clerk-17", "--reason", "house sold",
    )  # fmt: skip
    assert code != 0
    assert "no smart-payment agreement in force" in err


def test_change_owner_prints_the_final_statement_and_the_new_agreement(
    store: SqlStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _enrolled_and_settled(store, clock, "100", OWNER_FROM - dt.timedelta(days=1))
    code, out, err = cli(
        store, monkeypatch, capsys, "--now", "2026-12-05T09:00", "accounts", "change-owner", A,
        "--from", "2026-12-05", "--name", "李娜", "--phone", "13655556666", "--by", "clerk-17",
        "--reason", "house sold", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert (data["old_name"], data["new_name"], data["sms_queued"]) == ("Household 1", "李娜", True)
    assert data["final_balance_fen"] > 0
    assert data["refund_transfer_id"] == f"refund/leave-{A}-{data['old_enrolment_id']}"
