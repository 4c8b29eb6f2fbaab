"""Big registrations: on PostgreSQL the foreign keys are dropped and re-added around the inserts.

The threshold is lowered so that small files take the bulk path; on SQLite the path is a no-op
and the same behaviour is expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy
from sqlalchemy import inspect

from gridpay import limits
from gridpay.adapters.sql.registry_repo import SqlRegistryRepo
from gridpay.adapters.sql.store import SqlStore
from tests.fakes import FakeClock
from tests.integration.test_registry_import import (
    account_line,
    import_file,
    table_counts,
    write_csv,
)

TABLES = ("accounts", "meters", "ledger_accounts")


@pytest.fixture(autouse=True)
def bulk_from_one_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "bulk_registration_accounts_min", 1)
    monkeypatch.setattr(limits, "registry_insert_batch_rows", 10)


def foreign_keys(store: SqlStore) -> list[tuple[Any, ...]]:
    inspector = inspect(store.engine)
    return sorted(
        (
            table,
            fk["name"],
            tuple(fk["constrained_columns"]),
            fk["referred_table"],
            tuple(fk["referred_columns"]),
        )
        for table in TABLES
        for fk in inspector.get_foreign_keys(table)
    )


def test_a_bulk_import_lands_good_rows_reports_bad_ones_and_keeps_the_keys(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    keys = foreign_keys(store)
    assert len(keys) == 3
    lines = [account_line(i) for i in range(1, 31)]
    lines[4] = account_line(5, office="9")
    lines[9] = account_line(10, tariff="henan-gold")
    path = write_csv(tmp_path / "a.csv", lines)
    report = import_file(store, clock, path)
    assert (report.added, report.rejected) == (28, 2)
    assert [(p.row_no, p.kind) for p in report.problems] == [(6, "invalid"), (11, "invalid")]
    assert table_counts(store) == (28, 28, 28)
    assert foreign_keys(store) == keys
    again = import_file(store, clock, path)
    assert (again.added, again.unchanged, again.rejected) == (0, 28, 2)
    assert table_counts(store) == (28, 28, 28)


def test_a_bulk_import_that_fails_while_writing_leaves_nothing_and_the_keys_in_place(
    store: SqlStore, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = foreign_keys(store)
    original = SqlRegistryRepo.insert_meters
    calls = {"n": 0}

    def failing_insert_meters(self: SqlRegistryRepo, meters: pl.DataFrame) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return original(self, meters)

    monkeypatch.setattr(SqlRegistryRepo, "insert_meters", failing_insert_meters)
    path = write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 31)])
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(store, clock, path)
    assert table_counts(store) == (0, 0, 0)
    assert foreign_keys(store) == keys
    monkeypatch.setattr(SqlRegistryRepo, "insert_meters", original)
    assert import_file(store, clock, path).added == 30


@pytest.mark.postgres
def test_the_keys_added_back_still_refuse_a_dangling_row(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite does not enforce foreign keys")
    keys = foreign_keys(store)
    import_file(store, clock, write_csv(tmp_path / "a.csv", [account_line(1)]))
    dangling = pl.DataFrame(
        {
            "id": [999_999_999_999],
            "meter_no": ["999999999999"],
            "account_id": [42],  # no such account
            "has_tou": [False],
            "has_switch": [True],
            "breaker_a": [60],
            "installed_on": ["2024-03-01"],
            "initial_wh": [0],
        }
    ).with_columns(pl.col("installed_on").str.to_date())
    with (
        store.unit_of_work() as uow,
        pytest.raises(sqlalchemy.exc.IntegrityError, match="meters_account_id_fkey"),
        uow.registry.bulk_registration(10),
    ):
        uow.registry.insert_meters(dangling)
    assert foreign_keys(store) == keys
    assert table_counts(store) == (1, 1, 1)


def test_the_bulk_path_is_for_imports_big_next_to_what_is_registered(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    import_file(
        store, clock, write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 41)])
    )
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        if store.dialect == "postgresql":
            uow.conn.exec_driver_sql("ANALYZE accounts")
        repo = SqlRegistryRepo(uow.conn)
        # 40 registered: a quarter of them is 10.
        assert repo._bulk_pays(10) is (store.dialect == "postgresql")
        assert repo._bulk_pays(9) is False


@pytest.mark.postgres
def test_a_role_that_does_not_own_the_tables_takes_the_row_by_row_path(store: SqlStore) -> None:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        repo = SqlRegistryRepo(uow.conn)
        assert repo._bulk_pays(100) is True
        # A built-in role that owns nothing: no role is created, and the grant is rolled back
        # with this unit of work.
        test_schema = uow.conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        uow.conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {test_schema} TO pg_monitor")
        uow.conn.exec_driver_sql("SET LOCAL ROLE pg_monitor")
        assert repo._bulk_pays(100) is False


@pytest.mark.postgres
def test_tables_kept_busy_make_a_big_import_go_row_by_row_not_deadlock(
    store: SqlStore, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    monkeypatch.setattr(limits, "bulk_registration_lock_wait_s", 0.5)
    locked: list[bool] = []
    original = SqlRegistryRepo._lock_for_bulk

    def recording(self: SqlRegistryRepo) -> bool:
        locked.append(original(self))
        return locked[-1]

    monkeypatch.setattr(SqlRegistryRepo, "_lock_for_bulk", recording)
    keys = foreign_keys(store)
    path = write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 21)])
    with store.engine.connect() as reader:  # an audit, say, in the middle of reading the ledger
        reader.exec_driver_sql("SELECT count(*) FROM ledger_accounts").scalar()
        report = import_file(store, clock, path)
        reader.rollback()
    assert locked == [False]
    assert report.added == 20
    assert table_counts(store) == (20, 20, 20)
    assert foreign_keys(store) == keys
    import_file(store, clock, write_csv(tmp_path / "b.csv", [account_line(i) for i in (21, 22)]))
    assert locked == [False, True]
