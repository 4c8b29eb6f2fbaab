"""The web bench's city and sessions: what wrk will ask for is a real signed-in home page."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from gridpay import bootstrap
from gridpay.adapters.clock import FixedClock
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.entrypoints.http.app import create_app
from gridpay.simulation.bench_web import measure_floor, open_sessions
from tests.helpers_accounts import small_reads_city

NEWEST = dt.date(2026, 11, 26)
AS_OF = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("history_days", [1, 40])
def test_the_bench_city_serves_signed_in_home_pages(db_url: str, history_days: int) -> None:
    settings = replace(Settings(), database_url=db_url, environment="drill")
    store = SqlStore(db_url)
    clock = FixedClock(AS_OF)
    try:
        city = small_reads_city(store, clock, 60, history_days)
        with store.reader() as uow:
            assert uow.conn is not None
            rows = uow.conn.exec_driver_sql("SELECT count(*) FROM daily_usage").scalar_one()
        assert rows == 60 * history_days
        built = bootstrap.App(
            settings=settings, store=store, clock=clock, credit=bootstrap.credit_policy(settings)
        )
        tokens = open_sessions(store, clock, list(city.account_ids), 5, seed=3, valid_days=1)
        floor = measure_floor(store, clock, built.credit, list(city.account_ids), 20, seed=3)
        assert floor.pages == 20 and floor.p95_ms >= floor.p50_ms
        with TestClient(create_app(built)) as client:
            client.cookies.set("gp_session", tokens[0])
            page = client.get("/home")
        assert page.status_code == 200 and 'id="balance-yuan"' in page.text
        assert page.text.count('class="bar') == min(history_days, 30)
    finally:
        store.dispose()
