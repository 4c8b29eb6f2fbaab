"""Initialised databases for the ``store`` fixture without migrating one per test.

Migrating a new database (every Alembic revision, PostgreSQL's partitions, triggers...) cost
more than most tests do. Each test process therefore migrates once per engine:

- SQLite: a template file, initialised once and copied to each test's path;
- PostgreSQL: one schema per test process, initialised once; after each test the tables it
  filled are emptied (``TRUNCATE``), the initial rows put back and the sequences reset. A
  test that changed the schema itself (a table, column, constraint, index or trigger; a
  partition detached) gets the schema dropped and a new one made for the next test; month
  partitions a test added are dropped, so each test sees the partitions a fresh store has.

Both give a test the state a fresh ``initialize(store, FakeClock(), ...)`` leaves. A test with
a clock of its own (its ``initialize`` stamps the tariffs with that clock's time) gets a fresh
database, initialised as before.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text

from gridpay.adapters.sql.db import sqlite_path
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES
from gridpay.services.setup import initialize
from tests.fakes import FakeClock

TEMPLATE_NOW = FakeClock().now()  # the time a template's initialize stamps its rows with
# A test that leaves a transaction open on the schema must not hang the run: its reset gives up
# after this long and the schema is set aside for a new one.
RESET_LOCK_TIMEOUT = "15s"
_APPEND_ONLY_TRIGGER = ("audit_log", "audit_log_no_truncate")  # refuses TRUNCATE, on purpose


def _initialize(url: str) -> None:
    store = SqlStore(url)
    try:
        initialize(store, FakeClock(TEMPLATE_NOW), DEFAULT_OFFICES, shipped_tariffs())
    finally:
        store.dispose()


class SqliteTemplate:
    """A SQLite file initialised on first use, copied whole for each test."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def copy_to(self, url: str, now: dt.datetime) -> bool:
        """Put an initialised database at ``url``'s path; False (nothing done) when ``url`` is
        not a SQLite file that does not exist yet, or ``now`` is not the template's time."""
        target = sqlite_path(url)
        if target is None or target.exists() or now != TEMPLATE_NOW:
            return False
        if not self.path.exists():
            _initialize(f"sqlite:///{self.path}")
            # Everything into the main file: the copy takes that file alone.
            with sqlite3.connect(self.path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            wal = Path(f"{self.path}-wal")
            assert not wal.exists() or wal.stat().st_size == 0, "template WAL not checkpointed"
        shutil.copyfile(self.path, target)
        return True


def _schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


# What a test could change in the schema's shape; compared with the freshly made schema's.
_SHAPE_QUERIES = (
    "SELECT c.relname, c.relkind::text, c.relispartition::text, "
    " coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)"
    "  || ' ' || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),"
    "  ', ' ORDER BY a.attnum) FROM pg_attribute a LEFT JOIN pg_attrdef d"
    "  ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') "
    "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = current_schema()::regnamespace",
    "SELECT c.relname, t.tgname, t.tgenabled::text FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
    "SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "JOIN pg_class p ON p.oid = i.inhparent "
    "WHERE c.relnamespace = current_schema()::regnamespace",
)


def _shape(conn: Connection) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(sorted(tuple(r) for r in conn.execute(text(q)))) for q in _SHAPE_QUERIES)


def _tables(conn: Connection) -> list[str]:
    """Every table of the schema but Alembic's (partitions are emptied with their parent)."""
    return list(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "AND c.relname <> 'alembic_version' ORDER BY 1"
            )
        ).scalars()
    )


def _transfer_partitions(conn: Connection) -> set[str]:
    return set(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'transfers' "
                "AND p.relnamespace = current_schema()::regnamespace"
            )
        ).scalars()
    )


def _with_referrers(conn: Connection, tables: set[str]) -> set[str]:
    """``tables`` and every table whose foreign keys refer to one of them, transitively
    (TRUNCATE must empty those at the same time; they hold no rows if they were not filled)."""
    refers = list(
        conn.execute(
            text(
                "SELECT c.relname, p.relname FROM pg_constraint k "
                "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
                "WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace "
                "AND NOT c.relispartition"
            )
        )
    )
    closure = set(tables)
    grew = True
    while grew:
        more = {child for child, parent in refers if parent in closure} - closure
        closure |= more
        grew = bool(more)
    return closure


