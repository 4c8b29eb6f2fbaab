"""`gridpay pay / refund / reverse` as a clerk or a script uses them: output and exit codes."""

from __future__ import annotations

import json

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts, balance_fen, cli

A = "0000000001"


@pytest.fixture
def store_with_account(store: SqlStore) -> SqlStore:
    add_accounts(store, [1])
    return store


def test_pay_prints_a_receipt_with_the_new_balance(
    store_with_account: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(
        store_with_account, monkeypatch, capsys, "pay", A, "100.50", "--channel", "counter",
        "--ref", "C-77", "--office", "2",
    )  # fmt: skip
    assert code == 0
    assert "recorded payment pay/counter/C-77: 100.50 yuan" in out
    assert "at office 2" in out
    assert "New balance 100.50 yuan" in out


def test_pay_retried_says_already_recorded(
    store_with_account: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("pay", A, "20", "--channel", "bank", "--ref", "B-1")
    assert cli(store_with_account, monkeypatch, capsys, *args)[0] == 0
    code, out, _ = cli(store_with_account, monkeypatch, capsys, *args, "--json")
    assert code == 0
    receipt = json.loads(out)
    assert receipt["status"] == "already_recorded"
    assert receipt["transfer_id"] == "pay/bank/B-1"
    assert receipt["balance_fen"] == 2_000
    assert receipt["balance_yuan"] == "20.00"
    code, out, _ = cli(store_with_account, monkeypatch, capsys, *args)
    assert "already recorded" in out
    assert balance_fen(store_with_account, 1) == 2_000


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (
            ("pay", A, "1", "--channel", "wechat", "--ref", "X"),
            3,
            "use one of app, counter, bank, agent",
        ),
        (("pay", A, "1.001", "--channel", "app", "--ref", "X"), 3, "more than 2 decimals"),
        (("pay", "0000000009", "1", "--channel", "app", "--ref", "X"), 4, "does not exist"),
        (("refund", A, "1", "--ref", "R"), 6, "exceeds the balance"),
        (("reverse", "pay/app/NONE"), 4, "does not exist"),
    ],
)
def test_refusals_exit_with_their_code_and_reason(
    store_with_account: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    exit_code: int,
    message: str,
) -> None:
    code, _, err = cli(store_with_account, monkeypatch, capsys, *args)
    assert code == exit_code
    assert message in " ".join(err.split())


def test_a_conflicting_duplicate_exits_5(
    store_with_account: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli(store_with_account, monkeypatch, capsys, "pay", A, "20", "--channel", "app", "--ref", "D")
    code, _, err = cli(
        store_with_account, monkeypatch, capsys, "pay", A, "21", "--channel", "app", "--ref", "D"
    )
    assert code == 5
    assert "pay/app/D was already recorded" in " ".join(err.split())


def test_refund_and_reverse_from_the_command_line(
    store_with_account: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli(store_with_account, monkeypatch, capsys, "pay", A, "50", "--channel", "agent", "--ref", "G")
    code, out, _ = cli(store_with_account, monkeypatch, capsys, "refund", A, "15", "--ref", "R-1")
    assert (code, "New balance 35.00 yuan" in out) == (0, True)
    code, out, _ = cli(
        store_with_account,
        monkeypatch,
        capsys,
        "reverse",
        "pay/agent/G",
        "--note",
        "bounced",
        "--json",
    )
    assert code == 0
    reversal = json.loads(out)
    assert reversal["transfer_id"] == "reversal/pay/agent/G"
    assert reversal["note"] == "bounced"
    assert reversal["balance_fen"] == -1_500
    code, _, err = cli(store_with_account, monkeypatch, capsys, "reverse", "reversal/pay/agent/G")
    assert code == 6
    assert "itself a reversal" in " ".join(err.split())
