"""The night (``services.night``): days settle in order, whatever order they are asked in."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.errors import DaysUnsettled, Refused
from gridpay.services.audit import audit
from gridpay.services.credit import Policy
from gridpay.services.night import days_due, run_night
from gridpay.services.readings import import_readings
from gridpay.services.settlement import process_trueups
from gridpay.services.setup import initialize
from gridpay.simulation.lifecycle import readings_file_rows
from tests.conftest import _fresh_pg_schema
from tests.fakes import FakeClock
from tests.helpers_accounts import cli
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings, register_wh

POLICY = Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings())


def _ledger(store: SqlStore) -> tuple[dict[int, int], dict[tuple[int, dt.date], int], list[tuple]]:
    """Each customer's balance, each (account, day)'s net charge (charges, credits and true-ups
    of that day), and the usage rows: what a household is owed or owes, to the fen."""
    with store.unit_of_work() as uow:
        balances = uow.ledger.customer_balances()
        assert uow.conn is not None
        rows = uow.conn.exec_driver_sql(
            "SELECT account_id, day, debit_account_id, amount_fen FROM transfers "
            "WHERE day IS NOT NULL"
        ).all()
        usage = uow.conn.exec_driver_sql(
            "SELECT day, account_id, CASE WHEN estimated THEN 1 ELSE 0 END, reading_wh, "
            "energy_wh, charge_fen, ytd_wh, ytd_cost_nyuan, ytd_charged_fen "
            "FROM daily_usage ORDER BY day, account_id"
        ).all()
    net: dict[tuple[int, dt.date], int] = {}
    for account_id, day, debit_account_id, amount_fen in rows:
        key = (int(account_id), day if isinstance(day, dt.date) else dt.date.fromisoformat(day))
        signed = amount_fen if debit_account_id == account_id else -amount_fen
        net[key] = net.get(key, 0) + signed
    by_account = dict(zip(balances["account_id"], balances["balance_fen"], strict=True))
    return by_account, {k: v for k, v in net.items() if v}, [tuple(map(str, r)) for r in usage]


def _deliver(store: SqlStore, clock: FakeClock, readings: list[tuple[int, dt.date]]) -> None:
    """The head-end's file with these (account, day) readings, through the real import (which
    queues a true-up for a day already settled on an estimate)."""
    if not readings:
        return
    frame = pl.DataFrame(
        {
            "meter_id": [METER_BASE + a for a, _ in readings],
            "day": [d for _, d in readings],
            "total_wh": [register_wh(a, d) for a, d in readings],
            **{f"{r}_wh": [None] * len(readings) for r in ("sharp", "peak", "flat", "valley")},
        },
        schema_overrides={f"{r}_wh": pl.Int64 for r in ("sharp", "peak", "flat", "valley")},
    )
    report = import_readings(store, clock, readings_file_rows(frame, None), "head-end.csv")
    assert report.stored == len(readings), report


# --- the issue's own example -------------------------------------------------------------------

SEP30 = dt.date(2026, 9, 30)


def _day(offset: int) -> dt.date:
    return SEP30 + dt.timedelta(days=offset)


def test_a_day_past_an_unsettled_one_is_refused_so_40_kwh_cost_22_40_whatever_the_order(
    store, clock
):
    (account,) = add_city(store, 1)
    for offset, kwh in enumerate((1000, 1010, 1020, 1030, 1040)):
        add_readings(store, [account], _day(offset), **{str(account): kwh * 1000})
    run_night(store, clock, POLICY, days=[_day(0)])  # the first reading: the base
    run_night(store, clock, POLICY, days=[_day(1)])
    with pytest.raises(
        DaysUnsettled, match="gridpay settle --from 2026-10-02 --to 2026-10-03"
    ) as e:
        run_night(store, clock, POLICY, days=[_day(3)])
    assert e.value.days == (_day(2),)
    run_night(store, clock, POLICY, days=[_day(2)])
    with pytest.raises(DaysUnsettled) as e:
        run_night(store, clock, POLICY, days=[_day(4)])
    assert e.value.days == (_day(3),)
    run_night(store, clock, POLICY, days=[_day(3), _day(4)])  # as the refusal said

    balances, net, _ = _ledger(store)
    assert balances[account] == -2_240  # 40 kWh at 0.56 yuan, not 28.00 yuan
    assert [net[(account, _day(i))] for i in range(1, 5)] == [560, 560, 560, 560]


def test_gridpay_settle_names_the_days_to_settle_first_and_exits_refused(
    store, monkeypatch, capsys
):
    ids = add_city(store, 1)
    for offset in range(5):
        add_readings(store, ids, _day(offset))
    code, _, _ = cli(store, monkeypatch, capsys, "settle", "--date", "2026-10-01")
    assert code == 0
    code, _, err = cli(store, monkeypatch, capsys, "settle", "--date", "2026-10-04")
    assert code == 6
    said = " ".join(err.split())
    assert "2026-10-02 to 2026-10-03 are not settled" in said
    assert "gridpay settle --from 2026-10-02 --to 2026-10-04" in said
    code, _, err = cli(
        store, monkeypatch, capsys, "settle", "--from", "2026-10-03", "--to", "2026-10-04"
    )
    assert code == 6 and "2026-10-02 is not settled" in " ".join(err.split())
    code, out, _ = cli(
        store, monkeypatch, capsys, "settle", "--from", "2026-10-02", "--to", "2026-10-04"
    )
    assert code == 0 and "Credit policy" in out
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled() == _day(4)


def test_a_day_before_the_books_start_is_refused(store, clock):
    ids = add_city(store, 2)
    for offset in range(4):
        add_readings(store, ids, _day(offset))
    run_night(store, clock, POLICY, days=[_day(2), _day(3)])
    with pytest.raises(Refused, match="the books start on 2026-10-02"):
        run_night(store, clock, POLICY, days=[_day(1)])
    run_night(store, clock, POLICY, days=[_day(2)])  # re-running a settled day is in order


def test_the_night_owes_yesterday_or_every_day_since_the_last_settled(store, clock):
    today = clock.today()
    assert days_due(store, today) == (today - dt.timedelta(days=1),)
    ids = add_city(store, 1)
    add_readings(store, ids, _day(0))
    add_readings(store, ids, _day(1))
    run_night(store, clock, POLICY, days=[_day(1)])
    assert days_due(store, _day(5)) == (_day(2), _day(3), _day(4))
    assert days_due(store, _day(2)) == ()


# --- any order, the night-by-night ledger --------------------------------------------------

DAYS = 5
ACCOUNTS = 3
START = dt.date(2026, 10, 12)  # the books start the day before (a go-live's day)


def _start(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


@contextmanager
def _empty_store(engine: str, pg_base_url: str | None) -> Iterator[SqlStore]:
    """A new empty database with the city."""
    clock = FakeClock()
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = SqlStore(f"sqlite:///{Path(tmp) / 'night.db'}")
            initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
            add_city(store, ACCOUNTS)
            yield store
            store.dispose()
        return
    assert pg_base_url is not None
    with _fresh_pg_schema(pg_base_url) as url:
        store = SqlStore(url)
        initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
        add_city(store, ACCOUNTS)
        yield store
        store.dispose()


# What the readings and the settlement write: emptied between examples, which is much quicker
# than a new database (PostgreSQL's migrations take seconds).
_WRITTEN = ("pending_trueups", "reading_quarantine", "daily_usage", "settlement_runs", "readings")


def _go_live(store: SqlStore, clock: FakeClock) -> None:
    """From an empty ledger: the readings of the two days before the range, and the day before
    it settled (the books start there)."""
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        # PostgreSQL keeps the ids that do not name their day in transfer_keys too.
        keys = ("transfer_keys",) if store.dialect == "postgresql" else ()
        for table in (*_WRITTEN, "transfers", *keys):
            uow.conn.exec_driver_sql(f"DELETE FROM {table}")
        uow.conn.exec_driver_sql(
            "UPDATE ledger_accounts SET debits_posted_fen = 0, credits_posted_fen = 0"
        )
        uow.commit()
    _deliver(store, clock, [(a, _start(d)) for a in range(1, ACCOUNTS + 1) for d in (-2, -1)])
    run_night(store, clock, POLICY, days=[_start(-1)], judge=False)


command = st.one_of(
    st.tuples(st.just("date"), st.integers(0, DAYS - 1), st.booleans()),
    st.tuples(st.integers(0, DAYS - 1), st.integers(0, DAYS - 1), st.booleans()).map(
        lambda t: ("range", min(t[0], t[1]), max(t[0], t[1]), t[2])
    ),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple], dict[tuple[int, int], int]]:
    """Settle commands in a random order, and when each reading arrives: before the command
    at that position (0: before any; len(commands): after all of them)."""
    commands = draw(st.lists(command, min_size=1, max_size=6))
    arrivals = {
        (a, d): draw(st.integers(0, len(commands)))
        for a in range(1, ACCOUNTS + 1)
        for d in range(DAYS)
    }
    return commands, arrivals


def _settle(store: SqlStore, clock: FakeClock, first: int, last: int, follow: bool) -> None:
    days = [_start(i) for i in range(first, last + 1)]
    try:
        run_night(store, clock, POLICY, days=days, judge=False)
    except DaysUnsettled as refused:
        with store.unit_of_work() as uow:
            settled_last = uow.settlement.last_settled()
        assert settled_last is not None
        assert refused.days[0] == settled_last + dt.timedelta(days=1)
        assert refused.days[-1] == days[0] - dt.timedelta(days=1)
        if follow:  # the operator does as told
            run_night(store, clock, POLICY, days=[*refused.days, *days], judge=False)


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_any_order_of_settle_commands_and_late_readings_gives_the_night_by_night_ledger(
    engine, request
):
    pg_base_url = request.getfixturevalue("pg_base_url") if engine == "postgresql" else None
    clock = FakeClock()

    with _empty_store(engine, pg_base_url) as store:
        _go_live(store, clock)
        for i in range(DAYS):  # every reading in the night's file, every night settled
            _deliver(store, clock, [(a, _start(i)) for a in range(1, ACCOUNTS + 1)])
            run_night(store, clock, POLICY, days=[_start(i)], judge=False)
        expected = _ledger(store)

        @settings(
            max_examples=10 if engine == "sqlite" else 5,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(scenarios())
        def any_order(scenario: tuple[list[tuple], dict[tuple[int, int], int]]) -> None:
            commands, arrivals = scenario
            _go_live(store, clock)
            for position, cmd in enumerate([*commands, None]):
                due = sorted(k for k, at in arrivals.items() if at == position)
                _deliver(store, clock, [(a, _start(d)) for a, d in due])
                if cmd is None:
                    break
                if cmd[0] == "date":
                    _settle(store, clock, cmd[1], cmd[1], cmd[2])
                else:
                    _settle(store, clock, cmd[1], cmd[2], cmd[3])
            # The night after: whatever is left, in order, and the true-ups of late readings.
            with store.unit_of_work() as uow:
                last = uow.settlement.last_settled()
            assert last is not None
            left = (_start(DAYS - 1) - last).days
            rest = [last + dt.timedelta(days=i + 1) for i in range(left)]
            if rest:
                run_night(store, clock, POLICY, days=rest, judge=False)
            process_trueups(store, clock)
            assert _ledger(store) == expected

        any_order()


def test_re_running_a_settled_day_leaves_alone_an_account_whose_days_start_later(store, clock):
    """An account without readings waits; its days start with its first reading. Readings
    arriving later for the days before must not slip a row in behind its days: the days after
    it were priced without it (their year-to-date position), and the nights never billed it."""
    ids = add_city(store, 2)
    for offset in (0, 1):  # account 2 is read from 2 October: its days start then
        add_readings(store, ids, _day(offset), skip={2})
    for offset in (2, 3):
        add_readings(store, ids, _day(offset))
    run_night(store, clock, POLICY, days=[_day(1), _day(2), _day(3)])
    before = _ledger(store)
    add_readings(store, [2], _day(0))  # its readings of 30 September and 1 October, at last
    add_readings(store, [2], _day(1))
    run_night(store, clock, POLICY, days=[_day(1)])  # re-run
    assert _ledger(store) == before
    assert audit(store).ok
