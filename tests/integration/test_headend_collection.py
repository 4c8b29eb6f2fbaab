"""The nightly collection through the DL/T 645 head-end: every prepaid meter's closing freeze
into the readings import, the failed meters listed, and the night settling what it collected."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd
from gridpay.adapters.sql.store import SqlStore
from gridpay.services.collection import HeadEndCollector, collect_day
from gridpay.services.night import run_night
from gridpay.simulation.meter_fleet import FleetMeter, MeterFleet, RunningFleet
from tests.fakes import FakeClock
from tests.helpers_accounts import cli, rows
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings, register_wh

DAY = dt.date(2026, 12, 7)
FAST = ClientOptions(reply_timeout_s=0.3, attempts_max=2, connections=2)


@pytest.fixture
def city(store: SqlStore) -> list[int]:
    ids = add_city(store, 6)
    add_city(store, 1, first_id=7)
    with store.unit_of_work() as uow:  # a postpaid household: not the prepaid collection's
        assert uow.conn is not None
        from sqlalchemy import text

        uow.conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid' WHERE id = 7"))
        uow.commit()
    add_readings(store, ids, DAY - dt.timedelta(days=1))
    return ids


@pytest.fixture
def fleet(city: list[int], clock: FakeClock) -> MeterFleet:
    clock.set(local(DAY, 0, 30))  # the fleet's registers are those of the start of DAY
    meters = [
        FleetMeter(METER_BASE + i, 9_000, (register_wh(i, DAY - dt.timedelta(days=1)), 0, 0, 0, 0))
        for i in [*city, 7]
    ]
    fleet = MeterFleet(meters, clock.now)
    clock.set(local(DAY + dt.timedelta(days=1), 2, 0))  # the night after DAY
    return fleet


@pytest.fixture
def endpoint(fleet: MeterFleet) -> Iterator[tuple[str, int]]:
    with RunningFleet(fleet) as bound:
        yield bound


@pytest.fixture
def head_end(endpoint: tuple[str, int]) -> Iterator[Dlt645HeadEnd]:
    head = Dlt645HeadEnd(*endpoint, options=FAST)
    try:
        yield head
    finally:
        head.close()


def stored(store: SqlStore) -> pl.DataFrame:
    return pl.DataFrame(
        [
            dict(r._mapping)
            for r in rows(store, "SELECT meter_id, day, total_wh, source FROM readings")
        ]
    )


def test_every_prepaid_meter_is_read_and_the_failed_are_listed(store, clock, fleet, head_end):
    fleet.inject(METER_BASE + 2, "silent")
    fleet.inject(METER_BASE + 5, "bad_checksum")
    report = collect_day(store, clock, head_end, DAY)
    assert (report.meters, report.collected, report.failed) == (6, 4, 2)
    assert [f.meter_id for f in report.failures] == [METER_BASE + 2, METER_BASE + 5]
    assert report.success_rate == pytest.approx(4 / 6)
    assert report.source == f"dlt645:{head_end.endpoint}"
    assert report.imported is not None and report.imported.stored == 4
    day_rows = stored(store).filter(pl.col("source") == report.source)
    assert sorted(day_rows["meter_id"]) == [METER_BASE + i for i in (1, 3, 4, 6)]
    for row in day_rows.iter_rows(named=True):
        _, registers = fleet.last_freeze(row["meter_id"])
        assert row["total_wh"] == registers[0] // 10 * 10
        assert str(row["day"]) == str(DAY)  # SQLite gives text


def test_collecting_a_day_again_stores_nothing_twice(store, clock, fleet, head_end):
    collect_day(store, clock, head_end, DAY)
    again = collect_day(store, clock, head_end, DAY)
    assert again.imported is not None
    assert (again.imported.stored, again.imported.duplicates) == (0, 6)


def test_a_freeze_of_another_day_is_a_failure_not_a_reading(store, clock, fleet, head_end):
    clock.set(local(DAY + dt.timedelta(days=2), 2, 0))  # DAY's freeze is now the second last
    report = collect_day(store, clock, head_end, DAY)
    assert report.collected == 6
    report = collect_day(store, clock, head_end, DAY + dt.timedelta(days=1))
    assert report.collected == 6
    with pytest.raises(Exception, match="has not ended"):
        collect_day(store, clock, head_end, DAY + dt.timedelta(days=2))


def test_the_night_collects_before_it_settles(store, clock, credit, fleet, head_end):
    fleet.inject(METER_BASE + 3, "garbled")
    collector = HeadEndCollector(store, clock, head_end)
    night = run_night(store, clock, credit, days=[DAY], collector=collector, judge=False)
    assert night.readings_collected == 5
    [report] = collector.reports
    assert [f.meter_id for f in report.failures] == [METER_BASE + 3]
    usage = rows(
        store, "SELECT account_id, estimated, energy_wh FROM daily_usage WHERE day = :d", d=DAY
    )
    by_account = {r.account_id: (r.estimated, r.energy_wh) for r in usage}
    assert by_account[3][0]  # settled on an estimate: its meter could not be read
    for account_id in (1, 2, 4, 5, 6):
        _, registers = fleet.last_freeze(METER_BASE + account_id)
        previous = register_wh(account_id, DAY - dt.timedelta(days=1))
        assert by_account[account_id] == (False, registers[0] // 10 * 10 - previous)


def write_config(tmp_path: Path, host: str, port: int) -> Path:
    path = tmp_path / "gridpay.toml"
    path.write_text(
        f'head_end = "dlt645"\nhead_end_host = "{host}"\nhead_end_port = {port}\n'
        "head_end_reply_timeout_s = 0.3\nhead_end_attempts = 2\n",
        encoding="utf-8",
    )
    return path


def test_headend_collect_reports_the_rate_and_the_failed_meters(
    store, fleet, endpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GRIDPAY_CONFIG", str(write_config(tmp_path, *endpoint)))
    fleet.inject(METER_BASE + 4, "silent")
    now = "2026-12-08T02:00"
    code, out, err = cli(
        store, monkeypatch, capsys, "--now", now, "headend", "collect", "--date", str(DAY), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["meters"], report["collected"], report["stored"]) == (6, 5, 5)
    assert report["failures"] == [
        {
            "meter_no": f"{METER_BASE + 4:012d}",
            "error": f"meter {METER_BASE + 4:012d}: no valid answer to 2 requests of 0.3 s each",
        }
    ]
    code, out, _ = cli(
        store, monkeypatch, capsys, "--now", now, "headend", "collect", "--date", str(DAY)
    )
    assert code == 0
    assert "5 of 6 meters (83.33%), 1 failed" in " ".join(out.split())
    assert f"{METER_BASE + 4:012d}" in out


def test_headend_read_shows_one_meter(store, fleet, endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRIDPAY_CONFIG", str(write_config(tmp_path, *endpoint)))
    code, out, err = cli(
        store, monkeypatch, capsys, "headend", "read", "--meter", f"{METER_BASE + 1:012d}", "--json"
    )
    assert code == 0, err
    read = json.loads(out)
    assert read["relay"] == "closed (supply on)"
    assert read["head_end"] == "dlt645:{}:{}".format(*endpoint)


def test_headend_commands_need_the_dlt645_head_end(store, monkeypatch, capsys):
    code, _, err = cli(store, monkeypatch, capsys, "headend", "collect", "--date", str(DAY))
    assert code == 8
    assert 'set head_end = "dlt645"' in " ".join(err.split())