class PgWorkerSchema:
    """One test process's initialised schema, lent to one test at a time."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.schema: str | None = None
        self.leased_url: str | None = None
        self._engine: Engine | None = None
        self._admin = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self._set_aside: list[str] = []
        self._shape: tuple[tuple[Any, ...], ...] = ()
        self._partitions: set[str] = set()
        self._seeded: list[str] = []
        self._sequences: list[tuple[str, int, bool]] = []

    @contextmanager
    def lease(self, now: dt.datetime) -> Iterator[str]:
        """The schema's URL, initialised, for one test; put back afterwards. A test whose
        clock is not the template's time gets a fresh empty schema (``leased_url`` unset)."""
        if now != TEMPLATE_NOW:
            with self._fresh() as url:
                yield url
            return
        if self.schema is None:
            self._make()
        assert self.schema is not None
        url = _schema_url(self.base_url, self.schema)
        self.leased_url = url
        try:
            yield url
        finally:
            self.leased_url = None
            self._put_back()

    @contextmanager
    def _fresh(self) -> Iterator[str]:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            yield _schema_url(self.base_url, schema)
        finally:
            self._drop_schema(schema)

    def _make(self) -> None:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
            conn.execute(text(f"CREATE SCHEMA {schema}_seed"))
        self.schema = schema
        url = _schema_url(self.base_url, schema)
        _initialize(url)
        self._engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with self._engine.begin() as conn:
            self._shape = _shape(conn)
            self._partitions = _transfer_partitions(conn)
            self._seeded = [
                t
                for t in _tables(conn)
                if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {t})")).scalar()
            ]
            for table in self._seeded:
                conn.execute(text(f"CREATE TABLE {schema}_seed.{table} AS SELECT * FROM {table}"))
            self._sequences = [
                (name, int(last if last is not None else start), last is not None)
                for name, last, start in conn.execute(
                    text(
                        "SELECT sequencename, last_value, start_value FROM pg_sequences "
                        "WHERE schemaname = current_schema()"
                    )
                )
            ]

    def _put_back(self) -> None:
        """Empty what the test filled and restore the initial rows; or, if the test changed
        the schema's shape (or left it locked), set the schema aside for a new one."""
        assert self._engine is not None and self.schema is not None
        try:
            with self._engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{RESET_LOCK_TIMEOUT}'"))
                for added in sorted(_transfer_partitions(conn) - self._partitions):
                    conn.execute(text(f"DROP TABLE {added}"))
                if _shape(conn) != self._shape:
                    raise _ShapeChanged
                self._empty(conn)
        except Exception:  # noqa: BLE001 - any failure: the next test gets a new schema
            self._engine.dispose()
            self._set_aside.append(self.schema)
            self.schema, self._engine = None, None
            self._drop_set_aside()

    def _empty(self, conn: Connection) -> None:
        tables = _tables(conn)
        filled = [
            t
            for t, has_rows in zip(
                tables,
                conn.execute(
                    text("SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM {t})" for t in tables))
                ).one(),
                strict=True,
            )
            if has_rows
        ]
        emptied = sorted(_with_referrers(conn, set(filled) | set(self._seeded)))
        table, trigger = _APPEND_ONLY_TRIGGER
        guarded = table in emptied
        if guarded:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        conn.execute(text(f"TRUNCATE {', '.join(emptied)}"))
        if guarded:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
        for seeded in self._seeded:
            conn.execute(
                text(
                    f"INSERT INTO {seeded} OVERRIDING SYSTEM VALUE "
                    f"SELECT * FROM {self.schema}_seed.{seeded}"
                )
            )
        resets = ", ".join(
            f"setval('{name}', {value}, {'true' if called else 'false'})"
            for name, value, called in self._sequences
        )
        if resets:
            conn.execute(text(f"SELECT {resets}"))

    def _drop_set_aside(self) -> None:
        for schema in list(self._set_aside):
            try:
                self._drop_schema(schema)
                self._drop_schema(f"{schema}_seed")
            except Exception:  # noqa: BLE001 - still locked: tried again at the end
                continue
            self._set_aside.remove(schema)

    def _drop_schema(self, schema: str) -> None:
        with self._admin.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{RESET_LOCK_TIMEOUT}'"))
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))

    def drop(self) -> None:
        """At the end of the test process: drop every schema it made."""
        if self._engine is not None:
            self._engine.dispose()
        if self.schema is not None:
            self._set_aside.append(self.schema)
            self.schema = None
        self._drop_set_aside()
        self._admin.dispose()


class _ShapeChanged(Exception):
    """The test changed the schema's shape: it cannot be emptied back to a fresh one."""
