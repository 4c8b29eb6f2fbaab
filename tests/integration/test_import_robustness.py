"""Importers never crash on a messy file: bad rows are named, good rows land, on both engines."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.messages import Brand, MessageKind, render
from gridpay.entrypoints.cli._common import run_app
from tests.fakes import FakeClock
from tests.helpers_accounts import execute
from tests.integration.test_readings_import import M1, M2, add_meters, import_text, stored
from tests.integration.test_registry_import import (
    account_line,
    import_file,
    table_counts,
    write_csv,
)


def test_duplicates_among_invalid_rows_are_named_and_the_good_rows_land(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    # Clean and rejected rows reach the duplicate check as separate chunks; account 8 is on
    # two rows with different data and meter ...0003 on two invalid rows.
    lines = [
        account_line(3, account_no="bad"),
        account_line(1),
        account_line(8),
        account_line(4),
        account_line(2, name="Y Z", office="99"),
        account_line(7),
        account_line(8, office="x", meter_no="202208310003"),
        account_line(5),
    ]
    report = import_file(store, clock, write_csv(tmp_path / "a.csv", lines))
    assert (report.rows, report.added, report.rejected) == (8, 4, 4)
    assert [(p.row_no, p.kind) for p in report.problems] == [
        (2, "invalid"),
        (4, "duplicate"),
        (6, "invalid"),
        (8, "invalid"),
    ]
    assert "on 2 rows of this file with different data" in report.problems[1].problem
    assert table_counts(store) == (4, 4, 4)


def test_a_nul_or_a_bidi_override_in_a_name_refuses_that_row_only_on_both_engines(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    lines = [
        account_line(1),
        account_line(2, name="Zhang\x00Wei"),
        account_line(3, name="Li \u202eNa"),
        account_line(4, name="Wang\x1b[2JFang"),
        account_line(5),
    ]
    report = import_file(store, clock, write_csv(tmp_path / "a.csv", lines))
    assert (report.added, report.rejected) == (2, 3)
    assert [(p.row_no, p.problem) for p in report.problems] == [
        (3, "name holds U+0000, a control or text-direction character"),
        (4, "name holds U+202E, a control or text-direction character"),
        (5, "name holds U+001B, a control or text-direction character"),
    ]
    assert table_counts(store) == (2, 2, 2)


def test_a_nul_in_a_readings_row_quarantines_that_row_and_stores_the_rest_on_both_engines(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    body = f"{M1},2026-11-27,100\x00,,,,\n{M2},2026-11-27,7,,,,\n{M2},2026-11-26,\x00,,,,,\n"
    report = import_text(store, clock, tmp_path, body)
    assert (report.stored, report.quarantined) == (1, 2)
    assert [(r.row_no, r.reason) for r in report.rejected] == [
        (1, "total_kwh holds U+0000, a control or text-direction character"),
        (3, "the row has 8 field(s) where the header has 7"),
    ]
    assert [r[0] for r in stored(store)] == [M2]
    # A second import of the same file finds its rows already quarantined: nothing changes.
    again = import_text(store, clock, tmp_path, body)
    assert (again.stored, again.quarantine_rows_added) == (0, 0)


def test_a_name_with_control_characters_stored_earlier_reaches_no_sms_raw() -> None:
    brand = Brand(company_name_zh="国网", company_name_en="State Grid", hotline="95598")
    body = render(
        MessageKind.TRUSTED_CONTACT,
        "en",
        brand,
        account_no="0000000001",
        customer_name="Li\u202e\x1b[2J",
        balance_fen=-100,
        pay_by=dt.date(2026, 12, 1),
    )
    assert "\u202e" not in body
    assert "\x1b" not in body
    assert "Li\ufffd\ufffd[2J" in body


def test_account_show_prints_a_stored_name_without_its_control_characters(
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    import_file(store, clock, write_csv(tmp_path / "a.csv", [account_line(1)]))
    execute(store, "UPDATE accounts SET name = :n WHERE id = 1", n="Li\u202eNa\x1b[2J")
    monkeypatch.setattr(
        sys, "argv", ["gridpay", "--db", store.url, "account", "show", "0000000001"]
    )
    capsys.readouterr()
    assert run_app() == 0
    out = capsys.readouterr().out
    assert "Li\ufffdNa\ufffd[2J" in out
    assert "\u202e" not in out and "\x1b" not in out


def test_other_scripts_digits_and_year_zero_are_refused_rows_not_a_crash(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    lines = [
        account_line(1, meter_no="20220831\u0661\u0662\u06630"),
        account_line(2, installed_on="0000-01-01"),
        account_line(3),
    ]
    report = import_file(store, clock, write_csv(tmp_path / "a.csv", lines))
    assert (report.added, report.rejected) == (1, 2)
    assert [p.row_no for p in report.problems] == [2, 3]
    add_meters(store, [M1])
    readings = import_text(
        store, clock, tmp_path, f"{M1},0000-01-01,5,,,,\n{M1},2026-11-27,5,,,,\n"
    )
    assert (readings.stored, readings.quarantined) == (1, 1)
