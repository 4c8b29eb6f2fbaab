"""``gridpay readings import`` and ``gridpay readings quarantine`` from the command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gridpay.adapters.sql.store import SqlStore
from gridpay.entrypoints.cli import app

GRIDPAY = str(Path(sys.executable).parent / "gridpay")
METER = 202208310002
ACCOUNT = 4_100_000_002
# The CLI runs on the real clock: a day safely in the past, and one safely in the future.
PAST, FUTURE = "2026-01-10", "2999-01-01"


@pytest.fixture
def db(tmp_path: Path) -> str:
    """An initialised SQLite file with one account and its meter."""
    path = str(tmp_path / "gridpay.db")
    result = CliRunner().invoke(app, ["--db", path, "init"])
    assert result.exit_code == 0, result.output
    store = SqlStore(f"sqlite:///{path}")
    with store.unit_of_work() as uow:
        uow.registry.insert_accounts(
            pl.DataFrame(
                {
                    "id": [ACCOUNT],
                    "account_no": [f"{ACCOUNT:010d}"],
                    "name": ["Household"],
                    "phone": ["13900000000"],
                    "language": ["zh"],
                    "supply_type": ["direct"],
                    "tariff_code": ["henan-residential-tiered"],
                    "office_id": [1],
                    "billing_mode": ["prepaid"],
                    "created_at": [dt.datetime(2025, 1, 1)],
                }
            )
        )
        uow.registry.insert_meters(
            pl.DataFrame(
                {
                    "id": [METER],
                    "meter_no": [str(METER)],
                    "account_id": [ACCOUNT],
                    "has_tou": [False],
                    "has_switch": [True],
                    "breaker_a": [60],
                    "installed_on": [dt.date(2025, 1, 1)],
                    "removed_on": [None],
                    "initial_wh": [0],
                    "final_wh": [None],
                },
                schema_overrides={"removed_on": pl.Date, "final_wh": pl.Int64},
            )
        )
        uow.commit()
    store.dispose()
    return path


def readings_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "readings.csv"
    path.write_text("meter_no,date,total_kwh\n" + body, encoding="utf-8")
    return str(path)


def test_import_prints_the_report_and_the_rejected_rows_and_succeeds(
    db: str, tmp_path: Path
) -> None:
    path = readings_file(tmp_path, f"{METER},{PAST},1234.56\n{METER},{FUTURE},1\n123,{PAST},1\n")
    result = CliRunner().invoke(app, ["--db", db, "readings", "import", path])
    assert result.exit_code == 0, result.output
    assert "rows read" in result.output
    assert "future_date" in result.output
    assert "is not a 12-digit" in result.output  # the reason cell wraps at 80 columns
    assert "rejected rows (first 2 of 2)" in result.output


def test_import_json_report_counts_rows_by_outcome(db: str, tmp_path: Path) -> None:
    path = readings_file(tmp_path, f"{METER},{PAST},10\n{METER},{PAST},10\n{METER},{FUTURE},1\n")
    result = CliRunner().invoke(app, ["--db", db, "readings", "import", path, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["rows_read"], report["stored"], report["duplicates"]) == (3, 1, 1)
    assert report["quarantined_by_reason"] == {"future_date": 1}
    assert report["rejected"][0]["row_no"] == 3


def test_quarantine_lists_rejected_rows_as_json_and_filters_by_day(db: str, tmp_path: Path) -> None:
    path = readings_file(tmp_path, f"{METER},{PAST},x\n{METER},2026-01-11,y\n")
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "readings", "import", path]).exit_code == 0
    result = runner.invoke(app, ["--db", db, "readings", "quarantine", "--day", PAST, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["row_no"], r["day"], r["reason_code"]) for r in rows] == [(1, PAST, "malformed")]
    assert rows[0]["raw"] == f"{METER},{PAST},x"
    table = runner.invoke(app, ["--db", db, "readings", "quarantine", "--limit", "5"])
    assert table.exit_code == 0, table.output
    assert "readings.csv" in table.output


def test_quarantine_says_so_when_empty(db: str) -> None:
    result = CliRunner().invoke(app, ["--db", db, "readings", "quarantine"])
    assert result.exit_code == 0, result.output
    assert "the quarantine is empty" in result.output


def run_gridpay(*args: str) -> subprocess.CompletedProcess[str]:
    wide = {**os.environ, "COLUMNS": "400"}  # messages on one line, whatever the path length
    return subprocess.run(
        [GRIDPAY, *args], capture_output=True, text=True, timeout=120, check=False, env=wide
    )


def test_a_missing_file_exits_not_found_with_a_message(db: str, tmp_path: Path) -> None:
    result = run_gridpay("--db", db, "readings", "import", str(tmp_path / "nope.csv"))
    assert result.returncode == 4
    assert "does not exist" in result.stderr


def test_a_file_without_the_date_column_exits_invalid_input_naming_it(
    db: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"meter_no,total_kwh\n{METER},1\n", encoding="utf-8")
    result = run_gridpay("--db", db, "readings", "import", str(path))
    assert result.returncode == 3
    assert "lacks column(s) date" in result.stderr


def test_a_file_with_rejected_rows_still_exits_zero(db: str, tmp_path: Path) -> None:
    path = readings_file(tmp_path, f"{METER},{PAST},5\n{METER},{PAST},-5\n")
    result = run_gridpay("--db", db, "readings", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "total_kwh '-5' is negative" in result.stdout


def test_a_bad_day_for_the_quarantine_listing_exits_invalid_input(db: str) -> None:
    result = run_gridpay("--db", db, "readings", "quarantine", "--day", "yesterday")
    assert result.returncode == 3
    assert "--day 'yesterday' is not a date" in result.stderr
