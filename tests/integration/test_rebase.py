"""Staff replace a poisoned meter's base with a checked reading: the refuted reading goes to the
quarantine, the days settle again with only the differences posted, and the real readings that
were refused are billed (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.rebase import RebaseMeter
from gridpay.errors import InvalidInput, Refused
from gridpay.services.audit import audit
from gridpay.services.rebase import rebase_meter
from gridpay.services.settlement import settle_range
from tests.fakes import FakeClock
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings, fresh_sqlite_store

GRIDPAY = str(Path(sys.executable).parent / "gridpay")
DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(6)]
METER = METER_BASE + 1
# Installed 2025-01-01 at 0 kWh with 60 A: 150,000 kWh is within reach, so it passes as a first
# reading, and every later real one is refused as going backwards.
WRONG_FIRST_WH = 150_000_000
REAL_WH = [1_000_000 + 10_000 * i for i in range(6)]  # 1000, 1010, ... 1050 kWh


def _city(store: SqlStore, registers: list[int | None]) -> None:
    add_city(store, 1)
    for day, wh in zip(DAYS, registers, strict=True):
        if wh is not None:
            add_readings(store, [1], day, **{"1": wh})


def _usage(store: SqlStore) -> list[tuple[dt.date, int, int, bool]]:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        rows = uow.conn.execute(
            text("SELECT day, energy_wh, charge_fen, estimated FROM daily_usage ORDER BY day")
        ).all()
    return [(dt.date.fromisoformat(str(d)), int(e), int(c), bool(x)) for d, e, c, x in rows]


def _balance(store: SqlStore) -> int:
    with store.unit_of_work() as uow:
        return uow.ledger.balance_fen(1)


def _check(day: dt.date, kwh: int, **kw: str) -> RebaseMeter:
    return RebaseMeter(
        METER,
        day,
        kwh * 1_000,
        kw.get("by", "Li Wei (meter reader 0412)"),
        kw.get("reason", "site visit: the register reads 1050 kWh"),
    )


def test_checked_reading_replaces_a_wrong_base_and_later_readings_are_billed(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    _city(store, [WRONG_FIRST_WH, *REAL_WH[1:]])
    settle_range(store, clock, DAYS[0], DAYS[-1])
    poisoned = _usage(store)
    assert [est for *_, est in poisoned] == [False, True, True, True, True, True]

    report = rebase_meter(store, clock, _check(DAYS[-1], 1_050))

    assert report.refuted == ((DAYS[0], WRONG_FIRST_WH),)
    assert report.replaced_wh == REAL_WH[-1]  # the stored reading agrees: kept as it is
    assert report.resettled_from == DAYS[0]
    # What settling without the wrong reading gives: 10-02 is the baseline, then real days.
    clean = fresh_sqlite_store(tmp_path / "clean.db", clock)
    _city(clean, [None, *REAL_WH[1:]])
    settle_range(clean, clock, DAYS[0], DAYS[-1])
    assert _usage(store) == _usage(clean)
    assert [(d, e, x) for d, e, _, x in _usage(store)] == [
        (DAYS[1], 0, False),
        *((d, 10_000, False) for d in DAYS[2:]),
    ]
    assert _balance(store) == _balance(clean)
    charged_fen = sum(c for _, _, c, _ in _usage(store))
    assert report.corrected_fen == charged_fen - sum(c for _, _, c, _ in poisoned) > 0
    clean.dispose()
    assert audit(store, days=None).ok, audit(store, days=None).failed_checks
    with store.unit_of_work() as uow:
        q = uow.readings.quarantine_rows(DAYS[0], 10)
    refuted = q.filter(q["reason_code"] == "refuted_by_check").row(0, named=True)
    assert refuted["total_wh"] == WRONG_FIRST_WH
    assert "Li Wei" in refuted["reason"] and "1050.00 kWh on 2026-10-06" in refuted["reason"]


def test_rebase_is_recorded_with_who_and_why_and_refuses_implausible_values(
    store: SqlStore, clock: FakeClock
) -> None:
    _city(store, [WRONG_FIRST_WH, *REAL_WH[1:]])
    with pytest.raises(InvalidInput, match="whole digits"):
        rebase_meter(store, clock, _check(DAYS[-1], 999_999_999_999))
    with pytest.raises(InvalidInput, match="more than a 60 A breaker delivers"):
        rebase_meter(store, clock, _check(DAYS[-1], 900_000))
    with pytest.raises(InvalidInput, match="--reason"):
        rebase_meter(store, clock, _check(DAYS[-1], 1_050, reason=" "))
    rebase_meter(store, clock, _check(DAYS[-1], 1_050))
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        row = uow.conn.execute(
            text("SELECT day, total_wh, refuted_readings, checked_by, reason FROM reading_rebases")
        ).one()
    assert (str(row[0]), row[1], row[2]) == ("2026-10-06", 1_050_000, 1)
    assert row[3].startswith("Li Wei") and row[4].startswith("site visit")


def test_rebase_refuses_to_leave_charged_days_without_a_reading_to_start_from(
    store: SqlStore, clock: FakeClock
) -> None:
    # The wrong first reading, then no readings until the checked day: the days between were
    # charged on estimates and would have nothing to start from.
    _city(store, [WRONG_FIRST_WH, None, None, None, None, None])
    settle_range(store, clock, DAYS[0], DAYS[-1])
    with pytest.raises(Refused, match="2026-10-02 to 2026-10-05 were charged on estimates"):
        rebase_meter(store, clock, _check(DAYS[-1], 1_050))
    # A checked reading of the first day itself is the new base.
    report = rebase_meter(store, clock, _check(DAYS[0], 1_000))
    assert report.refuted == ((DAYS[0], WRONG_FIRST_WH),)
    assert [e for _, e, _, _ in _usage(store)][0] == 0
    assert audit(store, days=None).ok


def test_readings_rebase_command_reports_the_change_and_refuses_an_implausible_reading(
    store: SqlStore, clock: FakeClock, db_url: str
) -> None:
    _city(store, [WRONG_FIRST_WH, *REAL_WH[1:]])
    settle_range(store, clock, DAYS[0], DAYS[-1])
    args = [GRIDPAY, "--db", db_url, "readings", "rebase", f"{METER:012d}", "--date"]
    common = ["--by", "Li Wei", "--reason", "site visit"]
    refused = subprocess.run(
        [*args, "2026-10-06", "--kwh", "999999999999", *common],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 3, refused.stderr
    assert "whole digits" in " ".join(refused.stderr.split())
    done = subprocess.run(
        [*args, "2026-10-06", "--kwh", "1050", *common, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["refuted"] == [{"day": "2026-10-01", "kwh": "150000.00"}]
    assert said["resettled_from"] == "2026-10-01"
    assert said["corrected_yuan"] == "8.40"  # 40 kWh at 0.56 less five 5-kWh estimates


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_rebased_meter_ends_with_the_ledger_of_never_having_had_the_wrong_reading(
    store: SqlStore, clock: FakeClock, tmp_path_factory: pytest.TempPathFactory, data
) -> None:
    """Any run of daily registers (some days missing), a wrong first reading above them, and a
    checked register on a day that has a reading: after the rebase, each (account, day) and the
    balance are what settling without the wrong reading gives."""
    days = data.draw(st.integers(3, 7), label="days")
    rises = data.draw(st.lists(st.integers(0, 30_000), min_size=days, max_size=days))
    mostly_read = st.sampled_from([True, True, True, False])  # a reading most days
    present = [True] + data.draw(st.lists(mostly_read, min_size=days - 1, max_size=days - 1))
    registers = [1_000_000 + sum(rises[: i + 1]) for i in range(days)]
    wrong_wh = registers[-1] + data.draw(st.integers(1, 100_000_000), label="wrong above")
    checked = data.draw(st.sampled_from([i for i in range(1, days) if present[i]] or [days]))
    if checked == days:
        return  # no later reading to check
    account = data.draw(st.integers(10, 10_000), label="account")
    clean = _property_clean_store(store, tmp_path_factory, clock)
    with store.unit_of_work() as uow:
        if uow.registry.account(account) is not None:
            return
    span = [DAYS[0] + dt.timedelta(days=i) for i in range(days)]
    for target, first in ((store, wrong_wh), (clean, None)):
        add_city(target, 1, first_id=account)
        for i, day in enumerate(span):
            wh = first if i == 0 else (registers[i] if present[i] else None)
            if wh is not None:
                add_readings(target, [account], day, **{str(account): wh})
        settle_range(target, clock, span[0], span[-1])
    meter = METER_BASE + account
    try:
        rebase_meter(
            store, clock, RebaseMeter(meter, span[checked], registers[checked], "Li", "check")
        )
    except Refused:
        event("refused: charged days with nothing to start from")
        return  # staff are told which day to check instead
    assert _account_usage(store, account) == _account_usage(clean, account)
    with store.unit_of_work() as a, clean.unit_of_work() as b:
        assert a.ledger.balance_fen(account) == b.ledger.balance_fen(account)
    assert audit(store, days=None).ok
    event("rebased")


_CLEAN: dict[str, SqlStore] = {}


def _property_clean_store(
    store: SqlStore, factory: pytest.TempPathFactory, clock: FakeClock
) -> SqlStore:
    """One clean SQLite store beside each store the property runs on (its examples add new
    accounts to both)."""
    if store.url not in _CLEAN:
        _CLEAN[store.url] = fresh_sqlite_store(factory.mktemp("clean") / "clean.db", clock)
    return _CLEAN[store.url]


def _account_usage(store: SqlStore, account: int) -> list[tuple[str, ...]]:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        rows = uow.conn.execute(
            text(
                "SELECT day, energy_wh, charge_fen, CASE WHEN estimated THEN 1 ELSE 0 END, "
                "reading_wh, ytd_charged_fen "
                "FROM daily_usage WHERE account_id = :a ORDER BY day"
            ),
            {"a": account},
        ).all()
    return [tuple(str(v) for v in r) for r in rows]
