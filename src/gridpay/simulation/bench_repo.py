"""The benchmark's SQL: raw bulk loads of a synthetic city, the floor measurement, fresh databases.

The floor is what the engine itself costs for the settlement's unavoidable writes: N rows into
a table shaped like ``transfers`` (same columns, constraints and indexes) and N relative balance
updates in a copy of ``ledger_accounts``, each by the fastest path in ``db.py`` (SQLite
``executemany``, PostgreSQL ``COPY``). The scratch tables live next to the real ones, in the same
database, so both measurements see the same disk, cache and configuration.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql.elements import quoted_name

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import bulk_add, bulk_insert, dialect, fetch_frame
from gridpay.domain.ledger import REVENUE_ID
from gridpay.errors import InvalidInput

FLOOR_TRANSFERS = "bench_floor_transfers"
FLOOR_LEDGER = "bench_floor_ledger_accounts"
LEDGER_COLUMNS = ("id", "code", "kind", "account_id", "debits_posted_fen", "credits_posted_fen")


def _floor_tables() -> tuple[Table, Table]:
    """Scratch copies of ``transfers`` and ``ledger_accounts``: the same columns, defaults,
    constraints (foreign keys included), indexes and table options, with their own names."""
    metadata = MetaData()
    # Only referred to by the ledger copy's foreign key, so that it resolves; never created.
    Table("accounts", metadata, Column("id", BigInteger, primary_key=True))
    copies = []
    for source, name in (
        (schema.transfers, FLOOR_TRANSFERS),
        (schema.ledger_accounts, FLOOR_LEDGER),
    ):
        copy = source.to_metadata(metadata, name=name)
        for index in copy.indexes:
            assert index.name is not None
            index.name = quoted_name(index.name.replace(source.name, name), None)
        copies.append(copy)
    return copies[0], copies[1]


class SqlBenchRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- loading the city (the collection system's and the registry's side) -----------------
    def insert_usage(self, usage: pl.DataFrame) -> int:
        """Prior-day state rows straight into ``daily_usage`` (the city's history)."""
        return bulk_insert(self.conn, "daily_usage", usage)

    def insert_readings(self, readings: pl.DataFrame) -> int:
        """Raw readings straight into ``readings``, as the head-end's collector would land them."""
        return bulk_insert(self.conn, "readings", readings)

    def analyze(self) -> None:
        """Fresh planner statistics, as a running database's autovacuum would keep them. On
        PostgreSQL also a VACUUM: a ledger a year old has had its past months vacuumed long
        ago, while a history just bulk-loaded would have autovacuum start on its partitions
        (and the balances' dead row versions) in the middle of the measured settlement."""
        if dialect(self.conn) != "postgresql":
            self.conn.exec_driver_sql("ANALYZE")
            return
        # VACUUM cannot run inside the unit of work's transaction: a connection of its own.
        with self.conn.engine.connect() as own:
            own.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")

    def insert_history(
        self, first_day: dt.date, last_day: dt.date, template_day: dt.date, created_at: dt.datetime
    ) -> int:
        """The days ``first_day`` to ``last_day`` of the city's history, made inside the
        database from the template day's usage rows: a usage row and a charge transfer per
        account and day (the amount ``floor_frames`` uses), day by day in key order, with the
        cached balances moved once by the days' sums (one update per account however many
        days, as a ledger vacuumed between nights holds them). Returns the charges written.
        Rows of those days must not exist yet."""
        postgresql = dialect(self.conn) == "postgresql"
        pad = "lpad(u.account_id::text, 10, '0')" if postgresql else "printf('%010d', u.account_id)"
        amount = "((u.account_id % 997 + 1) * 10)"
        at = created_at.astimezone(dt.UTC)
        if not postgresql:
            at = at.replace(tzinfo=None)  # stored as naive UTC text, as the column type writes it
        days_count = (last_day - first_day).days + 1
        params = {
            "a": first_day,
            "b": last_day,
            "t": template_day,
            "at": at,
            "revenue": REVENUE_ID,
            "n": days_count,
        }
        if postgresql:
            days = (
                "(SELECT CAST(g AS date) AS d, to_char(g, 'YYYY-MM-DD') AS dtext "
                "FROM generate_series(CAST(:a AS date), CAST(:b AS date), interval '1 day') g)"
            )
        else:
            days = (
                "(WITH RECURSIVE s(d) AS (SELECT :a UNION ALL SELECT date(d, '+1 day') FROM s "
                "WHERE d < :b) SELECT d, d AS dtext FROM s)"
            )
        usage_columns = [c.name for c in schema.daily_usage.columns]
        copied = {
            "day": "g.d",
            "charge_fen": amount,
            "energy_wh": f"({amount} * 2)",
            "starts_run": "false" if postgresql else "0",
            "run_id": "NULL",
        }
        self.conn.execute(
            text(
                f"INSERT INTO daily_usage ({', '.join(usage_columns)}) SELECT "
                + ", ".join(copied.get(c, f"u.{c}") for c in usage_columns)
                + f" FROM {days} g CROSS JOIN daily_usage u WHERE u.day = :t "
                "ORDER BY g.d, u.account_id"
            ),
            params,
        )
        written = self.conn.execute(
            text(
                "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen, "
                "kind, account_id, day, created_at) "
                f"SELECT 'charge/' || g.dtext || '/' || {pad}, u.account_id, :revenue, {amount}, "
                f"'charge', u.account_id, g.d, :at FROM {days} g CROSS JOIN daily_usage u "
                "WHERE u.day = :t ORDER BY g.d, u.account_id"
            ),
            params,
        ).rowcount
        self.conn.execute(
            text(
                "UPDATE ledger_accounts SET debits_posted_fen = debits_posted_fen + "
                "((id % 997 + 1) * 10) * :n WHERE id IN (SELECT account_id FROM daily_usage "
                "WHERE day = :t)"
            ),
            params,
        )
        self.conn.execute(
            text(
                "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen + :n * "
                f"(SELECT coalesce(sum({amount}), 0) FROM daily_usage u WHERE u.day = :t) "
                "WHERE id = :revenue"
            ),
            params,
        )
        return int(written)

    def mark_history_start(self, day: dt.date) -> None:
        """The oldest history day starts each account's run of settled days."""
        self.conn.execute(
            text("UPDATE daily_usage SET starts_run = :yes WHERE day = :d"), {"d": day, "yes": True}
        )

    def undo_settlement(self, day: dt.date) -> int:
        """Take a settled day back out (its usage rows, charges and credits, run records and
        the balances they moved), so that the same day can be settled again at another age."""
        transfers = fetch_frame(
            self.conn,
            "SELECT id, debit_account_id, credit_account_id, amount_fen FROM transfers "
            "WHERE (id >= :c AND id < :c_end) OR (id >= :r AND id < :r_end)",
            _day_id_range(day),
            {
                "id": pl.String,
                "debit_account_id": pl.Int64,
                "credit_account_id": pl.Int64,
                "amount_fen": pl.Int64,
            },
        )
        debits = transfers.group_by("debit_account_id").agg(
            (-pl.col("amount_fen").sum()).alias("debits_posted_fen")
        )
        credits = transfers.group_by("credit_account_id").agg(
            (-pl.col("amount_fen").sum()).alias("credits_posted_fen")
        )
        bulk_add(
            self.conn,
            "ledger_accounts",
            "id",
            debits.rename({"debit_account_id": "id"}).sort("id"),
            ["debits_posted_fen"],
        )
        bulk_add(
            self.conn,
            "ledger_accounts",
            "id",
            credits.rename({"credit_account_id": "id"}).sort("id"),
            ["credits_posted_fen"],
        )
        self.conn.execute(
            text(
                "DELETE FROM transfers "
                "WHERE (id >= :c AND id < :c_end) OR (id >= :r AND id < :r_end)"
            ),
            _day_id_range(day),
        )
        for table in ("daily_usage", "settlement_runs"):
            self.conn.execute(text(f"DELETE FROM {table} WHERE day = :d"), {"d": day})
        self.conn.execute(text("DELETE FROM pending_trueups"))
        return transfers.height

    # --- the floor ------------------------------------------------------------------------
    def create_floor_tables(self) -> int:
        """(Re)create the scratch tables; copy the ledger accounts. Returns ledger rows copied."""
        self.drop_floor_tables()
        transfers, ledger = _floor_tables()
        transfers.create(self.conn)
        ledger.create(self.conn)
        columns = ", ".join(LEDGER_COLUMNS)
        copied = self.conn.execute(
            text(f"INSERT INTO {FLOOR_LEDGER} ({columns}) SELECT {columns} FROM ledger_accounts")
        ).rowcount
        if dialect(self.conn) == "postgresql":
            self.conn.exec_driver_sql(f"ANALYZE {FLOOR_LEDGER}")
        return int(copied)

    def floor_insert_transfers(self, transfers: pl.DataFrame) -> int:
        return bulk_insert(self.conn, FLOOR_TRANSFERS, transfers)

    def floor_add_debits(self, deltas: pl.DataFrame) -> int:
        """``debits_posted_fen += delta`` per ledger account (``id``, ``debits_posted_fen``)."""
        return bulk_add(self.conn, FLOOR_LEDGER, "id", deltas, ["debits_posted_fen"])

    def drop_floor_tables(self) -> None:
        for table in (FLOOR_TRANSFERS, FLOOR_LEDGER):
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")

    # --- checks after the settlement --------------------------------------------------------
    def charges_for_day(self, day: dt.date) -> tuple[int, int]:
        """(charge transfers, their fen) posted for ``day``."""
        row = self.conn.execute(
            text(
                "SELECT count(*), coalesce(sum(amount_fen), 0) FROM transfers "
                "WHERE kind = 'charge' AND day = :day"
            ),
            {"day": day},
        ).one()
        return int(row[0]), int(row[1])


# --- a fresh database for one bench run ---------------------------------------------------------


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    description: str  # where it lives, for the report and for --keep


@contextmanager
def fresh_database(db: str | None, keep: bool) -> Iterator[BenchDatabase]:
    """A database that holds nothing but the bench city, removed afterwards unless ``keep``.

    - nothing given: a new SQLite file in a new temporary directory;
    - a SQLite path or URL: that file, which must not exist yet;
    - a PostgreSQL URL: a new schema ``bench_<random>`` in that database (search_path set in
      the URL), so the bench never touches the tables already there.
    """
    if db is None:
        folder = Path(tempfile.mkdtemp(prefix="gridpay-bench-"))
        path = folder / "bench.db"
        try:
            yield BenchDatabase(f"sqlite:///{path}", str(path))
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        return
    url = db if "://" in db else f"sqlite:///{db}"
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or path.exists():
            raise InvalidInput(
                f"the bench needs a SQLite file that does not exist yet; {path} exists"
            )
        try:
            yield BenchDatabase(url, str(path))
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if backend != "postgresql":
        raise InvalidInput(f"unsupported database URL {db!r}: use a SQLite path or postgresql://")
    schema_name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(parsed.set(drivername="postgresql+psycopg"))
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema_name}"))
        schema_url = _with_search_path(parsed, schema_name)
        try:
            yield BenchDatabase(schema_url, f"schema {schema_name} in {parsed.database}")
        finally:
            if not keep:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema_name} CASCADE"))
    finally:
        admin.dispose()


def _with_search_path(parsed: URL, schema_name: str) -> str:
    """The URL with ``-c search_path=<schema>`` added to any connection options it has."""
    existing = parsed.query.get("options")
    if existing is not None and not isinstance(existing, str):
        raise InvalidInput("give the PostgreSQL URL at most one 'options' parameter")
    options = " ".join(filter(None, [existing, f"-csearch_path={schema_name}"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def _day_id_range(day: dt.date) -> dict[str, str]:
    """Bounds of the ids of a day's own charges and credits (``charge/<day>/...``)."""
    c, r = f"charge/{day.isoformat()}/", f"credit/{day.isoformat()}/"
    return {"c": c, "c_end": c[:-1] + "0", "r": r, "r_end": r[:-1] + "0"}


def bench_repo_for(uow: Any) -> SqlBenchRepo:
    """The bench repository inside a SQL unit of work's transaction (bench and demo loads)."""
    conn = getattr(uow, "conn", None)
    assert conn is not None, "bulk loads run on the SQL store"
    return SqlBenchRepo(conn)
