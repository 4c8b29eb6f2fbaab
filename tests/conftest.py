"""Fixtures: a fresh database per test on SQLite, and on PostgreSQL where one is configured.

PostgreSQL tests need GRIDPAY_TEST_PG_URL (``.ci/run`` sets it). Without it they are skipped
with a visible reason on a laptop, but fail under CI=true: CI must never skip them silently.

An initialised store (``store``) is not migrated per test, which cost more than most tests:
on SQLite it is a copy of a file migrated once per test process; on PostgreSQL each test
process keeps one schema migrated once, emptied between tests and given back its initial rows
(``tests/db_templates.py``). Both start every test in the state a fresh ``initialize`` leaves.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES
from gridpay.services.setup import initialize
from tests.db_templates import PgWorkerSchema, SqliteTemplate
from tests.fakes import FakeClock

# Speed is measured by the benches, never by a test: on a shared 2-core machine (CI runs two
# workers beside PostgreSQL) an example that takes long is not a failure, so no example has a
# deadline. Every other setting stays per test.
settings.register_profile("gridpay", deadline=None)
settings.load_profile("gridpay")

# Shared fixtures of a small enrolled city (``credit``, ``city``) for the credit policy tests.
pytest_plugins = ["tests.integration.credit_helpers"]

PG_URL = os.environ.get("GRIDPAY_TEST_PG_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gridpay.db'}"


@pytest.fixture
def pg_base_url() -> str:
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI=true but GRIDPAY_TEST_PG_URL is not set: PostgreSQL tests must run")
        pytest.skip("PostgreSQL not configured (set GRIDPAY_TEST_PG_URL to run these)")
    return PG_URL


@contextmanager
def _fresh_pg_schema(base: str) -> Iterator[str]:
    """A new PostgreSQL schema in the test database, dropped afterwards: its URL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """A SQLite file initialised once per test process, copied for each ``store``."""
    return SqliteTemplate(tmp_path_factory.mktemp("template") / "gridpay.db")


@pytest.fixture(scope="session")
def pg_worker_schema() -> Iterator[PgWorkerSchema | None]:
    """This test process's initialised PostgreSQL schema (made on first use), for ``store``."""
    worker = PgWorkerSchema(PG_URL) if PG_URL else None
    try:
        yield worker
    finally:
        if worker is not None:
            worker.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL schema.

    When the test also uses ``store``, the database is the one ``store`` initialises: on
    PostgreSQL the test process's own schema, handed over as a fresh ``initialize`` leaves it
    and put back so afterwards.
    """
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path)
        return
    base = request.getfixturevalue("pg_base_url")
    if "store" in request.fixturenames:
        worker = request.getfixturevalue("pg_worker_schema")
        assert worker is not None
        with worker.lease(request.getfixturevalue("clock").now()) as url:
            yield url
        return
    with _fresh_pg_schema(base) as url:
        yield url


@pytest.fixture
def pg_schema_url(pg_base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema's URL (for tests that run on PostgreSQL only)."""
    with _fresh_pg_schema(pg_base_url) as url:
        yield url


# --- the whole-system simulation's size (tests/e2e/test_simulation.py) ---------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simulation", "the seeded whole-system simulation")
    group.addoption("--simulation-seeds", default="11", help="Comma-separated seeds (CI: 11).")
    # 1,000 households are enough for seed 11 to exercise every kind of event the invariants
    # are about (warnings, notices, cuts, restorations, leavings...: the test asserts each).
    group.addoption("--simulation-accounts", type=int, default=1_000, help="Households.")
    group.addoption("--simulation-days", type=int, default=90, help="Simulated days.")


@dataclass(frozen=True)
class SimulationSize:
    seeds: tuple[int, ...]
    accounts: int
    days: int


@pytest.fixture
def simulation(request: pytest.FixtureRequest) -> SimulationSize:
    seeds = tuple(int(s) for s in str(request.config.getoption("--simulation-seeds")).split(","))
    return SimulationSize(
        seeds=seeds,
        accounts=int(request.config.getoption("--simulation-accounts")),
        days=int(request.config.getoption("--simulation-days")),
    )


@pytest.fixture
def store(
    db_url: str,
    clock: FakeClock,
    sqlite_template: SqliteTemplate,
    pg_worker_schema: PgWorkerSchema | None,
) -> Iterator[SqlStore]:
    """An initialised store (schema, system accounts, six offices, shipped tariffs)."""
    ready = (pg_worker_schema is not None and pg_worker_schema.leased_url == db_url) or (
        sqlite_template.copy_to(db_url, clock.now())
    )
    s = SqlStore(db_url)
    if not ready:
        initialize(s, clock, DEFAULT_OFFICES, shipped_tariffs())
    try:
        yield s
    finally:
        s.dispose()
