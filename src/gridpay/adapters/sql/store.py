"""The SQL store: one engine, units of work over one transaction each, Alembic migrations."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from gridpay import limits
from gridpay.adapters.sql.account_changes_repo import SqlAccountChangesRepo
from gridpay.adapters.sql.archive_repo import SqlArchiveRepo
from gridpay.adapters.sql.audit_repo import SqlAuditRepo
from gridpay.adapters.sql.commands_repo import SqlCommandsRepo
from gridpay.adapters.sql.console_repo import SqlConsoleRepo
from gridpay.adapters.sql.credit_repo import SqlCreditRepo
from gridpay.adapters.sql.db import READ_ONLY_OPTION, make_engine, sqlite_path
from gridpay.adapters.sql.enrolment_repo import SqlEnrolmentRepo
from gridpay.adapters.sql.household_repo import SqlHouseholdRepo
from gridpay.adapters.sql.housekeeping_repo import SqlHousekeepingRepo
from gridpay.adapters.sql.leaving_repo import SqlLeavingRepo
from gridpay.adapters.sql.ledger_repo import SqlLedgerRepo
from gridpay.adapters.sql.outbox_repo import SqlOutboxRepo
from gridpay.adapters.sql.partners_repo import SqlPartnersRepo
from gridpay.adapters.sql.queries_repo import SqlQueriesRepo
from gridpay.adapters.sql.readings_repo import SqlReadingsRepo
from gridpay.adapters.sql.registry_repo import SqlRegistryRepo
from gridpay.adapters.sql.settlement_repo import SqlSettlementRepo
from gridpay.adapters.sql.staff_repo import SqlAuditLogRepo, SqlStaffRepo
from gridpay.adapters.sql.wallet_repo import SqlWalletRepo
from gridpay.errors import DatabaseUnreachable, NoDatabase

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SETTLEMENT_LOCK_KEY = 0x67726964  # "grid": PostgreSQL advisory lock between settlement and imports


class SqlUnitOfWork:
    """One database transaction; the repositories all work inside it."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._checkpoint_deferred = False
        self.conn: Connection | None = None

    def __enter__(self) -> Self:
        self.conn = self._engine.connect()
        if self._read_only:
            # PostgreSQL: the driver then begins with BEGIN READ ONLY, one round trip instead
            # of two (a household's page is a handful); the setting leaves with the connection.
            postgres = self.conn.dialect.name == "postgresql"
            options = {
                READ_ONLY_OPTION: True,
                **({"postgresql_readonly": True} if postgres else {}),
            }
            self.conn = self.conn.execution_options(**options)
        self._transaction = self.conn.begin()
        self.registry = SqlRegistryRepo(self.conn)
        self.ledger = SqlLedgerRepo(self.conn)
        self.readings = SqlReadingsRepo(self.conn)
        self.settlement = SqlSettlementRepo(self.conn)
        self.queries = SqlQueriesRepo(self.conn)
        self.audit = SqlAuditRepo(self.conn)
        self.enrolment = SqlEnrolmentRepo(self.conn)
        self.leaving = SqlLeavingRepo(self.conn)
        self.credit = SqlCreditRepo(self.conn)
        self.outbox = SqlOutboxRepo(self.conn)
        self.commands = SqlCommandsRepo(self.conn)
        self.account_changes = SqlAccountChangesRepo(self.conn)
        self.archive = SqlArchiveRepo(self.conn)
        self.staff = SqlStaffRepo(self.conn)
        self.audit_log = SqlAuditLogRepo(self.conn)
        self.console = SqlConsoleRepo(self.conn)
        self.household = SqlHouseholdRepo(self.conn)
        self.partners = SqlPartnersRepo(self.conn)
        self.wallet = SqlWalletRepo(self.conn)
        self.housekeeping = SqlHousekeepingRepo(self.conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.conn is not None
        if self._transaction.is_active:
            self._transaction.rollback()
        if self._checkpoint_deferred:
            # Outside any transaction now: straight to the driver, which would otherwise begin
            # one (and take the write lock) for a pragma.
            self._driver().execute(
                f"PRAGMA wal_autocheckpoint={limits.sqlite_wal_checkpoint_pages}"
            )
        self.conn.close()
        self.conn = None

    def _driver(self) -> Any:
        assert self.conn is not None
        return self.conn.connection.driver_connection

    def defer_checkpoint(self) -> None:
        """This transaction's commit leaves the write-ahead log to a later ``Store.checkpoint``
        (SQLite; elsewhere nothing): a big commit then does not copy it into the database."""
        assert self.conn is not None
        if self.conn.dialect.name == "sqlite":
            self._driver().execute("PRAGMA wal_autocheckpoint=0")
            self._checkpoint_deferred = True

    def lock_settlement(self, *, shared: bool) -> None:
        """Serialize this transaction with settlement chunks (held until commit or rollback).

        A settlement chunk takes it exclusively; a readings import shares it. Without it, on
        PostgreSQL, a chunk could estimate a day after an import checked that the day was not
        yet settled but before the import committed its reading: the reading would be stored
        with no true-up queued. SQLite serializes all writers already.
        """
        assert self.conn is not None
        if self.conn.dialect.name == "postgresql":
            function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            self.conn.execute(text(f"SELECT {function}(:key)"), {"key": SETTLEMENT_LOCK_KEY})

    def commit(self) -> None:
        self._transaction.commit()

    def rollback(self) -> None:
        self._transaction.rollback()


def _cause(exc: DBAPIError) -> str:
    """The driver's reason in one line (psycopg's first line names the server and the fault)."""
    text = str(exc.orig).strip().splitlines()
    return (text[0] if text else type(exc.orig).__name__).removeprefix("connection failed: ")


def _unreachable(engine: Engine, exc: DBAPIError) -> str:
    url = engine.url
    cause = _cause(exc)
    if url.password:
        cause = cause.replace(str(url.password), "***")
    host = f"{url.host or 'localhost'}:{url.port or 5432}"
    return (
        f"cannot connect to PostgreSQL at {host} as {url.username or '(no user)'} "
        f"(database {url.database}, password {'***' if url.password else 'none'}): {cause}"
    )


class SqlStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def check_open(self, *, schema_required: bool) -> None:
        """Refuse, in one line, a database that is not there or cannot be reached.

        Checked before the first connection: SQLite would create a missing file, and a command
        would then fail on its first table. ``schema_required`` is false for ``gridpay init``.
        """
        path = sqlite_path(self.url)
        if schema_required and path is not None and not path.exists():
            raise NoDatabase(f"no database at {path}: run `gridpay init` to create it")
        try:
            with self.engine.connect() as conn:
                ready = inspect(conn).has_table("alembic_version")
        except DBAPIError as exc:
            if path is not None:
                raise NoDatabase(f"{path} is not a gridpay database: {_cause(exc)}") from None
            raise DatabaseUnreachable(_unreachable(self.engine, exc)) from None
        if schema_required and not ready:
            where = path if path is not None else f"database {self.engine.url.database}"
            raise NoDatabase(f"no gridpay tables in {where}: run `gridpay init` to create them")

    def ping(self) -> None:
        """One round trip to the database (the HTTP app's health check); raises if it fails."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def reader(self) -> SqlUnitOfWork:
        """A unit of work that only reads: it takes no write lock (SQLite) and is read-only
        (PostgreSQL), so it runs beside a writer; it is rolled back when it ends."""
        return SqlUnitOfWork(self.engine, read_only=True)

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest Alembic revision."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file without waiting for anyone (SQLite's
        passive checkpoint, on a connection of its own, so it runs beside a writer)."""
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def opener(self) -> Callable[[], SqlStore] | None:
        """``SqlStore(url)`` for another process; None for an in-memory SQLite database."""
        database = self.engine.url.database
        if self.dialect == "sqlite" and (not database or database == ":memory:"):
            return None
        return partial(SqlStore, self.url)

    def let_other_writers_in(self) -> None:
        """Between two long write transactions: give waiting writers their turn.

        PostgreSQL locks rows, so payments never wait for a whole run there; SQLite locks the
        database, see ``limits.sqlite_writer_pause_s``.
        """
        if self.dialect == "sqlite":
            time.sleep(limits.sqlite_writer_pause_s)

    def dispose(self) -> None:
        self.engine.dispose()
