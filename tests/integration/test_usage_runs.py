"""An account's settled days are found without an index leading with the account.

Usage rows mark where a run of consecutive settled days starts; ``last_settled_days`` finds the
latest run start in a small partial index and the run's end by seeks on the primary key.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gridpay.adapters.sql.db import bulk_insert
from gridpay.adapters.sql.settlement_repo import last_settled_days
from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore
from gridpay.services.settlement import settle_day
from tests.fakes import FakeClock
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings, register_wh

D0 = dt.date(2026, 3, 1)
HORIZON_DAYS = 40


def _usage_rows(days_by_account: dict[int, set[int]]) -> pl.DataFrame:
    rows = [
        {
            "day": D0 + dt.timedelta(days=d),
            "account_id": account_id,
            "meter_id": METER_BASE + account_id,
            "tariff_code": "henan-residential-tiered",
            "estimated": False,
            "reading_wh": 0,
            "last_real_wh": 0,
            "energy_wh": 0,
            "charge_fen": 0,
            "ytd_wh": 0,
            "ytd_cost_nyuan": 0,
            "ytd_charged_fen": 0,
            "window_energy_wh": 0,
            "window_charge_fen": 0,
            "window_days": 0,
            "starts_run": d - 1 not in days,
        }
        for account_id, days in days_by_account.items()
        for d in sorted(days)
    ]
    return pl.DataFrame(rows)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    days_by_account=st.dictionaries(
        st.integers(1, 6),
        st.sets(st.integers(0, HORIZON_DAYS - 1), max_size=HORIZON_DAYS),
        min_size=1,
        max_size=6,
    ),
    before=st.one_of(st.none(), st.integers(0, HORIZON_DAYS + 2)),
)
def test_the_last_settled_day_of_each_account_is_the_last_row_before_the_day(
    store: SqlStore, days_by_account: dict[int, set[int]], before: int | None
) -> None:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.execute(text("DELETE FROM daily_usage"))
        bulk_insert(uow.conn, "daily_usage", _usage_rows(days_by_account))
        before_day = None if before is None else D0 + dt.timedelta(days=before)
        found = last_settled_days(uow.conn, sorted(days_by_account), before_day)
        uow.rollback()
    expected = {}
    for account_id, days in days_by_account.items():
        earlier = [d for d in days if before is None or d < before]
        if earlier:
            expected[account_id] = D0 + dt.timedelta(days=max(earlier))
    assert found == expected


def test_an_account_back_from_a_gap_goes_on_from_its_last_settled_row(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_city(store, 3, installed_on=D0 - dt.timedelta(days=30))
    days = [D0 + dt.timedelta(days=i) for i in range(7)]
    clock.set(dt.datetime.combine(days[-1], dt.time(3), dt.UTC) + dt.timedelta(days=1))
    for day in [D0 - dt.timedelta(days=1), *days]:
        add_readings(store, ids, day)
    away = {days[3], days[4]}  # account 2 is postpaid for two days
    for day in days:
        mode = "postpaid" if day in away else "prepaid"
        with store.unit_of_work() as uow:
            assert uow.conn is not None
            uow.conn.execute(
                text("UPDATE accounts SET billing_mode = :m WHERE id = 2"), {"m": mode}
            )
            uow.commit()
        settle_day(store, clock, day)

    with store.unit_of_work() as uow:
        rows = uow.settlement.usage_rows(ids, D0, days[-1])
        assert uow.settlement.last_settled_day(2) == days[-1]
    by_key = {(r["account_id"], r["day"]): r for r in rows.iter_rows(named=True)}
    assert not any((2, day) in by_key for day in away)
    back = by_key[(2, days[5])]
    before_gap = by_key[(2, days[2])]
    # The energy of the days away is billed on return, on the year-to-date position it left.
    assert back["energy_wh"] == register_wh(2, days[5]) - register_wh(2, days[2])
    assert back["ytd_wh"] == before_gap["ytd_wh"] + back["energy_wh"]
    starts = sorted((a, d) for (a, d), r in by_key.items() if r["starts_run"])
    assert starts == [(1, D0), (2, D0), (2, days[5]), (3, D0)]


def test_the_migration_marks_the_runs_of_existing_rows(db_url: str) -> None:
    store = SqlStore(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    history = {1: {0, 1, 2, 5, 6}, 2: {3}}
    rows = _usage_rows(history).drop("starts_run")
    with store.engine.begin() as conn:
        bulk_insert(conn, "daily_usage", rows)
    store.migrate()
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        marked = uow.conn.execute(
            text("SELECT account_id, day FROM daily_usage WHERE starts_run ORDER BY 1, 2")
        ).all()
        found = last_settled_days(uow.conn, [1, 2], D0 + dt.timedelta(days=5))
    store.dispose()
    days = [(a, str(d)) for a, d in marked]
    assert days == [
        (1, str(D0)),
        (1, str(D0 + dt.timedelta(days=5))),
        (2, str(D0 + dt.timedelta(days=3))),
    ]
    assert found == {1: D0 + dt.timedelta(days=2), 2: D0 + dt.timedelta(days=3)}
