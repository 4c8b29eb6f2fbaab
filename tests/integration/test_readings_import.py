"""Importing readings files into a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import text

from gridpay.adapters.bulk_files import read_readings_file
from gridpay.adapters.sql.db import bulk_insert
from gridpay.adapters.sql.store import SqlStore
from gridpay.services.readings import ImportReport, import_readings, quarantined
from tests.fakes import FakeClock, NullProgress

DAY = dt.date(2026, 11, 27)  # the fake clock's today is 2026-11-28
INSTALLED_ON = dt.date(2025, 1, 1)
HEADER = "meter_no,date,total_kwh,sharp_kwh,peak_kwh,flat_kwh,valley_kwh\n"
M1, M2, M3 = 202208310001, 202208310002, 202208310003


def account_of(meter_id: int) -> int:
    return 4_100_000_000 + meter_id % 1_000_000


def add_meters(
    store: SqlStore,
    meter_ids: list[int],
    *,
    installed_on: dt.date = INSTALLED_ON,
    removed_on: dt.date | None = None,
    account_id: int | None = None,
) -> None:
    """Register meters, each on its own new account unless ``account_id`` is given."""
    accounts = sorted({account_id or account_of(m) for m in meter_ids})
    n = len(accounts)
    with store.unit_of_work() as uow:
        new_accounts = [a for a in accounts if uow.registry.account(a) is None]
        if new_accounts:
            k = len(new_accounts)
            uow.registry.insert_accounts(
                pl.DataFrame(
                    {
                        "id": new_accounts,
                        "account_no": [f"{a:010d}" for a in new_accounts],
                        "name": ["Household"] * k,
                        "phone": [None] * k,
                        "language": ["zh"] * k,
                        "supply_type": ["direct"] * k,
                        "tariff_code": ["henan-residential-tiered"] * k,
                        "office_id": [1] * k,
                        "billing_mode": ["prepaid"] * k,
                        "created_at": [dt.datetime(2025, 1, 1)] * k,
                    },
                    schema_overrides={"phone": pl.String},
                )
            )
        assert n >= 1
        k = len(meter_ids)
        uow.registry.insert_meters(
            pl.DataFrame(
                {
                    "id": meter_ids,
                    "meter_no": [f"{m:012d}" for m in meter_ids],
                    "account_id": [account_id or account_of(m) for m in meter_ids],
                    "has_tou": [True] * k,
                    "has_switch": [True] * k,
                    "breaker_a": [60] * k,
                    "installed_on": [installed_on] * k,
                    "removed_on": [removed_on] * k,
                    "initial_wh": [0] * k,
                    "final_wh": [None] * k,
                },
                schema_overrides={"removed_on": pl.Date, "final_wh": pl.Int64},
            )
        )
        uow.commit()


def settle_by_hand(
    store: SqlStore,
    meter_id: int,
    day: dt.date,
    *,
    estimated: bool,
    account_id: int | None = None,
) -> None:
    """The daily_usage row settlement leaves for the meter's account and day."""
    row = {
        "day": day,
        "account_id": account_id or account_of(meter_id),
        "meter_id": meter_id,
        "tariff_code": "henan-residential-tiered",
        "estimated": estimated,
        "reading_wh": 1_000_000,
        "last_real_wh": 1_000_000,
        "energy_wh": 5_000,
        "charge_fen": 280,
        "ytd_wh": 5_000,
        "ytd_cost_nyuan": 2_800_000_000,
        "ytd_charged_fen": 280,
        "window_energy_wh": 5_000,
        "window_charge_fen": 280,
        "window_days": 1,
        "starts_run": True,
    }
    with store.unit_of_work() as uow:
        bulk_insert(uow.conn, "daily_usage", pl.DataFrame([row]))
        uow.commit()


def import_text(
    store: SqlStore, clock: FakeClock, tmp_path: Path, body: str, name: str = "day.csv"
) -> ImportReport:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    file = read_readings_file(path)
    return import_readings(store, clock, file.rows, file.source, NullProgress())


def rows_of(store: SqlStore, sql: str) -> list[tuple[Any, ...]]:
    with store.unit_of_work() as uow:
        return [tuple(r) for r in uow.conn.execute(text(sql))]


