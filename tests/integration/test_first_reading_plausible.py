"""A bogus first reading no longer poisons a meter: it is quarantined, and the real readings
that follow it are billed as real (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text

from gridpay.adapters.bulk_files import read_readings_file
from gridpay.adapters.sql.store import SqlStore
from gridpay.services.readings import import_readings
from gridpay.services.settlement import settle_range
from tests.fakes import FakeClock, NullProgress
from tests.integration.settle_helpers import METER_BASE, add_city

D1 = dt.date(2026, 10, 1)
DAYS = [D1 + dt.timedelta(days=i) for i in range(5)]
METER_NO = f"{METER_BASE + 1:012d}"


def _import(store: SqlStore, clock: FakeClock, tmp_path: Path, kwh: list[str]):
    body = "".join(f"{METER_NO},{d},{k}\n" for d, k in zip(DAYS, kwh, strict=True))
    path = tmp_path / "readings.csv"
    path.write_text("meter_no,date,total_kwh\n" + body, encoding="utf-8")
    file = read_readings_file(path)
    return import_readings(store, clock, file.rows, file.source, NullProgress())


def _usage(store: SqlStore) -> list[tuple[dt.date, int, bool]]:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        rows = uow.conn.execute(
            text("SELECT day, energy_wh, estimated FROM daily_usage ORDER BY day")
        ).all()
    return [(dt.date.fromisoformat(str(d)), int(e), bool(est)) for d, e, est in rows]


def test_first_reading_of_twelve_digits_is_quarantined_at_import_and_later_ones_are_real(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_city(store, 1)
    report = _import(store, clock, tmp_path, ["999999999999", "1000", "1010", "1020", "1030"])
    assert report.quarantined_by_reason == {"register_too_large": 1}
    assert "6 whole digits" in report.rejected[0].reason
    settle_range(store, clock, DAYS[0], DAYS[-1])
    # 10-01 waits for a first reading; 10-02 is the baseline; then real days, none estimated.
    assert _usage(store) == [
        (DAYS[1], 0, False),
        (DAYS[2], 10_000, False),
        (DAYS[3], 10_000, False),
        (DAYS[4], 10_000, False),
    ]


def test_first_reading_beyond_the_breaker_since_installation_is_quarantined_by_settlement(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    # Installed the day before with an initial register of 0: 900,000 kWh is out of reach.
    add_city(store, 1, installed_on=D1 - dt.timedelta(days=1))
    report = _import(store, clock, tmp_path, ["900000", "20", "30", "40", "50"])
    assert report.quarantined == 0  # six digits: the import cannot know
    reports = settle_range(store, clock, DAYS[0], DAYS[-1])
    assert [r.quarantined for r in reports] == [1, 0, 0, 0, 0]
    assert _usage(store) == [
        (DAYS[1], 0, False),
        (DAYS[2], 10_000, False),
        (DAYS[3], 10_000, False),
        (DAYS[4], 10_000, False),
    ]
    with store.unit_of_work() as uow:
        q = uow.readings.quarantine_rows(DAYS[0], 10).row(0, named=True)
    assert q["reason_code"] == "implausible_first_reading"
    assert q["meter_no"] == METER_NO
