"""Operator mistakes get one line and their own exit code; customer files are the owner's alone."""

from __future__ import annotations

import re
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridpay.adapters.sms import FileSmsGateway, HttpSmsGateway
from gridpay.entrypoints.cli._common import EXIT_CODES, run_app
from gridpay.errors import DeliveryFailed

Cli = tuple[int, str, str]


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRIDPAY_CONFIG", raising=False)
    monkeypatch.delenv("GRIDPAY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def gridpay(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Cli:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["gridpay", *args])
    code = run_app()
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- no database yet ---------------------------------------------------------------------------


def test_a_command_before_init_creates_no_database_and_says_to_run_init(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = gridpay(monkeypatch, capsys, "accounts", "list")
    assert code == EXIT_CODES["no_database"] == 10
    expected = "error (no_database): no database at gridpay.db: run `gridpay init` to create it"
    assert one_line(err) == expected
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_db_path_creates_nothing_and_names_the_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = gridpay(monkeypatch, capsys, "init")
    assert code == 0
    typo = tmp_path / "gridpya.db"
    code, _, err = gridpay(monkeypatch, capsys, "--db", str(typo), "account", "show", "1")
    assert code == 10
    assert f"no database at {typo}" in one_line(err)
    assert not typo.exists()


def test_an_empty_database_file_is_not_taken_for_a_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "gridpay.db").touch()
    code, _, err = gridpay(monkeypatch, capsys, "accounts", "list")
    assert code == 10
    assert "no gridpay tables in gridpay.db: run `gridpay init`" in one_line(err)


def test_init_creates_the_database_for_its_owner_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = gridpay(monkeypatch, capsys, "init")
    assert code == 0
    db = tmp_path / "gridpay.db"
    assert mode(db) == 0o600
    with sqlite3.connect(db) as conn:  # WAL and shared-memory files exist while it is open
        conn.execute("SELECT count(*) FROM accounts").fetchone()
        assert mode(Path(f"{db}-wal")) == 0o600
        assert mode(Path(f"{db}-shm")) == 0o600
    code, out, _ = gridpay(monkeypatch, capsys, "accounts", "list")
    assert (code, out.splitlines()[-1]) == (0, "0 of 0 account(s)")


def test_an_existing_database_keeps_the_mode_its_owner_gave_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert gridpay(monkeypatch, capsys, "init")[0] == 0
    db = tmp_path / "gridpay.db"
    db.chmod(0o640)
    assert gridpay(monkeypatch, capsys, "init")[0] == 0
    assert mode(db) == 0o640


def test_the_database_url_variable_takes_a_plain_path_like_the_db_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "elsewhere.db"
    monkeypatch.setenv("GRIDPAY_DATABASE_URL", str(db))
    assert gridpay(monkeypatch, capsys, "init")[0] == 0
    assert db.exists()
    code, out, _ = gridpay(monkeypatch, capsys, "accounts", "list")
    assert (code, out.splitlines()[-1]) == (0, "0 of 0 account(s)")


# --- PostgreSQL that cannot be reached ---------------------------------------------------------


def test_a_postgresql_nobody_listens_on_is_one_line_with_host_and_user_and_no_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://clerk:S3cret-pw@127.0.0.1:9/gridpay"
    code, out, err = gridpay(monkeypatch, capsys, "--db", url, "accounts", "list")
    assert code == EXIT_CODES["database_unreachable"] == 11
    line = one_line(err)
    assert line.startswith("error (database_unreachable): cannot connect to PostgreSQL at ")
    assert "127.0.0.1:9 as clerk" in line
    assert "refused" in line.lower()
    assert "S3cret-pw" not in out + err


@pytest.mark.postgres
def test_a_postgresql_refusing_the_password_says_so_and_masks_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pg_base_url: str
) -> None:
    wrong = make_url(pg_base_url).set(password="not-the-Password-42")
    url = wrong.render_as_string(hide_password=False)
    code, out, err = gridpay(monkeypatch, capsys, "--db", url, "accounts", "list")
    assert code == 11
    assert "password authentication failed" in one_line(err)
    assert "not-the-Password-42" not in out + err


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            'payment_amount_fen_max = "lots"',
            "setting payment_amount_fen_max in {path} must be a whole number, not str 'lots'",
        ),
        (
            "payment_amount_fen_mx = 500000",
            "unknown setting 'payment_amount_fen_mx' in {path} "
            "(did you mean payment_amount_fen_max?)",
        ),
        (
            "payment_amount_fen_max = -1",
            "setting payment_amount_fen_max in {path} must be above 0, not -1",
        ),
        (
            "head_end_latency_s = [-0.5, 5.0]",
            "setting head_end_latency_s in {path} must not be negative, not -0.5",
        ),
        ('offices = ["A", 2]', "setting offices in {path} must be a list of texts, not list"),
        ("hotline = 95598", "setting hotline in {path} must be text, not int 95598"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_key_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    setting: str,
    message: str,
) -> None:
    assert gridpay(monkeypatch, capsys, "init")[0] == 0
    config = tmp_path / "gridpay.toml"
    config.write_text(setting + "\n", encoding="utf-8")
    monkeypatch.setenv("GRIDPAY_CONFIG", str(config))
    code, _, err = gridpay(monkeypatch, capsys, "accounts", "list")
    assert code == EXIT_CODES["config_error"] == 8
    assert one_line(err).startswith("error (config_error): " + message.format(path=config))


# --- secrets and customer files ----------------------------------------------------------------


def test_the_sms_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    FileSmsGateway(path).send("13900000001", "余额不足", "k1")
    assert mode(path) == 0o600
    path.chmod(0o640)
    FileSmsGateway(path).send("13900000001", "余额不足", "k2")
    assert mode(path) == 0o640
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


def test_an_sms_gateway_error_names_the_provider_without_its_token() -> None:
    gateway = HttpSmsGateway("http://user:pw-123@127.0.0.1:9/send?token=tok-456", 0.5)
    with pytest.raises(DeliveryFailed) as caught:
        gateway.send("13900000001", "hello", "k1")
    gateway.close()
    assert "http://127.0.0.1:9/send" in caught.value.message
    assert "pw-123" not in caught.value.message
    assert "tok-456" not in caught.value.message


@pytest.mark.postgres
def test_bench_keep_on_postgresql_prints_the_url_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pg_base_url: str
) -> None:
    password = make_url(pg_base_url).password
    assert password, "the test database URL needs a password for this test to mean anything"
    args = ("bench", "settle", "--db", pg_base_url, "--accounts", "50", "--no-settle", "--keep")
    code, out, err = gridpay(monkeypatch, capsys, *args)
    # Rich wraps long lines at the terminal's width, even inside the URL: read it unwrapped.
    schema = re.search(r"search_path%3D(bench_[0-9a-f]+)", "".join(err.split()))
    assert schema is not None, err
    admin = create_engine(pg_base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema.group(1)} CASCADE"))
    admin.dispose()
    assert code == 0
    assert ":***@" in " ".join(err.split())
    assert f":{password}@" not in out + err


def test_no_secret_is_printed_for_an_unsupported_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "mysql://root:Hunter2-secret@127.0.0.1/gridpay"
    code, out, err = gridpay(monkeypatch, capsys, "--db", url, "accounts", "list")
    assert code == 8
    assert "unsupported database URL" in one_line(err)
    assert "Hunter2-secret" not in out + err