def stored(store: SqlStore) -> list[tuple[Any, ...]]:
    return rows_of(
        store,
        "SELECT meter_id, CAST(day AS TEXT), total_wh, sharp_wh, peak_wh, flat_wh, valley_wh, "
        "source FROM readings ORDER BY day, meter_id",
    )


def quarantine_rows(store: SqlStore) -> list[tuple[Any, ...]]:
    return rows_of(
        store,
        "SELECT row_no, reason_code, meter_no, raw, source FROM reading_quarantine "
        "ORDER BY row_no, id",
    )


def snapshot(store: SqlStore) -> tuple[list[tuple[Any, ...]], ...]:
    return (
        rows_of(store, "SELECT * FROM readings ORDER BY day, meter_id"),
        rows_of(store, "SELECT * FROM reading_quarantine ORDER BY id"),
        rows_of(store, "SELECT * FROM pending_trueups ORDER BY account_id, day"),
    )


# --- storing ------------------------------------------------------------------------------------


def test_good_rows_are_stored_in_wh_with_their_source(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    report = import_text(
        store,
        clock,
        tmp_path,
        f"{M1},2026-11-27,1234.56,100,200.5,300,400.06\n{M2},2026-11-27,7,,,,\n",
    )
    assert (report.rows_read, report.stored, report.duplicates, report.quarantined) == (2, 2, 0, 0)
    assert stored(store) == [
        (M1, "2026-11-27", 1_234_560, 100_000, 200_500, 300_000, 400_060, "day.csv"),
        (M2, "2026-11-27", 7_000, None, None, None, None, "day.csv"),
    ]


def test_readings_for_day_gives_every_meter_as_int64_with_nulls_where_absent(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    import_text(
        store,
        clock,
        tmp_path,
        f"{M1},2026-11-27,1234.56,100,200.5,300,400.06\n{M2},2026-11-27,7,,,,\n"
        f"{M1},2026-11-26,1200,,,,\n",
    )
    with store.unit_of_work() as uow:
        frame = uow.readings.readings_for_day(DAY).sort("meter_id")
    assert frame.schema == pl.Schema(
        {
            "day": pl.Date,
            "meter_id": pl.Int64,
            **{f"{r}_wh": pl.Int64 for r in ("total", "sharp", "peak", "flat", "valley")},
        }
    )
    assert frame.rows() == [
        (DAY, M1, 1_234_560, 100_000, 200_500, 300_000, 400_060),
        (DAY, M2, 7_000, None, None, None, None),
    ]


def test_a_mixed_file_stores_the_good_rows_and_quarantines_each_bad_one_with_its_reason(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    add_meters(store, [M3], installed_on=dt.date(2026, 11, 1), removed_on=dt.date(2026, 11, 20))
    body = (
        f"{M1},2026-11-27,100,,,,\n"  # 1 good
        f"{M1},2026-11-26,abc,,,,\n"  # 2 malformed
        f"999999999999,2026-11-27,5,,,,\n"  # 3 unknown meter
        f"{M2},2026-11-29,5,,,,\n"  # 4 future date
        f"{M3},2026-10-31,5,,,,\n"  # 5 before installation
        f"{M3},2026-11-21,5,,,,\n"  # 6 after removal
        f"{M2},2026-11-27,100,60,50,,\n"  # 7 registers above the total
        f"{M3},2026-11-20,5,,,,\n"  # 8 good: the removal day itself
        f"{M1},2026-11-27,101,,,,\n"  # 9 conflicts with row 1
        f"{M1},2026-11-27,-1,,,,\n"  # 10 negative
    )
    report = import_text(store, clock, tmp_path, body)
    assert report.stored == 2
    assert report.quarantined_by_reason == {
        "conflicting_reading": 1,
        "future_date": 1,
        "malformed": 2,
        "meter_not_installed": 1,
        "meter_removed": 1,
        "registers_exceed_total": 1,
        "unknown_meter": 1,
    }
    assert [(r[0], r[1]) for r in stored(store)] == [(M3, "2026-11-20"), (M1, "2026-11-27")]
    kept = quarantine_rows(store)
    assert [(r[0], r[1]) for r in kept] == [
        (2, "malformed"),
        (3, "unknown_meter"),
        (4, "future_date"),
        (5, "meter_not_installed"),
        (6, "meter_removed"),
        (7, "registers_exceed_total"),
        (9, "conflicting_reading"),
        (10, "malformed"),
    ]
    assert kept[0][2:] == (f"{M1}", f"{M1},2026-11-26,abc,,,,", "day.csv")
    assert [(r.row_no, r.reason) for r in report.rejected][:1] == [
        (2, "total_kwh 'abc' is not a number of kWh (like 1234.56)")
    ]


def test_a_new_meter_reads_from_its_installation_day_and_the_old_up_to_its_removal(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    replaced_on = dt.date(2026, 11, 20)
    account = account_of(M1)
    add_meters(store, [M1], removed_on=replaced_on)
    add_meters(store, [M2], installed_on=replaced_on, account_id=account)
    report = import_text(
        store,
        clock,
        tmp_path,
        f"{M1},2026-11-20,900,,,,\n{M2},2026-11-20,0.5,,,,\n"
        f"{M1},2026-11-21,901,,,,\n{M2},2026-11-19,0.1,,,,\n",
    )
    assert report.stored == 2
    assert report.quarantined_by_reason == {"meter_not_installed": 1, "meter_removed": 1}


# --- duplicates, conflicts and re-imports ---------------------------------------------------------


def test_an_identical_reading_from_another_file_is_a_no_op(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1])
    import_text(store, clock, tmp_path, f"{M1},2026-11-27,100,,,,\n", name="a.csv")
    before = snapshot(store)
    clock.advance(hours=1)
    report = import_text(store, clock, tmp_path, f"{M1},2026-11-27,100.000,,,,\n", name="b.csv")
    assert (report.stored, report.duplicates, report.quarantined) == (0, 1, 0)
    assert snapshot(store) == before


def test_a_different_reading_for_a_stored_day_is_quarantined_and_the_first_stays(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1])
    import_text(store, clock, tmp_path, f"{M1},2026-11-27,100,,,,\n", name="a.csv")
    report = import_text(store, clock, tmp_path, f"{M1},2026-11-27,100.01,,,,\n", name="b.csv")
    assert report.quarantined_by_reason == {"conflicting_reading": 1}
    assert [r[2] for r in stored(store)] == [100_000]
    assert report.rejected[0].reason == (
        f"meter {M1} already has 100.000 kWh for 2026-11-27; this row gives 100.010 kWh; "
        "the stored one stays"
    )


def test_reimporting_a_file_changes_nothing(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    settle_by_hand(store, M2, DAY, estimated=True)
    body = (
        f"{M1},2026-11-27,100,,,,\n{M1},2026-11-27,100,,,,\n{M1},2026-11-27,102,,,,\n"
        f"{M2},2026-11-27,55,,,,\nbad,2026-11-27,1,,,,\n"
    )
    first = import_text(store, clock, tmp_path, body)
    before = snapshot(store)
    clock.advance(hours=2)
    again = import_text(store, clock, tmp_path, body)
    assert snapshot(store) == before
    assert (first.stored, first.duplicates, first.quarantined) == (2, 1, 2)
    assert (first.quarantine_rows_added, first.pending_trueups) == (2, 1)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 3, 2)
    assert (again.quarantine_rows_added, again.pending_trueups) == (0, 0)


def test_nothing_is_written_when_the_import_fails_half_way(
    store: SqlStore, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridpay.adapters.sql.readings_repo import SqlReadingsRepo

    add_meters(store, [M1])
    before = snapshot(store)

    def failing(*args: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(SqlReadingsRepo, "quarantine", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_text(store, clock, tmp_path, f"{M1},2026-11-27,100,,,,\nbad,2026-11-27,1,,,,\n")
    assert snapshot(store) == before


# --- days already settled -----------------------------------------------------------------------


def test_a_late_reading_for_a_day_settled_on_an_estimate_is_stored_and_queued_for_trueup(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    settle_by_hand(store, M1, DAY, estimated=True)
    settle_by_hand(store, M2, DAY, estimated=False)
    report = import_text(
        store, clock, tmp_path, f"{M1},2026-11-27,100,,,,\n{M2},2026-11-27,100,,,,\n"
    )
    assert (report.stored, report.pending_trueups) == (2, 1)
    with store.unit_of_work() as uow:
        queued = uow.settlement.pending_trueups()
    assert queued.rows() == [(account_of(M1), DAY)]
    assert rows_of(store, "SELECT account_id, CAST(day AS TEXT) FROM pending_trueups") == [
        (account_of(M1), "2026-11-27")
    ]


def test_a_trueup_already_queued_is_not_queued_twice(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    account = account_of(M1)
    replaced_on = DAY
    add_meters(store, [M1], removed_on=replaced_on)
    add_meters(store, [M2], installed_on=replaced_on, account_id=account)
    settle_by_hand(store, M2, DAY, estimated=True, account_id=account)
    first = import_text(store, clock, tmp_path, f"{M1},2026-11-27,900,,,,\n", name="old.csv")
    second = import_text(store, clock, tmp_path, f"{M2},2026-11-27,0.2,,,,\n", name="new.csv")
    assert (first.pending_trueups, second.pending_trueups) == (1, 0)
    assert second.stored == 1
    assert len(rows_of(store, "SELECT * FROM pending_trueups")) == 1


def test_a_reading_for_a_day_settled_on_a_real_reading_follows_the_duplicate_rules(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1])
    import_text(store, clock, tmp_path, f"{M1},2026-11-27,100,,,,\n", name="a.csv")
    settle_by_hand(store, M1, DAY, estimated=False)
    report = import_text(
        store, clock, tmp_path, f"{M1},2026-11-27,100,,,,\n{M1},2026-11-27,99,,,,\n", name="b.csv"
    )
    assert (report.stored, report.duplicates, report.pending_trueups) == (0, 1, 0)
    assert report.quarantined_by_reason == {"conflicting_reading": 1}


def test_a_late_file_of_a_few_meters_is_checked_against_a_full_day_meter_by_meter(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    """The store is asked by lists of ids (a day with many rows, a file with few) and gives the
    same answers as when a day is read whole."""
    meters = [M1 + i for i in range(13)]
    add_meters(store, meters)
    day_file = "".join(f"{m},2026-11-27,{100 + i},,,,\n" for i, m in enumerate(meters[:12]))
    assert import_text(store, clock, tmp_path, day_file, name="day.csv").stored == 12
    for m in meters:
        settle_by_hand(store, m, DAY, estimated=m == meters[12])
    late = f"{meters[0]},2026-11-27,100,,,,\n{meters[1]},2026-11-27,1,,,,\n"
    late += f"{meters[12]},2026-11-27,7,,,,\n"
    report = import_text(store, clock, tmp_path, late, name="late.csv")
    assert (report.stored, report.duplicates, report.pending_trueups) == (1, 1, 1)
    assert report.quarantined_by_reason == {"conflicting_reading": 1}
    assert [r[:3] for r in stored(store)][-1] == (meters[12], "2026-11-27", 7_000)


# --- Parquet and the quarantine listing ----------------------------------------------------------


def test_parquet_and_csv_files_store_the_same_readings(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1, M2])
    import_text(store, clock, tmp_path, f"{M1},2026-11-27,1234.56,,5.5,,\n")
    path = tmp_path / "day.parquet"
    pl.DataFrame(
        {
            "meter_no": [M1, M2],
            "date": [DAY, DAY],
            "total_kwh": [1234.56, 88.8],
            "peak_kwh": [5.5, None],
        }
    ).write_parquet(path)
    file = read_readings_file(path)
    report = import_readings(store, clock, file.rows, file.source)
    assert (report.stored, report.duplicates) == (1, 1)
    assert stored(store) == [
        (M1, "2026-11-27", 1_234_560, None, 5_500, None, None, "day.csv"),
        (M2, "2026-11-27", 88_800, None, None, None, None, "day.parquet"),
    ]


def test_the_quarantine_lists_rows_by_day_newest_import_first(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_meters(store, [M1])
    import_text(store, clock, tmp_path, f"{M1},2026-11-26,x,,,,\n{M1},2026-11-27,y,,,,\n")
    clock.advance(hours=1)
    import_text(store, clock, tmp_path, f"{M1},2026-11-27,z,,,,\n", name="later.csv")
    on_day = quarantined(store, DAY, 10)
    assert on_day.select("source", "row_no", "reason_code").rows() == [
        ("later.csv", 1, "malformed"),
        ("day.csv", 2, "malformed"),
    ]
    assert on_day["received_at"].to_list() == ["2026-11-28 03:00:00", "2026-11-28 02:00:00"]
    assert quarantined(store, None, 1)["source"].to_list() == ["later.csv"]
