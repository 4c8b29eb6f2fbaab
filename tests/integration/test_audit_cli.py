"""`gridpay audit`: exit 0 when the books balance, 7 naming the accounts when they do not."""

from __future__ import annotations

import json

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts, cli, execute


@pytest.fixture
def paid(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> SqlStore:
    add_accounts(store, [1, 2])
    for account_no, ref in (("0000000001", "A"), ("0000000002", "B")):
        cli(store, monkeypatch, capsys, "pay", account_no, "10", "--channel", "bank", "--ref", ref)
    return store


def test_audit_passes_on_sound_books(
    paid: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(paid, monkeypatch, capsys, "audit")
    assert code == 0
    assert "the books balance" in out


def test_audit_fails_with_exit_7_naming_the_account(
    paid: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(paid, "UPDATE ledger_accounts SET credits_posted_fen = 0 WHERE id = 2")
    code, out, err = cli(paid, monkeypatch, capsys, "audit")
    assert code == 7
    assert "FAILED" in out
    assert "cached_balances_match_transfers — 1 failing: 0000000002" in " ".join(err.split())


def test_audit_json_lists_every_check(
    paid: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(paid, "UPDATE ledger_accounts SET credits_posted_fen = 0 WHERE id = 1")
    code, out, _ = cli(paid, monkeypatch, capsys, "audit", "--json")
    assert code == 7
    report = json.loads(out)
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["cached_balances_match_transfers"]["accounts"] == ["0000000001"]
    assert checks["cached_balances_match_transfers"]["failed"] == 1
    assert checks["transfers_balanced"]["ok"] is True
    assert checks["transfers_balanced"]["checked"] == 2
