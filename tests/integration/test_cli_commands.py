"""`gridpay commands` and `gridpay commands dispatch` as staff and scripts use them."""

from __future__ import annotations

import json

import pytest

from gridpay.adapters.sql.credit_repo import SqlCreditRepo
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.commands import CommandAction
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, cli
from tests.integration.commands_helpers import command_frame, enqueue


@pytest.fixture
def queued(store: SqlStore, clock: FakeClock) -> SqlStore:
    add_accounts(store, [1, 2])
    enqueue(store, command_frame([1, 2], CommandAction.DISCONNECT, clock.now()))
    enqueue(store, command_frame([1], CommandAction.RECONNECT, clock.now()))
    return store


def test_commands_lists_an_accounts_commands_as_json(
    queued: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(queued, monkeypatch, capsys, "commands", "--account", "0000000001", "--json")
    assert code == 0
    listed = json.loads(out)
    assert {c["correlation_id"] for c in listed} == {
        "disconnect/0000000001/0",
        "reconnect/0000000001/0",
    }
    assert {c["state"] for c in listed} == {"queued"}
    assert listed[0]["account_no"] == "0000000001"
    assert listed[0]["created_at"] == "2026-11-28T02:00:00+00:00"


def test_commands_table_filters_by_state(
    queued: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(queued, monkeypatch, capsys, "commands", "--state", "queued")
    assert code == 0
    assert "0000000002" in out
    assert "disconnect" in out
    assert "made 2026-11-28 10:00:00" in out  # Beijing time
    code, out, _ = cli(queued, monkeypatch, capsys, "commands", "--state", "failed")
    assert (code, out.strip()) == (0, "no commands")


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("--state", "lost"), 3, "command state 'lost' is not one of queued, sent"),
        (("--account", "12x"), 3, "account number '12x' is not up to 10 digits"),
        (("--account", "0000000009"), 4, "account 0000000009 does not exist"),
        (("--limit", "0"), 3, "limit must be from 1 to"),
    ],
)
def test_bad_filters_exit_with_their_code_and_reason(
    queued: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    exit_code: int,
    message: str,
) -> None:
    code, _, err = cli(queued, monkeypatch, capsys, "commands", *args)
    assert code == exit_code
    assert message in " ".join(err.split())


@pytest.mark.skipif(
    not hasattr(SqlCreditRepo, "confirm_supply"), reason="waits for SqlCreditRepo.confirm_supply"
)
def test_dispatch_sends_due_commands_and_collects_the_answers(
    queued: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(queued, monkeypatch, capsys, "commands", "dispatch", "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["head_end"], report["sent"], report["acknowledged"]) == ("sim", 3, 3)
    assert len(report["latencies_s"]) == 3
    code, out, _ = cli(queued, monkeypatch, capsys, "commands", "--json")
    assert {c["state"] for c in json.loads(out)} == {"acknowledged"}
    code, out, _ = cli(queued, monkeypatch, capsys, "commands", "dispatch")
    assert code == 0
    assert "sent" in out
