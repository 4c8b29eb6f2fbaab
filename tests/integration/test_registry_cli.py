"""The accounts and meters commands, run in-process through ``run_app`` (exit codes included)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.entrypoints.cli import _common, run_app
from tests.integration.test_registry_import import HEADER, account_line, write_csv

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    # Wide consoles, so messages are not wrapped in the middle of what the tests look for.
    monkeypatch.setattr(_common.console, "_width", 300)
    monkeypatch.setattr(_common.err_console, "_width", 300)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["gridpay", "--db", store.url, *args])
        code = run_app()
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_import_prints_the_report_and_the_bad_rows(cli: Cli, tmp_path: Path) -> None:
    lines = [account_line(1), account_line(2, office="0"), account_line(3, billing_mode="")]
    code, out, _ = cli("accounts", "import", str(write_csv(tmp_path / "city.csv", lines)))
    assert code == 0
    assert "city.csv: 3 rows in" in out
    assert "2 added, 0 already registered, 0 repeated, 1 rejected" in out
    assert "office '0' is not a service office" in out
    assert "1 added account(s) had no billing_mode and are postpaid" in out


def test_import_again_reports_every_row_as_already_registered(cli: Cli, tmp_path: Path) -> None:
    path = str(write_csv(tmp_path / "city.csv", [account_line(i) for i in range(1, 4)]))
    cli("accounts", "import", path)
    code, out, _ = cli("accounts", "import", path, "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["added"], report["unchanged"], report["rejected"]) == (0, 3, 0)


def test_import_lists_at_most_twenty_bad_rows_and_counts_the_rest(cli: Cli, tmp_path: Path) -> None:
    lines = [account_line(i, tariff="nope") for i in range(1, 31)]
    code, out, _ = cli("accounts", "import", str(write_csv(tmp_path / "bad.csv", lines)))
    assert code == 0
    assert out.count("'nope' is not a known tariff code") == 20
    assert "… and 10 more" in out


def test_import_of_a_file_without_required_columns_exits_with_invalid_input(
    cli: Cli, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", ["1,2"], header="account_no,name")
    code, _, err = cli("accounts", "import", str(path))
    assert code == _common.EXIT_CODES["invalid_input"]
    assert "lacks column(s) supply_type, tariff, office, meter_no, installed_on" in err


def test_import_of_a_missing_file_exits_with_invalid_input(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("accounts", "import", str(tmp_path / "nowhere.csv"))
    assert code == _common.EXIT_CODES["invalid_input"]
    assert "no such file" in err


ADD = (
    "accounts",
    "add",
    "--account-no",
    "0000000042",
    "--name",
    "王五",
    "--supply-type",
    "direct",
    "--tariff",
    "henan-residential-tiered",
    "--office",
    "2",
    "--meter-no",
    "202208310042",
    "--installed-on",
    "2025-05-01",
)


def test_add_registers_one_account_and_a_retry_is_unchanged(cli: Cli) -> None:
    code, out, err = cli(*ADD, "--tou", "--initial-kwh", "12.5")
    assert code == 0
    assert "account 0000000042 registered with meter 202208310042" in out
    assert "no --billing-mode given, so the account is postpaid" in err
    code, out, _ = cli(*ADD, "--tou", "--initial-kwh", "12.5")
    assert code == 0
    assert "already registered with this data (unchanged)" in out
    code, out, _ = cli("accounts", "list", "--json")
    listing = json.loads(out)
    assert listing["total"] == 1
    assert listing["accounts"][0]["billing_mode"] == "postpaid"


def test_add_with_a_bad_field_or_a_clash_exits_non_zero(cli: Cli) -> None:
    code, _, err = cli(*ADD[:-1], "2025-05-32")
    assert code == _common.EXIT_CODES["invalid_input"]
    assert "installed_on '2025-05-32' is not a date" in err
    cli(*ADD)
    code, _, err = cli(*ADD[:-1], "2025-05-02")
    assert code == _common.EXIT_CODES["conflict"]
    assert "already registered with a different installed_on" in err


def test_meters_replace_and_list_show_the_new_meter(cli: Cli) -> None:
    cli(*ADD, "--billing-mode", "prepaid")
    replace = (
        "meters",
        "replace",
        "42",
        "--old-final-kwh",
        "1234.56",
        "--new-meter",
        "202611200042",
        "--new-initial-kwh",
        "0",
        "--date",
        "2026-11-20",
    )
    code, out, _ = cli(*replace)
    assert code == 0
    assert "meter 202208310042 removed and 202611200042 installed on 2026-11-20" in out
    code, out, _ = cli(*replace)
    assert code == 0
    assert "(unchanged)" in out
    code, out, _ = cli("accounts", "list", "--office", "2")
    assert "202611200042" in out
    assert "1 of 1 account(s)" in out


def test_meters_replace_refusals_map_to_exit_codes(cli: Cli) -> None:
    base = ("meters", "replace", "42", "--old-final-kwh", "1", "--new-meter", "202611200042")
    code, _, err = cli(*base, "--new-initial-kwh", "0", "--date", "2026-11-20")
    assert code == _common.EXIT_CODES["not_found"]
    cli(*ADD)
    code, _, err = cli(*base, "--new-initial-kwh", "0", "--date", "20 Nov")
    assert code == _common.EXIT_CODES["invalid_input"]
    assert "--date '20 Nov' is not a date" in err
    code, _, err = cli(*base, "--new-initial-kwh", "0", "--date", "2030-01-01")
    assert code == _common.EXIT_CODES["invalid_input"]
    assert "in the future" in err


def test_list_of_an_unknown_office_is_not_found(cli: Cli) -> None:
    code, _, err = cli("accounts", "list", "--office", "99")
    assert code == _common.EXIT_CODES["not_found"]
    assert "office 99" in err


def test_header_is_the_documented_one() -> None:
    # The columns the command's help promises are the ones the importer reads.
    from gridpay.domain.registry import COLUMNS

    opening = ["opening_kwh", "opening_ytd_kwh"]  # optional: a prepaid row's opening position
    assert sorted(HEADER.split(",") + opening) == sorted(COLUMNS)
