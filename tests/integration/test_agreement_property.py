"""The issue's acceptance property, both engines: random enrolment and leaving days, settle
commands in random order (operators' ranges, catch-up nights, nights skipped), late readings
(after an estimate was settled, also after a close-out). Whatever happens:

- no charge, warning, notice or cut for an account outside its agreement;
- the final ledger is the one settling the same data night by night, in order, on time;
- ``gridpay audit`` is balanced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.domain.enrolment import Enrol
from gridpay.domain.payments import TakePayment
from gridpay.errors import DaysUnsettled, Refused
from gridpay.services.audit import audit
from gridpay.services.enrolment import enrol, leave
from gridpay.services.leaving import close_out_leavings
from gridpay.services.night import run_night
from gridpay.services.payments import take_payment
from gridpay.services.settlement import process_trueups
from gridpay.services.setup import initialize
from tests.conftest import _fresh_pg_schema
from tests.fakes import FakeClock
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import add_city
from tests.integration.test_night import POLICY, _deliver, _ledger

START = dt.date(2026, 11, 16)  # day 0 (a Monday); the books start the day before
DAYS = 5  # days 0 .. DAYS-1 are lived
ACCOUNTS = 4  # 1 is prepaid throughout; 2 .. 4 enrol and leave at random
VETERAN = 1
FINAL = DAYS  # a reading arriving "at the end": after every command
SETTINGS = Settings()
# What the policy says and does to an account: none may fall outside its agreement.
POLICY_KINDS = ("warning", "arrears", "arrears_estimated", "cut_soon", "trusted_contact")
# Tables written by an example; everything else (offices, tariffs, accounts, meters, ledger
# accounts) is kept, which is much quicker than a new database per example.
# audit_log is append-only (triggers refuse DELETE on both engines) and the property does not
# read it: it keeps its rows across examples.
_KEPT = {"offices", "tariffs", "accounts", "meters", "ledger_accounts", "audit_log"}


def _day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


@dataclass(frozen=True)
class Agreement:
    enrol_day: int
    leave_day: int | None
    paid_yuan: str  # the opening payment ("0": none)


@dataclass(frozen=True)
class Scenario:
    agreements: dict[int, Agreement]  # by account (2 .. ACCOUNTS); missing: never enrolled
    arrivals: dict[tuple[int, int], int]  # (account, day) -> the night its reading arrives
    commands: tuple[tuple[Any, ...], ...]  # one per night: what the operator or night does


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    agreements = {}
    for account_id in range(2, ACCOUNTS + 1):
        enrol_day = draw(st.one_of(st.none(), st.integers(0, DAYS - 1)))
        if enrol_day is None:
            continue
        leave_day = draw(st.one_of(st.none(), st.integers(enrol_day, DAYS - 1)))
        paid = draw(st.sampled_from(["0", "0.50", "40"]))
        agreements[account_id] = Agreement(enrol_day, leave_day, paid)
    arrivals = {}
    for account_id in range(1, ACCOUNTS + 1):
        agreement = agreements.get(account_id)
        first = -1 if account_id == VETERAN else (agreement.enrol_day if agreement else DAYS)
        for d in range(DAYS):
            # An agreement's first day needs its baseline read on time (else its days start
            # later than the nights' would: a different, legitimate ledger); any later day's
            # reading may come late, the leaving day's after the close-out too.
            late = d > first
            arrivals[(account_id, d)] = (
                draw(st.sampled_from([d, d + 1, d + 2, FINAL]), label="arrival") if late else d
            )
    commands = []
    for t in range(DAYS):
        kind = draw(st.sampled_from(["night", "skip", "range"]), label="command")
        if kind == "range":
            a, b = sorted(draw(st.tuples(st.integers(0, t), st.integers(0, t))))
            commands.append(("range", a, b, draw(st.booleans(), label="follow")))
        else:
            commands.append((kind,))
    return Scenario(agreements, arrivals, tuple(commands))


@contextmanager
def _city(engine: str, pg_base_url: str | None) -> Iterator[SqlStore]:
    clock = FakeClock()
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = SqlStore(f"sqlite:///{Path(tmp) / 'agreements.db'}")
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


def _go_live(store: SqlStore, clock: FakeClock) -> None:
    """Empty books; account 1 prepaid from the day before day 0, which is settled."""
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        for table in reversed(schema.metadata.sorted_tables):
            if table.name not in _KEPT:
                uow.conn.execute(table.delete())
        if uow.conn.dialect.name == "postgresql":  # the ids that do not name their day
            uow.conn.exec_driver_sql("DELETE FROM transfer_keys")
        uow.conn.exec_driver_sql(
            "UPDATE ledger_accounts SET debits_posted_fen = 0, credits_posted_fen = 0"
        )
        uow.conn.exec_driver_sql("UPDATE accounts SET billing_mode = 'postpaid'")
        uow.commit()
    every = range(1, ACCOUNTS + 1)
    _deliver(store, clock, [(a, d) for a in every for d in (_day(-2), _day(-1))])
    clock.set(local(_day(-1), 10))
    enrol(store, clock, SETTINGS, Enrol(f"{VETERAN:010d}", office_id=1))
    take_payment(store, clock, SETTINGS, TakePayment(f"{VETERAN:010d}", "20", "bank", "P-1"))
    clock.set(local(_day(0), 2))
    run_night(store, clock, POLICY, days=[_day(-1)])


def _counter(store: SqlStore, clock: FakeClock, scenario: Scenario, t: int) -> None:
    """The counter's day ``t``: agreements signed in the morning, leavings in the afternoon."""
    for account_id, agreement in sorted(scenario.agreements.items()):
        if agreement.enrol_day == t:
            clock.set(local(_day(t), 10))
            enrol(store, clock, SETTINGS, Enrol(f"{account_id:010d}", office_id=1))
            if agreement.paid_yuan != "0":
                pay = TakePayment(
                    f"{account_id:010d}", agreement.paid_yuan, "bank", f"P{account_id}"
                )
                take_payment(store, clock, SETTINGS, pay)
    for account_id, agreement in sorted(scenario.agreements.items()):
        if agreement.leave_day == t:
            clock.set(local(_day(t), 15))
            leave(store, clock, SETTINGS, f"{account_id:010d}")


