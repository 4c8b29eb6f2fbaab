"""A settlement killed part way: `gridpay runs` says it died, `gridpay audit` fails naming the
half-settled day, and a re-run finishes the day and the audit passes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gridpay.services.settlement import settle_day
from tests.integration.settle_helpers import add_city, add_readings

pytestmark = pytest.mark.slow

D0, D1 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
ACCOUNTS = 1_500
CHUNK = 20
GRIDPAY = str(Path(sys.executable).parent / "gridpay")


def _gridpay(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRIDPAY, "--db", db_url, *args], capture_output=True, text=True, timeout=120
    )


def _kill_part_way(db_url: str, tmp_path: Path) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    err_path = tmp_path / "child.err"
    with err_path.open("wb") as err:
        child = subprocess.Popen(
            [GRIDPAY, "--db", db_url, "settle", "--date", D1.isoformat(), "--no-credit"]
            + ["--chunk-accounts", str(CHUNK)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 60
    try:
        while True:
            with engine.connect() as conn:
                settled = conn.execute(
                    text("SELECT count(*) FROM daily_usage WHERE day = :d"), {"d": D1}
                ).scalar_one()
            if settled:
                break
            assert child.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, "settlement never committed a chunk"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGSTOP)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        engine.dispose()


def test_killed_settlement_is_marked_died_and_audit_reports_its_half_settled_day(
    store, clock, db_url, tmp_path
) -> None:
    ids = add_city(store, ACCOUNTS)
    add_readings(store, ids, D0)
    add_readings(store, ids, D1)
    settle_day(store, clock, D0)
    _kill_part_way(db_url, tmp_path)

    runs = _gridpay(db_url, "runs", "--json")
    assert runs.returncode == 0, runs.stderr
    statuses = {r["day"]: r["status"] for r in json.loads(runs.stdout)}
    assert statuses == {D0.isoformat(): "done", D1.isoformat(): "died"}

    audit = _gridpay(db_url, "audit")
    assert audit.returncode == 7, audit.stdout + audit.stderr
    said = " ".join((audit.stdout + audit.stderr).split())
    assert "days_fully_settled" in said
    assert "2026-10-02 (run 2 died after" in said

    rerun = _gridpay(db_url, "settle", "--date", D1.isoformat(), "--no-credit")
    assert rerun.returncode == 0, rerun.stderr
    audit = _gridpay(db_url, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
