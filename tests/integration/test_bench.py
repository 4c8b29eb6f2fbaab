"""The bench: a synthetic city loaded into a real database, the floor measured, a day settled."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from gridpay.adapters.clock import FixedClock, SystemClock
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.bootstrap import credit_policy
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.domain.ledger import CLEARING_IDS, Channel
from gridpay.entrypoints.cli import app
from gridpay.entrypoints.cli.bench import own_peak_rss_kib, settle_in_child
from gridpay.errors import InvalidInput
from gridpay.simulation import bench, bench_reads
from gridpay.simulation.bench_repo import (
    FLOOR_LEDGER,
    FLOOR_TRANSFERS,
    bench_repo_for,
    fresh_database,
)
from tests.fakes import FakeClock
from tests.helpers_accounts import small_reads_city

ACCOUNTS = 400
OPTIONS = bench.BenchOptions(accounts=ACCOUNTS, seed=3, chunk_rows=150)
HAS_SETTLEMENT = importlib.util.find_spec("gridpay.services.settlement") is not None


def _build(db_url: str, clock: FakeClock, options: bench.BenchOptions = OPTIONS):
    store = SqlStore(db_url)
    built = bench.build_city(
        store, clock, bench_repo_for, options, DEFAULT_OFFICES, shipped_tariffs()
    )
    return store, built


def _scalar(store: SqlStore, sql: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_building_a_city_loads_every_table(db_url: str, clock: FakeClock) -> None:
    store, built = _build(db_url, clock)
    try:
        for table in ("accounts", "meters", "daily_usage", "readings", "transfers"):
            assert _scalar(store, f"SELECT count(*) FROM {table}") == ACCOUNTS, table
        customers = "FROM ledger_accounts WHERE kind = 'customer'"
        assert _scalar(store, f"SELECT count(*) {customers}") == ACCOUNTS
        paid = _scalar(store, f"SELECT sum(credits_posted_fen) {customers}")
        assert paid == _scalar(store, "SELECT sum(amount_fen) FROM transfers")
        counter = CLEARING_IDS[Channel.COUNTER]
        debited = f"SELECT debits_posted_fen FROM ledger_accounts WHERE id = {counter}"
        assert _scalar(store, debited) == paid
        assert built.account_ids.len() == ACCOUNTS
        names = [p.name for p in built.phases]
        assert "insert readings" in names and "post opening payments" in names
        assert all(p.seconds >= 0 for p in built.phases)
    finally:
        store.dispose()


def test_earlier_days_of_charges_can_be_loaded_into_the_ledger(
    db_url: str, clock: FakeClock
) -> None:
    options = bench.BenchOptions(accounts=ACCOUNTS, seed=3, chunk_rows=150, history_days=3)
    store, built = _build(db_url, clock, options)
    try:
        charges = "FROM transfers WHERE kind = 'charge'"
        assert _scalar(store, f"SELECT count(*) {charges}") == 3 * ACCOUNTS
        # The three days before the prior day, none of them the day the bench settles.
        days = f"SELECT count(DISTINCT day) {charges} AND day < '{options.day - dt.timedelta(1)}'"
        assert _scalar(store, days) == 3
        assert "post 3 earlier days of charges" in [p.name for p in built.phases]
        # Posted as the settlement posts: the customers' balances moved by every charge.
        customers = "FROM ledger_accounts WHERE kind = 'customer'"
        assert _scalar(store, f"SELECT sum(debits_posted_fen) {customers}") == _scalar(
            store, f"SELECT sum(amount_fen) {charges}"
        )
    finally:
        store.dispose()


def test_the_floor_is_measured_in_scratch_tables_that_are_dropped(
    db_url: str, clock: FakeClock
) -> None:
    store, built = _build(db_url, clock)
    try:
        floor = bench.measure_floor(store, clock, bench_repo_for, built.account_ids, OPTIONS.day)
        assert floor.rows == ACCOUNTS
        assert floor.insert_seconds > 0
        assert floor.update_seconds > 0
        assert floor.seconds == floor.insert_seconds + floor.update_seconds
        tables = set(inspect(store.engine).get_table_names())
        assert FLOOR_TRANSFERS not in tables and FLOOR_LEDGER not in tables
        # The real ledger is untouched: only the opening payments are on it.
        charged = "SELECT coalesce(sum(debits_posted_fen), 0) FROM ledger_accounts"
        assert _scalar(store, charged + " WHERE kind = 'customer'") == 0
        assert _scalar(store, "SELECT count(*) FROM transfers WHERE kind = 'charge'") == 0
    finally:
        store.dispose()


def test_a_bench_without_settlement_reports_build_and_floor(db_url: str, clock: FakeClock) -> None:
    store = SqlStore(db_url)
    try:
        report = bench.run_bench(
            store,
            clock,
            bench_repo_for,
            OPTIONS,
            DEFAULT_OFFICES,
            shipped_tariffs(),
            settle=None,
            settle_note="not run",
            machine={"cpu": "test"},
        )
    finally:
        store.dispose()
    assert report.settle is None and not report.settle_failed
    assert report.accounts_per_s is None and report.settle_floor_ratio is None
    assert report.floor.rows == ACCOUNTS and report.floor.seconds > 0
    data = json.loads(json.dumps(report.as_dict()))
    assert data["floor"]["rows"] == ACCOUNTS
    assert data["machine"] == {"cpu": "test"}


def test_a_failed_settlement_is_reported_with_the_other_numbers(tmp_path: Path) -> None:
    def failing(day: dt.date) -> bench.SettleMeasurement:
        raise bench.SettleFailed("settlement process failed with exit code 1")

    store = SqlStore(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        report = bench.run_bench(
            store, FakeClock(), bench_repo_for, OPTIONS, DEFAULT_OFFICES, shipped_tariffs(),
            settle=failing,
        )  # fmt: skip
    finally:
        store.dispose()
    assert report.settle_failed
    assert report.settle_note == "settlement process failed with exit code 1"
    assert report.floor.seconds > 0


@pytest.mark.skipif(not HAS_SETTLEMENT, reason="gridpay.services.settlement is not written yet")
def test_the_bench_settles_a_small_city_in_a_child_process(db_url: str, clock: FakeClock) -> None:
    # The child settles with the real clock, which refuses days that have not ended.
    day = SystemClock().today() - dt.timedelta(days=2)
    options = bench.BenchOptions(accounts=ACCOUNTS, seed=3, day=day)
    store = SqlStore(db_url)
    try:
        report = bench.run_bench(
            store,
            clock,
            bench_repo_for,
            options,
            DEFAULT_OFFICES,
            shipped_tariffs(),
            settle=lambda d: settle_in_child(db_url, d),
        )
    finally:
        store.dispose()
    assert report.settle is not None, report.settle_note
    assert report.settle.seconds > 0
    assert report.settle.process_seconds >= report.settle.seconds
    assert report.settle.peak_rss_bytes > 10 * 2**20
    # A small city is read without a reader process: nothing to add to the settle process.
    assert "process" not in report.settle.report["reader"]
    assert report.settle.reader_peak_rss_bytes == 0
    assert report.settle.total_peak_rss_bytes == report.settle.peak_rss_bytes
    assert report.settle.report["accounts"] == ACCOUNTS
    assert report.settle.report["quarantined"] == 0
    assert report.settle.report["estimated"] == 0
    # Every household used some energy, so every account has exactly one charge.
    assert report.charges_posted == ACCOUNTS
    assert report.charged_fen == report.settle.report["charged_fen"]
    assert report.settle_floor_ratio is not None and report.settle_floor_ratio > 0


def test_the_settlement_childs_peak_memory_is_its_own_not_the_bench_processs(
    tmp_path: Path,
) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 900000 kB\nVmHWM:\t  345678 kB\n")
    assert own_peak_rss_kib(status) == 345678
    assert own_peak_rss_kib(tmp_path / "missing") is None


def test_the_cli_builds_in_a_temporary_sqlite_file_and_prints_json() -> None:
    result = CliRunner().invoke(
        app, ["bench", "settle", "--accounts", "300", "--no-settle", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["accounts"] == 300
    assert data["settle"] is None and data["settle_note"] == "not run (--no-settle)"
    assert data["floor"]["insert_seconds"] > 0 and data["floor"]["update_seconds"] > 0
    assert data["machine"]["database"].startswith("SQLite")
    assert {"cpu", "cores", "memory", "os", "python", "libraries"} <= set(data["machine"])


def test_repeats_without_ages_are_refused_before_anything_is_built() -> None:
    result = CliRunner().invoke(app, ["bench", "settle", "--accounts", "300", "--repeats", "3"])
    assert isinstance(result.exception, InvalidInput)
    assert "give --ages too" in str(result.exception)


def test_the_temporary_sqlite_database_is_removed_unless_kept() -> None:
    with fresh_database(None, keep=False) as database:
        path = Path(database.description)
        SqlStore(database.url).migrate()
        assert path.exists()
    assert not path.exists() and not path.parent.exists()
    with fresh_database(None, keep=True) as database:
        kept = Path(database.description)
        SqlStore(database.url).migrate()
    assert kept.exists()
    for leftover in kept.parent.iterdir():
        leftover.unlink()
    kept.parent.rmdir()


def test_an_existing_sqlite_file_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "gridpay.db"
    existing.write_bytes(b"")
    with (
        pytest.raises(InvalidInput, match="does not exist yet"),
        fresh_database(str(existing), False),
    ):
        pass
    assert existing.exists()


@pytest.mark.postgres
def test_a_postgresql_bench_gets_its_own_schema_dropped_afterwards(pg_base_url: str) -> None:
    with fresh_database(pg_base_url, keep=False) as database:
        store = SqlStore(database.url)
        store.migrate()
        with store.engine.connect() as conn:
            schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
        store.dispose()
        assert schema_name.startswith("bench_")
    admin = create_engine(pg_base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema_name},
            ).scalar_one()
    finally:
        admin.dispose()
    assert found == 0


def test_history_is_made_in_the_database_with_usage_rows_and_balances_that_add_up(
    db_url: str, clock: FakeClock
) -> None:
    options = bench.BenchOptions(accounts=ACCOUNTS, seed=3, chunk_rows=150, history_days=4)
    store, _ = _build(db_url, clock, options)
    try:
        first = options.day - dt.timedelta(days=5)
        assert _scalar(store, f"SELECT count(*) FROM daily_usage WHERE day = '{first}'") == (
            ACCOUNTS
        )
        # The oldest day starts each account's run; the newer history days do not.
        starts = f"SELECT count(*) FROM daily_usage WHERE starts_run AND day < '{options.day}'"
        assert _scalar(store, starts) == 2 * ACCOUNTS  # the oldest day and the prior day
        assert _scalar(
            store,
            "SELECT coalesce(sum(charge_fen), 0) FROM daily_usage WHERE day < "
            f"'{options.day - dt.timedelta(days=1)}'",
        ) == _scalar(store, "SELECT sum(amount_fen) FROM transfers WHERE kind = 'charge'")
        assert audit_ledger_ok(store)
    finally:
        store.dispose()


@pytest.mark.skipif(not HAS_SETTLEMENT, reason="gridpay.services.settlement is not written yet")
def test_the_bench_settles_the_same_day_at_each_age_in_one_run(
    db_url: str, clock: FakeClock
) -> None:
    day = SystemClock().today() - dt.timedelta(days=2)
    options = bench.BenchOptions(accounts=ACCOUNTS, seed=3, day=day, ages=(0, 2, 5))
    store = SqlStore(db_url)
    try:
        report = bench.run_bench(
            store,
            clock,
            bench_repo_for,
            options,
            DEFAULT_OFFICES,
            shipped_tariffs(),
            settle=lambda d: settle_in_child(db_url, d),
        )
        history = "SELECT count(DISTINCT day) FROM transfers WHERE kind = 'charge'"
        assert _scalar(store, history) == 5 + 1  # five earlier days and the day settled
        assert audit_ledger_ok(store)
    finally:
        store.dispose()
    assert [a.age_days for a in report.ages] == [0, 2, 5]
    # The same day settled each time, taken back out between: the same charges every time.
    charged = {a.settle.report["charged_fen"] for a in report.ages}
    assert len(charged) == 1 and report.charged_fen in charged
    assert report.charges_posted == ACCOUNTS
    assert report.age_ratio(report.ages[0]) == 1.0
    assert [a["age_days"] for a in report.as_dict()["ages"]] == [0, 2, 5]


@pytest.mark.skipif(not HAS_SETTLEMENT, reason="gridpay.services.settlement is not written yet")
def test_repeats_settle_the_day_again_at_each_age_and_report_the_median(
    db_url: str, clock: FakeClock
) -> None:
    from gridpay.services.settlement import settle_day  # noqa: PLC0415

    day = SystemClock().today() - dt.timedelta(days=2)
    options = bench.BenchOptions(accounts=ACCOUNTS, seed=3, day=day, ages=(0, 2), repeats=3)
    store = SqlStore(db_url)
    seconds = iter([3.0, 1.0, 2.0, 5.0, 4.0, 6.0])

    def settle(d: dt.date) -> bench.SettleMeasurement:
        report = settle_day(store, SystemClock(), d, reader_process=False)
        wall = next(seconds)
        return bench.SettleMeasurement(wall, wall, 0, 0, {"charged_fen": report.charged_fen}, wall)

    try:
        report = bench.run_bench(
            store, clock, bench_repo_for, options, DEFAULT_OFFICES, shipped_tariffs(), settle=settle
        )
        assert audit_ledger_ok(store)
    finally:
        store.dispose()
    assert [len(a.samples) for a in report.ages] == [3, 3]
    # Taken back out between repeats: the ledger holds the day once, the same charges each time.
    assert report.charges_posted == ACCOUNTS
    assert len({s.report["charged_fen"] for a in report.ages for s in a.samples}) == 1
    assert [a.settle.seconds for a in report.ages] == [2.0, 5.0]
    assert [a.cpu_seconds_median for a in report.ages] == [2.0, 5.0]
    assert report.age_ratio(report.ages[1]) == 2.5
    assert report.as_dict()["ages"][1]["settle_seconds_samples"] == [5.0, 4.0, 6.0]


def test_the_reads_bench_times_reads_with_their_cpu_and_statements_on_random_accounts(
    db_url: str, clock: FakeClock
) -> None:
    store = SqlStore(db_url)
    try:
        city = small_reads_city(store, clock, ACCOUNTS, 70)
        settings = Settings()
        report = bench_reads.run_reads_bench(
            store,
            store.engine,
            FixedClock(bench_reads.as_of(city)),
            credit_policy(settings),
            city,
            reused=False,
            samples=25,
        )
    finally:
        store.dispose()
    assert report.month == "2026-10"  # a whole month inside the history
    assert [r.name for r in report.reads] == [
        "account show",
        "statement 2026-10",
        "home page (reads)",
    ]
    for read in report.reads:
        assert len(read.seconds) == len(read.statements) == 25
        numbers = read.as_dict()
        assert 0 < numbers["p50_ms"] <= numbers["p95_ms"] <= numbers["p99_ms"] <= numbers["max_ms"]
        assert numbers["statements_mean"] > 0 and numbers["cpu_mean_ms"] > 0


def audit_ledger_ok(store: SqlStore) -> bool:
    """The ledger's own checks (the bench's synthetic usage rows are not re-priced)."""
    from gridpay.services.audit import (  # noqa: PLC0415
        audit,
        cached_balances_match_transfers,
        transfers_balanced,
    )

    return audit(store, (transfers_balanced, cached_balances_match_transfers)).ok


def test_bench_headend_collects_lists_the_faulty_and_confirms_trips():
    result = CliRunner().invoke(
        app,
        ["bench", "headend", "--meters", "300", "--trips", "50", "--paced-per-s", "500", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    clean, faulty = report["collections"]
    assert (clean["collected"], clean["failed"]) == (300, 0)
    assert (faulty["faulty"], faulty["failed"], faulty["collected"]) == (6, 6, 294)
    assert faulty["healthy_all_collected"] and faulty["faulty_all_listed"]
    assert [s["confirmed"] for s in report["switching"]] == [50, 50]
    burst = report["queue_burst"]  # queued in meter_commands, recorded by the worker
    assert (burst["commands"], burst["confirmed"]) == (50, 50)
    assert burst["statements_per_command"] < 1  # the dispatcher's writes go in batches
    assert 0 < burst["p50_s"] <= burst["p95_s"] <= burst["p99_s"] <= burst["max_s"]
    assert burst["client_cpu_s"] > 0 and burst["fleet_cpu_s"] > 0  # each side's process
    assert burst["fleet_cpu_ms_per_command"] == 1000 * burst["fleet_cpu_s"] / 50
