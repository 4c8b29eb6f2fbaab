"""`gridpay messages` and `gridpay messages send` as staff and scripts use them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.messages import MessageKind
from tests.helpers_accounts import cli
from tests.integration.test_outbox_repo import add, outbox_rows

LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # due whatever the real clock says


@pytest.fixture
def sms_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings choosing the file gateway, writing into the test's folder."""
    path = tmp_path / "sms.jsonl"
    config = tmp_path / "gridpay.toml"
    config.write_text(f'sms_gateway = "file"\nsms_file = "{path}"\n', encoding="utf-8")
    monkeypatch.setenv("GRIDPAY_CONFIG", str(config))
    return path


@pytest.fixture
def outbox(store: SqlStore) -> SqlStore:
    add(store, outbox_rows([1, 2], created_at=LONG_AGO))
    add(store, outbox_rows([1], kind=MessageKind.ARREARS, created_at=LONG_AGO))
    return store


def test_messages_lists_the_outbox_newest_first_with_bodies(
    outbox: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages")
    assert code == 0
    assert out.index("arrears") < out.index("warning")
    assert "0000000002" in out
    assert "message for 2" in out
    assert "made 2020-01-01 08:00" in out  # local time, Asia/Shanghai


def test_messages_json_filters_by_account_kind_and_status(
    outbox: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        outbox, monkeypatch, capsys, "messages", "--account", "0000000001", "--kind", "warning",
        "--status", "pending", "--json",
    )  # fmt: skip
    assert code == 0
    (message,) = json.loads(out)
    assert message["account_no"] == "0000000001"
    assert message["kind"] == "warning"
    assert message["status"] == "pending"
    assert message["dedupe_key"] == "warning/0000000001/0/13900000001"
    assert message["body"] == "message for 1"
    assert message["created_at"] == "2020-01-01T00:00:00+00:00"


def test_messages_with_nothing_to_show_says_so(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(store, monkeypatch, capsys, "messages")
    assert (code, out.strip()) == (0, "no messages")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--status", "lost"), "status 'lost' is not known: use one of pending, sent, failed"),
        (("--kind", "hello"), "kind 'hello' is not known"),
        (("--account", "12"), "must be exactly 10 digits"),
        (("--limit", "0"), "limit must be between 1 and 1000"),
    ],
)
def test_unknown_filters_exit_3_naming_the_choices(
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    code, _, err = cli(store, monkeypatch, capsys, "messages", *args)
    assert code == 3
    assert message in " ".join(err.split())


def test_send_writes_due_messages_to_the_file_and_marks_them_sent(
    outbox: SqlStore,
    sms_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "send")
    assert code == 0
    assert "sent 3" in out
    assert "written to" in out
    lines = [json.loads(line) for line in sms_file.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["dedupe_key"] for line in lines) == [
        "arrears/0000000001/0/13900000001",
        "warning/0000000001/0/13900000001",
        "warning/0000000002/0/13900000002",
    ]
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "--status", "sent", "--json")
    assert len(json.loads(out)) == 3
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "send")
    assert (code, out.strip()) == (0, "no messages due")
    assert len(sms_file.read_text(encoding="utf-8").splitlines()) == 3


def test_send_json_reports_a_pass_limited_to_n_messages(
    outbox: SqlStore,
    sms_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "send", "--limit", "2", "--json")
    assert code == 0
    assert json.loads(out) == {
        "gateway": "file",
        "due": 2,
        "sent": 2,
        "failed_attempts": 0,
        "gave_up": 0,
    }


def test_send_through_an_unreachable_http_gateway_schedules_a_retry(
    outbox: SqlStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "http.toml"
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    config.write_text(
        'sms_gateway = "http"\nsms_http_url = "http://127.0.0.1:9/sms"\n', encoding="utf-8"
    )
    monkeypatch.setenv("GRIDPAY_CONFIG", str(config))
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "send", "--limit", "1")
    assert code == 0
    assert "1 failed and will be retried" in " ".join(out.split())
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "--json")
    retried = [m for m in json.loads(out) if m["attempts"] == 1]
    assert len(retried) == 1
    assert retried[0]["status"] == "pending"
    assert "could not be reached" in retried[0]["last_error"]
    code, out, _ = cli(outbox, monkeypatch, capsys, "messages", "--status", "pending")
    assert code == 0
    assert "last error: SMS gateway" in out
    assert "1 try" in out


def test_send_with_an_unknown_gateway_exits_8(
    outbox: SqlStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('sms_gateway = "pigeon"\n', encoding="utf-8")
    monkeypatch.setenv("GRIDPAY_CONFIG", str(config))
    code, _, err = cli(outbox, monkeypatch, capsys, "messages", "send")
    assert code == 8
    assert "unknown sms_gateway 'pigeon'" in err
