"""A settlement run whose process ended part way is marked died, and the audit names its day as
half settled until a run finishes it (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

import pytest
from sqlalchemy import text

from gridpay.adapters.sql.store import SqlStore
from gridpay.services.audit import audit, days_fully_settled
from gridpay.services.settlement import settle_day
from tests.fakes import FakeClock
from tests.integration.settle_helpers import add_city, add_readings

D0, D1 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)


def _ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _add_run(store: SqlStore, day: dt.date, host: str, pid: int, accounts: int = 1) -> int:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        run_id = uow.conn.execute(
            text(
                "INSERT INTO settlement_runs (day, status, started_at, accounts, host, pid) "
                "VALUES (:d, 'running', :at, :n, :h, :p) RETURNING id"
            ),
            {
                "d": day,
                "at": dt.datetime(2026, 10, 3, tzinfo=dt.UTC),
                "n": accounts,
                "h": host,
                "p": pid,
            },
        ).scalar_one()
        uow.commit()
    return int(run_id)


def _status(store: SqlStore, run_id: int) -> str:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        return str(
            uow.conn.execute(
                text("SELECT status FROM settlement_runs WHERE id = :i"), {"i": run_id}
            ).scalar_one()
        )


def test_a_run_whose_process_ended_is_marked_died_at_the_next_start(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_city(store, 3)
    add_readings(store, ids, D0)
    add_readings(store, ids, D1)
    dead = _add_run(store, D0, socket.gethostname(), _ended_pid())
    alive = _add_run(store, D0, socket.gethostname(), os.getppid())  # pytest's parent: alive
    elsewhere = _add_run(store, D0, "another-host", _ended_pid())  # cannot tell: left alone
    settle_day(store, clock, D1)
    assert _status(store, dead) == "died"
    assert _status(store, alive) == "running"
    assert _status(store, elsewhere) == "running"


def test_a_run_recorded_under_this_process_but_not_started_by_it_has_died(
    store: SqlStore, clock: FakeClock
) -> None:
    # A container's PID 1 restarted gets the same id: the old run is not this process's.
    earlier = _add_run(store, D0, socket.gethostname(), os.getpid())
    with store.unit_of_work() as uow:
        assert uow.settlement.mark_died_runs(clock.now()) == [earlier]
        uow.commit()
    assert _status(store, earlier) == "died"


def test_audit_fails_on_a_day_a_run_left_half_settled_until_a_run_finishes_it(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_city(store, 3)
    add_readings(store, ids, D0)
    settle_day(store, clock, D0)
    assert days_fully_settled_ok(store)
    dead = _add_run(store, D1, socket.gethostname(), _ended_pid(), accounts=2)
    with store.unit_of_work() as uow:
        uow.settlement.mark_died_runs(clock.now())
        uow.commit()
    report = audit(store)
    assert not report.ok
    (check,) = report.failed_checks
    assert check.name == "days_fully_settled"
    assert check.failed == 1
    assert f"2026-10-02 (run {dead} died after 2 accounts)" in check.detail
    add_readings(store, ids, D1)
    settle_day(store, clock, D1)
    assert audit(store).ok


def days_fully_settled_ok(store: SqlStore) -> bool:
    with store.unit_of_work() as uow:
        return days_fully_settled(uow).ok


def test_a_run_that_raised_is_marked_died_when_this_process_starts_the_next(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_city(store, 3)
    add_readings(store, ids, D0)
    _set_tariff(store, "no-such-tariff")  # the run raises: no tariff in force to price with
    with pytest.raises(LookupError):
        settle_day(store, clock, D0)
    with store.unit_of_work() as uow:
        (failed,) = uow.settlement.runs(10)
        # Looked at from the thread that ran it, before it starts another: still its own.
        assert uow.settlement.mark_died_runs(clock.now()) == []
    assert failed.status == "running"
    _set_tariff(store, "henan-residential-tiered")
    settle_day(store, clock, D0)
    assert _status(store, failed.id) == "died"
    assert audit(store).ok


def _set_tariff(store: SqlStore, code: str) -> None:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.execute(text("UPDATE accounts SET tariff_code = :c"), {"c": code})
        uow.commit()
