"""`gridpay staff ...` and `gridpay audit-log search`: passwords from stdin, the operator
recorded for CLI writes, JSON and CSV exports."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts, cli, scalar


def with_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_staff_are_added_listed_and_disabled_with_the_password_from_stdin(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with_stdin(monkeypatch, "a long password\n")
    code, out, err = cli(
        store, monkeypatch, capsys, "staff", "add", "li", "--name", "Li Wei", "--role", "clerk",
        "--office", "2", "--by", "root",
    )  # fmt: skip
    assert code == 0, err
    assert "added li (clerk at office 2)" in out
    hashed = str(scalar(store, "SELECT password_hash FROM staff WHERE username = 'li'"))
    assert hashed.startswith("$argon2id$") and "a long password" not in hashed
    code, out, _ = cli(store, monkeypatch, capsys, "staff", "list", "--json")
    assert [(m["username"], m["role"], m["office_id"], m["active"]) for m in json.loads(out)] == [
        ("li", "clerk", 2, True)
    ]
    code, out, _ = cli(store, monkeypatch, capsys, "staff", "disable", "li")
    assert code == 0 and "li is disabled" in out
    code, out, _ = cli(store, monkeypatch, capsys, "audit-log", "search", "--json")
    assert [(e["actor"], e["action"], e["subject"]) for e in json.loads(out)][-1] == (
        "cli:root",
        "staff.add",
        "li",
    )


def test_a_short_password_or_a_clerk_without_office_is_refused(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with_stdin(monkeypatch, "short\n")
    code, _, err = cli(store, monkeypatch, capsys, "staff", "add", "li", "--name", "Li",
                       "--role", "clerk", "--office", "1")  # fmt: skip
    assert code == 3 and "password needs" in err
    with_stdin(monkeypatch, "a long password\n")
    code, _, err = cli(store, monkeypatch, capsys, "staff", "add", "li", "--name", "Li",
                       "--role", "clerk")  # fmt: skip
    assert code == 3 and "give --office" in err
    assert scalar(store, "SELECT count(*) FROM staff") == 0


def test_a_cli_payment_records_its_operator_and_the_log_exports_as_csv(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_accounts(store, [1])
    code, _, err = cli(store, monkeypatch, capsys, "pay", "0000000001", "12.30", "--channel",
                       "bank", "--ref", "B-1", "--by", "zhang")  # fmt: skip
    assert code == 0, err
    code, out, _ = cli(
        store, monkeypatch, capsys, "audit-log", "search", "--account", "0000000001", "--csv"
    )
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["actor"], row["action"], row["subject"], row["amount_fen"]) == (
        "cli:zhang",
        "payment.take",
        "pay/bank/B-1",
        "1230",
    )
    code, out, _ = cli(store, monkeypatch, capsys, "audit-log", "search", "--actor", "nobody")
    assert code == 0 and "payment.take" not in out
