"""Importers never crash on a messy file: bad rows are named, good rows land, on both engines."""

from __future__ import annotations

from pathlib import Path

from gridpay.adapters.sql.store import SqlStore
from tests.fakes import FakeClock
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
