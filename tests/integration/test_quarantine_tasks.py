"""A meter whose readings stay quarantined raises one staff task; a rebase closes it (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.rebase import RebaseMeter
from gridpay.services.credit import staff_tasks
from gridpay.services.rebase import raise_quarantine_tasks, rebase_meter
from gridpay.services.settlement import settle_range
from tests.fakes import FakeClock
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings

GRIDPAY = str(Path(sys.executable).parent / "gridpay")
DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(6)]
METER = METER_BASE + 1
WRONG_FIRST_WH = 150_000_000  # plausible for a meter installed 2025-01-01; really ~1000 kWh


def _poisoned(store: SqlStore) -> None:
    ids = add_city(store, 2)
    add_readings(store, [1], DAYS[0], **{"1": WRONG_FIRST_WH})
    for i, day in enumerate(DAYS):
        add_readings(store, [2], day, **{"2": 2_000_000 + 9_000 * i})
        if i:
            add_readings(store, [1], day, **{"1": 1_000_000 + 10_000 * i})
    assert ids == [1, 2]


def _open_tasks(store: SqlStore) -> list[dict]:
    return staff_tasks(store, open_only=True, limit=100).to_dicts()


def test_meter_quarantined_for_more_than_the_set_days_raises_one_staff_task(
    store: SqlStore, clock: FakeClock
) -> None:
    _poisoned(store)
    settle_range(store, clock, DAYS[0], DAYS[-1])
    # Refused on 10-02, 10-03, 10-04: three days, not more than three.
    assert raise_quarantine_tasks(store, clock, DAYS[3], 3) == 0
    assert raise_quarantine_tasks(store, clock, DAYS[4], 3) == 1
    assert raise_quarantine_tasks(store, clock, DAYS[5], 3) == 0  # still open: no second one
    (task,) = _open_tasks(store)
    assert task["account_no"] == "0000000001"
    assert task["kind"] == "readings_quarantined"
    assert (
        f"meter {METER:012d} quarantined on 4 days from 2026-10-02 to 2026-10-05"
        in (task["reason"])
    )
    assert "last accepted reading: 2026-10-01" in task["reason"]

    rebase_meter(store, clock, RebaseMeter(METER, DAYS[-1], 1_050_000, "Li Wei", "site visit"))
    assert _open_tasks(store) == []
    assert raise_quarantine_tasks(store, clock, DAYS[5], 3) == 0  # its readings are billed now


def test_settle_command_raises_the_task_and_tasks_lists_it(
    store: SqlStore, clock: FakeClock, db_url: str
) -> None:
    _poisoned(store)
    settled = subprocess.run(
        [GRIDPAY, "--db", db_url, "settle", "--from", "2026-10-01", "--to", "2026-10-06"]
        + ["--no-credit"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert settled.returncode == 0, settled.stderr
    said = " ".join(settled.stdout.split())
    assert "1 meters have had their readings quarantined for more than 3 days" in said
    tasks = subprocess.run(
        [GRIDPAY, "--db", db_url, "tasks", "--json"], capture_output=True, text=True, timeout=60
    )
    assert tasks.returncode == 0, tasks.stderr
    assert [t["kind"] for t in json.loads(tasks.stdout)] == ["readings_quarantined"]