def _settle(store: SqlStore, clock: FakeClock, first: int, last: int, follow: bool) -> None:
    """An operator's ``gridpay settle --from --to``: in order, or told which days come first."""
    days = [_day(i) for i in range(first, last + 1)]
    try:
        run_night(store, clock, POLICY, days=days)
    except DaysUnsettled as refused:
        if follow:  # the operator does as told
            run_night(store, clock, POLICY, days=[*refused.days, *days])


def _night_by_night(store: SqlStore, clock: FakeClock, scenario: Scenario) -> None:
    for t in range(DAYS):
        _counter(store, clock, scenario, t)
        clock.set(local(_day(t + 1), 2))
        _deliver(store, clock, [(a, _day(t)) for a in range(1, ACCOUNTS + 1)])
        run_night(store, clock, POLICY)


def _as_it_happens(store: SqlStore, clock: FakeClock, scenario: Scenario) -> None:
    for t in range(DAYS):
        _counter(store, clock, scenario, t)
        clock.set(local(_day(t + 1), 2))
        due = sorted((a, _day(d)) for (a, d), at in scenario.arrivals.items() if at == t)
        _deliver(store, clock, due)
        command = scenario.commands[t]
        if command[0] == "night":  # the catch-up night: every day due, in order
            run_night(store, clock, POLICY)
        elif command[0] == "range":
            # A day before the books start or in a hole is refused: nothing done.
            with contextlib.suppress(Refused):
                _settle(store, clock, command[1], command[2], command[3])
    # At last every reading is in, and the nights catch up.
    clock.set(local(_day(DAYS), 2))
    late = sorted((a, _day(d)) for (a, d), at in scenario.arrivals.items() if at > DAYS - 1)
    _deliver(store, clock, late)
    run_night(store, clock, POLICY)
    process_trueups(store, clock)
    close_out_leavings(store, clock)  # the settle-ups of late readings after a close-out


def _closings(store: SqlStore) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT account_id, left_on, balance_fen FROM leavings ORDER BY account_id")
        )
        return [(int(a), str(d), int(b)) for a, d, b in rows]


def _books(store: SqlStore) -> tuple[Any, ...]:
    """Balances, each (account, day)'s net movement (charges, true-ups, payments, refunds and
    debts handed over, whatever their ids), the usage rows, and the closing balances."""
    return (*_ledger(store), _closings(store))


def _windows(store: SqlStore) -> dict[int, tuple[dt.date, dt.date | None, Any, Any]]:
    """Each account's agreement: first and last day, and the instants it was in force."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.account_id, e.enrolled_on, e.left_on, e.enrolled_at, lv.asked_at "
                "FROM enrolments e LEFT JOIN leavings lv ON lv.enrolment_id = e.id"
            )
        ).all()
    return {
        int(r[0]): (_date(r[1]), _date(r[2]) if r[2] else None, _at(r[3]), _at(r[4])) for r in rows
    }


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def _at(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _check_nothing_outside_the_agreements(store: SqlStore) -> None:
    windows = _windows(store)
    with store.engine.connect() as conn:
        charged = conn.execute(
            text("SELECT account_id, day FROM transfers WHERE kind IN ('charge', 'credit')")
        ).all()
        told = conn.execute(
            text(
                "SELECT account_id, created_at, kind FROM messages WHERE kind IN "
                f"({', '.join(repr(k) for k in POLICY_KINDS)})"
            )
        ).all()
        cuts = conn.execute(
            text("SELECT account_id, created_at FROM meter_commands WHERE action = 'disconnect'")
        ).all()
    for account_id, day in charged:
        first, last, _, _ = windows[int(account_id)]
        assert first <= _date(day) and (last is None or _date(day) <= last), (account_id, day)
    for account_id, created_at, *kind in [*told, *cuts]:
        _, _, since, until = windows[int(account_id)]
        at = _at(created_at)
        assert at is not None and since is not None
        assert since <= at and (until is None or at < until), (account_id, at, kind)


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_nothing_outside_an_agreement_and_the_night_by_night_ledger_whatever_happens(
    engine: str, request: pytest.FixtureRequest
) -> None:
    pg_base_url = request.getfixturevalue("pg_base_url") if engine == "postgresql" else None
    clock = FakeClock()
    references: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    with _city(engine, pg_base_url) as store:

        @settings(
            max_examples=25 if engine == "sqlite" else 15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(scenarios())
        def whatever_happens(scenario: Scenario) -> None:
            key = tuple(sorted(scenario.agreements.items()))
            if key not in references:  # the same agreements lived night by night, on time
                _go_live(store, clock)
                _night_by_night(store, clock, scenario)
                _check_nothing_outside_the_agreements(store)
                references[key] = _books(store)
            _go_live(store, clock)

            _as_it_happens(store, clock, scenario)

            _check_nothing_outside_the_agreements(store)
            assert _books(store) == references[key]
            report = audit(store)
            assert report.ok, [c for c in report.checks if not c.ok]

        whatever_happens()
