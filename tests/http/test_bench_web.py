"""The web bench's city and sessions: what wrk will ask for is a real signed-in home page."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from gridpay import bootstrap
from gridpay.adapters.clock import FixedClock
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.entrypoints.http.app import create_app
from gridpay.services.audit import audit
from gridpay.simulation.bench_repo import bench_repo_for
from gridpay.simulation.bench_web import build_web_city, measure_floor, open_sessions

NEWEST = dt.date(2026, 11, 26)
AS_OF = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("history_days", [1, 40])
def test_the_bench_city_serves_signed_in_home_pages(db_url: str, history_days: int) -> None:
    settings = replace(Settings(), database_url=db_url, environment="drill")
    store = SqlStore(db_url)
    clock = FixedClock(AS_OF)
    try:
        city = build_web_city(
            store,
            clock,
            lambda uow: bench_repo_for(uow).insert_usage,
            accounts=60,
            history_days=history_days,
            newest_day=NEWEST,
            seed=3,
            office_names=list(DEFAULT_OFFICES),
            tariff_files=shipped_tariffs(),
        )
        assert city.usage_rows == 60 * history_days
        built = bootstrap.App(
            settings=settings, store=store, clock=clock, credit=bootstrap.credit_policy(settings)
        )
        tokens = open_sessions(store, clock, city.account_ids, 5, seed=3, valid_days=1)
        floor = measure_floor(store, clock, built.credit, city.account_ids, 20, seed=3)
        assert floor.pages == 20 and floor.p95_ms >= floor.p50_ms
        with TestClient(create_app(built)) as client:
            client.cookies.set("gp_session", tokens[0])
            page = client.get("/home")
        assert page.status_code == 200 and 'id="balance-yuan"' in page.text
        assert page.text.count('class="bar') == min(history_days, 30)
        audit(store)  # the city's ledger and balances agree
    finally:
        store.dispose()
