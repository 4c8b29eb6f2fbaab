"""A settlement process killed with SIGKILL part way, then re-run, leaves one clean run's ledger."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gridpay.services.settlement import settle_day
from tests.integration.settle_helpers import add_city, add_readings, fresh_sqlite_store, snapshot

pytestmark = pytest.mark.slow

D0, D1 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
ACCOUNTS = 3_000
CHUNK = 30
GRIDPAY = str(Path(sys.executable).parent / "gridpay")


def _usage_count(engine, day: dt.date) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM daily_usage WHERE day = :d"), {"d": day}
        ).scalar_one()


def _test_engine(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_settlement_killed_part_way_and_rerun_equals_one_clean_run(store, clock, db_url, tmp_path):
    ids = add_city(store, ACCOUNTS)
    add_readings(store, ids, D0)
    add_readings(store, ids, D1)
    settle_day(store, clock, D0)

    child_err = tmp_path / "child.err"
    with child_err.open("wb") as err:
        child = subprocess.Popen(
            [GRIDPAY, "--db", db_url, "settle", "--date", D1.isoformat()]
            + ["--chunk-accounts", str(CHUNK)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    engine = _test_engine(db_url)
    deadline = time.monotonic() + 60
    while _usage_count(engine, D1) == 0:
        assert child.poll() is None, child_err.read_text()
        assert time.monotonic() < deadline, "settlement never committed a chunk"
        time.sleep(0.002)
    # Freeze the child where it is (between chunks or inside one), then kill it: a lock would not
    # do on SQLite, where the child re-takes the write lock before a waiter's busy handler wakes.
    os.kill(child.pid, signal.SIGSTOP)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    settled_at_kill = _usage_count(engine, D1)
    engine.dispose()
    assert child.returncode == -signal.SIGKILL
    assert 0 < settled_at_kill < ACCOUNTS

    rerun = subprocess.run(
        [GRIDPAY, "--db", db_url, "settle", "--date", D1.isoformat(), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr

    clean = fresh_sqlite_store(tmp_path / "clean.db", clock)
    add_city(clean, ACCOUNTS)
    add_readings(clean, ids, D0)
    add_readings(clean, ids, D1)
    settle_day(clean, clock, D0)
    settle_day(clean, clock, D1)
    expected = snapshot(clean)
    clean.dispose()
    assert snapshot(store) == expected
