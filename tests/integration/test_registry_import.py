"""Registering accounts through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import text

from gridpay import limits
from gridpay.adapters.account_files import read_accounts_csv
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.registry import RowStatus
from gridpay.errors import Conflict, InvalidInput
from gridpay.services import registry
from tests.fakes import FakeClock, NullProgress

HEADER = (
    "account_no,name,phone,language,supply_type,tariff,office,billing_mode,"
    "meter_no,has_tou,has_switch,installed_on,breaker_a,initial_kwh"
)


def account_line(i: int, **changes: str) -> str:
    fields = {
        "account_no": f"{i:010d}",
        "name": f"Customer {i}",
        "phone": f"138{i:08d}",
        "language": "zh",
        "supply_type": "direct",
        "tariff": "henan-residential-tiered",
        "office": str(i % 6 + 1),
        "billing_mode": "prepaid",
        "meter_no": f"{202208310000 + i:012d}",
        "has_tou": "false",
        "has_switch": "true",
        "installed_on": "2024-03-01",
        "breaker_a": "60",
        "initial_kwh": f"{i}.5",
    }
    fields.update(changes)
    return ",".join(fields.values())


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def import_file(store: SqlStore, clock: FakeClock, path: Path) -> registry.ImportReport:
    return registry.import_accounts(
        store, clock, read_accounts_csv(path), path.name, progress=NullProgress()
    )


def scalar(store: SqlStore, sql: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def table_counts(store: SqlStore) -> tuple[int, int, int]:
    return (
        scalar(store, "SELECT count(*) FROM accounts"),
        scalar(store, "SELECT count(*) FROM meters"),
        scalar(store, "SELECT count(*) FROM ledger_accounts WHERE kind = 'customer'"),
    )


def test_import_registers_accounts_meters_and_their_ledger_accounts(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 101)])
    report = import_file(store, clock, path)
    assert (report.rows, report.added, report.rejected, report.unchanged) == (100, 100, 0, 0)
    assert table_counts(store) == (100, 100, 100)
    with store.unit_of_work() as uow:
        account = uow.registry.account(7)
        (meter,) = uow.registry.meters_of(7)
    assert account is not None
    assert account.account_no == "0000000007"
    assert account.billing_mode == "prepaid"
    assert account.office_id == 2
    assert meter.meter_no == "202208310007"
    assert meter.initial_wh == 7_500
    assert meter.has_switch is True
    assert meter.removed_on is None
    assert scalar(store, "SELECT code FROM ledger_accounts WHERE id = 7") == "customer:0000000007"
    assert scalar(store, "SELECT debits_posted_fen + credits_posted_fen FROM ledger_accounts") == 0


def test_bad_rows_are_reported_by_row_and_good_rows_still_land(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    lines = [
        account_line(1),
        account_line(2, tariff="henan-gold"),
        account_line(3),
        account_line(4, office="9", installed_on="2024-13-01"),
        account_line(5, supply_type="shared"),
        account_line(1, name="Someone else"),
    ]
    report = import_file(store, clock, write_csv(tmp_path / "a.csv", lines))
    assert (report.added, report.rejected) == (1, 5)
    assert [(p.row_no, p.kind) for p in report.problems] == [
        (2, "duplicate"),
        (3, "invalid"),
        (5, "invalid"),
        (6, "invalid"),
        (7, "duplicate"),
    ]
    assert report.problems[1].problem == "tariff 'henan-gold' is not a known tariff code"
    assert "office '9'" in report.problems[2].problem
    assert "installed_on '2024-13-01'" in report.problems[2].problem
    assert table_counts(store) == (1, 1, 1)
    with store.unit_of_work() as uow:
        assert uow.registry.account(3) is not None
        assert uow.registry.account(1) is None


def test_importing_the_same_file_again_changes_nothing(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 51)])
    import_file(store, clock, path)
    clock.advance(days=1)
    again = import_file(store, clock, path)
    assert (again.added, again.unchanged, again.rejected) == (0, 50, 0)
    assert again.problems == ()
    assert table_counts(store) == (50, 50, 50)


def test_a_file_adding_to_earlier_imports_lands_only_the_new_rows(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    import_file(store, clock, write_csv(tmp_path / "a.csv", [account_line(i) for i in (1, 2)]))
    lines = [account_line(i) for i in (1, 2, 3)] + [account_line(4), account_line(4)]
    report = import_file(store, clock, write_csv(tmp_path / "b.csv", lines))
    assert (report.added, report.unchanged, report.repeated) == (2, 2, 1)
    assert report.problems[0].problem == "repeats row 5 exactly (that row is used)"
    assert table_counts(store) == (4, 4, 4)


def test_rows_clashing_with_registered_data_are_refused_and_the_database_kept(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    import_file(store, clock, write_csv(tmp_path / "a.csv", [account_line(1), account_line(2)]))
    lines = [
        account_line(1, name="Renamed", billing_mode="postpaid"),
        account_line(2, meter_no="000000000099"),
        account_line(3, meter_no=f"{202208310002:012d}"),
    ]
    report = import_file(store, clock, write_csv(tmp_path / "b.csv", lines))
    assert (report.added, report.rejected) == (0, 3)
    assert [p.problem for p in report.problems] == [
        "account_no 0000000001 is already registered with a different name, billing_mode",
        "account_no 0000000002 is already registered with another meter "
        "(a new meter is fitted with 'gridpay meters replace')",
        "meter_no 202208310002 is already registered to account 0000000002",
    ]
    assert scalar(store, "SELECT name FROM accounts WHERE id = 1") == "Customer 1"
    assert table_counts(store) == (2, 2, 2)


def test_a_file_missing_required_columns_is_refused_whole(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    header = HEADER.replace(",tariff", "").replace(",office", "")
    path = write_csv(tmp_path / "a.csv", ["0000000001,A,,zh,direct,prepaid"], header=header)
    with pytest.raises(InvalidInput, match="lacks column\\(s\\) tariff, office"):
        import_file(store, clock, path)
    assert table_counts(store) == (0, 0, 0)


def test_an_import_that_fails_while_writing_leaves_nothing_behind(
    store: SqlStore, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "registry_insert_batch_rows", 10)
    calls = {"n": 0}
    from gridpay.adapters.sql.registry_repo import SqlRegistryRepo

    original = SqlRegistryRepo.insert_meters

    def failing_insert_meters(self: SqlRegistryRepo, meters: pl.DataFrame) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return original(self, meters)

    monkeypatch.setattr(SqlRegistryRepo, "insert_meters", failing_insert_meters)
    path = write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 41)])
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(store, clock, path)
    assert table_counts(store) == (0, 0, 0)
    monkeypatch.setattr(SqlRegistryRepo, "insert_meters", original)
    assert import_file(store, clock, path).added == 40


def test_billing_mode_left_blank_is_postpaid_and_counted(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    lines = [account_line(1, billing_mode=""), account_line(2)]
    report = import_file(store, clock, write_csv(tmp_path / "a.csv", lines))
    assert report.billing_mode_defaulted == 1
    assert scalar(store, "SELECT billing_mode FROM accounts WHERE id = 1") == "postpaid"


def test_unknown_columns_are_ignored_and_named(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", [account_line(1) + ",x"], header=HEADER + ",remarks")
    report = import_file(store, clock, path)
    assert report.added == 1
    assert report.ignored_columns == ("remarks",)


# --- one account -------------------------------------------------------------------------------

ONE = {
    "account_no": "0000000042",
    "name": "王五",
    "supply_type": "direct",
    "tariff": "henan-residential-shared",
    "office": "6",
    "meter_no": "202208310042",
    "installed_on": "2026-11-01",
    "billing_mode": "prepaid",
}


def test_adding_one_account_then_the_same_again_is_new_then_unchanged(
    store: SqlStore, clock: FakeClock
) -> None:
    assert registry.add_account(store, clock, ONE) == RowStatus.NEW
    assert registry.add_account(store, clock, ONE) == RowStatus.UNCHANGED
    assert table_counts(store) == (1, 1, 1)


def test_adding_a_bad_account_raises_with_the_problem(store: SqlStore, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="meter_no '12' is not 12 digits"):
        registry.add_account(store, clock, {**ONE, "meter_no": "12"})


def test_adding_an_account_that_clashes_raises_conflict(store: SqlStore, clock: FakeClock) -> None:
    registry.add_account(store, clock, ONE)
    with pytest.raises(Conflict, match="different tariff_code"):
        registry.add_account(store, clock, {**ONE, "tariff": "henan-residential-tiered"})


def test_non_direct_supply_accounts_can_be_registered(store: SqlStore, clock: FakeClock) -> None:
    # Registered as they are; enrolment to prepaid is refused for them elsewhere.
    registry.add_account(
        store, clock, {**ONE, "supply_type": "non_direct", "billing_mode": "postpaid"}
    )
    assert scalar(store, "SELECT supply_type FROM accounts") == "non_direct"


# --- listing -------------------------------------------------------------------------------


def test_listing_filters_by_office_and_limits_rows(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    import_file(
        store, clock, write_csv(tmp_path / "a.csv", [account_line(i) for i in range(1, 25)])
    )
    listing = registry.list_accounts(store, office_id=2, limit=3)
    assert listing.total == 4  # accounts 1, 7, 13, 19
    assert [a.account_no for a in listing.accounts] == ["0000000001", "0000000007", "0000000013"]
    assert listing.accounts[0].meter_no == "202208310001"
    with pytest.raises(InvalidInput):
        registry.list_accounts(store, limit=0)


def test_reimporting_scattered_account_numbers_is_recognised_too(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    # Numbers spread over the whole 10-digit space are looked up in batches, not as one range.
    numbers = [i * 6_000_011 for i in range(1, 1_501)]
    lines = [account_line(n, meter_no=f"{n * 7:012d}", initial_kwh="0") for n in numbers]
    path = write_csv(tmp_path / "a.csv", lines)
    assert import_file(store, clock, path).added == 1_500
    again = import_file(store, clock, path)
    assert (again.added, again.unchanged, again.rejected) == (0, 1_500, 0)
    changed = write_csv(
        tmp_path / "b.csv", [account_line(numbers[-1], meter_no=f"{7:012d}", initial_kwh="0")]
    )
    (problem,) = import_file(store, clock, changed).problems
    assert "already registered with another meter" in problem.problem
