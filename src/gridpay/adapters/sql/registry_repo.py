"""Registry in SQL: offices, tariffs, accounts and meters."""

from __future__ import annotations

import datetime as dt
import functools
import time
import tomllib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import Connection, bindparam, func, select, text, update
from sqlalchemy.exc import OperationalError

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import bulk_insert, dialect, fetch_frame
from gridpay.adapters.sql.settlement_repo import last_settled_days
from gridpay.domain.registry import (
    REGISTERED_ACCOUNT_SCHEMA,
    REGISTERED_METER_SCHEMA,
    Account,
    AccountLine,
    BillingMode,
    Language,
    Meter,
    MeterUse,
    SupplyType,
)
from gridpay.domain.tariff import Tariff, parse_tariff

# The tables whose foreign keys a bulk registration drops (the first) or refers to (all).
_REGISTRATION_TABLES = ("offices", "accounts", "meters", "ledger_accounts")
_LOCK_NOT_AVAILABLE = "55P03"


# Read by every payment: built once (a Core statement built per call cost more than its query).
@functools.lru_cache(maxsize=limits.tariff_versions_cached_max)
def _parsed_tariff(spec_toml: str) -> Tariff:
    """Parsing is most of reading the tariffs (the households' pages read them on every view);
    a stored version's text never changes, so its parse is kept by the text itself."""
    return parse_tariff(tomllib.loads(spec_toml))


_ACCOUNT = select(schema.accounts).where(schema.accounts.c.id == bindparam("id"))
_ACCOUNTS = select(schema.accounts).where(
    schema.accounts.c.id.in_(bindparam("ids", expanding=True))
)
_METERS_OF = (
    select(schema.meters)
    .where(schema.meters.c.account_id == bindparam("account_id"))
    .order_by(schema.meters.c.installed_on)
)


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        account_no=row.account_no,
        name=row.name,
        phone=row.phone,
        language=Language(row.language),
        supply_type=SupplyType(row.supply_type),
        tariff_code=row.tariff_code,
        office_id=row.office_id,
        billing_mode=BillingMode(row.billing_mode),
        created_at=row.created_at,
    )


class SqlRegistryRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- offices ---------------------------------------------------------------------------
    def offices(self) -> dict[int, str]:
        o = schema.offices
        return {r.id: r.name for r in self.conn.execute(select(o).order_by(o.c.id))}

    def ensure_offices(self, names: list[str]) -> None:
        existing = self.offices()
        rows = [
            {"id": i, "name": name} for i, name in enumerate(names, start=1) if i not in existing
        ]
        if rows:
            self.conn.execute(schema.offices.insert(), rows)

    # --- tariffs ---------------------------------------------------------------------------
    def tariffs(self) -> list[Tariff]:
        t = schema.tariffs
        rows = self.conn.execute(select(t.c.spec_toml).order_by(t.c.code, t.c.effective_from))
        return [_parsed_tariff(r.spec_toml) for r in rows]

    def save_tariff(self, tariff: Tariff, spec_toml: str, loaded_at: dt.datetime) -> bool:
        """Store a tariff version; False if that (code, effective_from) is already stored."""
        t = schema.tariffs
        existing = self.conn.execute(
            select(t.c.spec_toml).where(
                t.c.code == tariff.code, t.c.effective_from == tariff.effective_from
            )
        ).first()
        if existing is not None:
            return False
        self.conn.execute(
            t.insert().values(
                code=tariff.code,
                effective_from=tariff.effective_from,
                name=tariff.name,
                spec_toml=spec_toml,
                loaded_at=loaded_at,
            )
        )
        return True

    # --- accounts and meters ----------------------------------------------------------------
    def insert_accounts(self, accounts: pl.DataFrame) -> int:
        n = bulk_insert(self.conn, "accounts", accounts)
        ledger = accounts.select(
            pl.col("id"),
            pl.format("customer:{}", pl.col("account_no")).alias("code"),
            pl.lit("customer").alias("kind"),
            pl.col("id").alias("account_id"),
            pl.lit(0, dtype=pl.Int64).alias("debits_posted_fen"),
            pl.lit(0, dtype=pl.Int64).alias("credits_posted_fen"),
        )
        bulk_insert(self.conn, "ledger_accounts", ledger)
        return n

    def insert_meters(self, meters: pl.DataFrame) -> int:
        return bulk_insert(self.conn, "meters", meters)

    def account(self, account_id: int) -> Account | None:
        row = self.conn.execute(_ACCOUNT, {"id": account_id}).first()
        return None if row is None else _account(row)

    def accounts(self, account_ids: Collection[int]) -> dict[int, Account]:
        """The accounts of these ids that exist, in one statement."""
        if not account_ids:
            return {}
        rows = self.conn.execute(_ACCOUNTS, {"ids": sorted(set(account_ids))})
        return {int(r.id): _account(r) for r in rows}

    def meters_of(self, account_id: int) -> list[Meter]:
        rows = self.conn.execute(_METERS_OF, {"account_id": account_id})
        return [_meter(r._mapping) for r in rows]

    # --- registration (accounts import / add, meter replacement) ----------------------------
    # Added for the registry service; the methods above are kept as they were.

    def tariff_codes(self) -> set[str]:
        t = schema.tariffs
        return {r.code for r in self.conn.execute(select(t.c.code).distinct())}

    def lock_for_registration(self) -> None:
        """Make concurrent registrations queue instead of failing on each other's new rows.

        SQLite already holds the database's write lock (BEGIN IMMEDIATE). PostgreSQL takes a
        lock that excludes other writers of these two tables but not readers, payments or
        settlement (which only read them).
        """
        if dialect(self.conn) == "postgresql":
            self.conn.exec_driver_sql("LOCK TABLE accounts, meters IN SHARE ROW EXCLUSIVE MODE")

    @contextmanager
    def bulk_registration(self, new_accounts: int) -> Iterator[None]:
        """Around the inserts of a registration of ``new_accounts`` accounts (and their meters).

        PostgreSQL, big registrations: drop the foreign keys of accounts, meters and ledger
        accounts (whatever PostgreSQL lists, so keys added by later migrations are included) and
        add each back, by its name and definition, after the inserts: adding a key checks every
        row in one join. DDL is transactional, so a failed check (or any failure inside) rolls
        the whole registration back with the keys as they were. Dropping a key locks its tables
        exclusively until commit: payments, settlement and queries wait for the import (seconds)
        instead of reading alongside it; those locks are taken without risk of deadlock (see
        ``_lock_for_bulk``). Otherwise (SQLite, which does not enforce foreign keys; small
        registrations; registrations small next to the accounts already registered; a role that
        does not own the tables; tables that stay busy): nothing, the keys check row by row.
        """
        if not self._bulk_pays(new_accounts) or not self._lock_for_bulk():
            yield
            return
        keys = self.conn.execute(
            text(
                "SELECT quote_ident(c.relname) AS table_name, quote_ident(k.conname) AS name, "
                "pg_get_constraintdef(k.oid) AS definition "
                "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "WHERE k.contype = 'f' AND k.conrelid = ANY(CAST(:tables AS regclass[])) "
                "ORDER BY k.conname"
            ),
            {"tables": list(_REGISTRATION_TABLES[1:])},
        ).all()
        for key in keys:
            self.conn.exec_driver_sql(f"ALTER TABLE {key.table_name} DROP CONSTRAINT {key.name}")
        yield
        for key in keys:
            self.conn.exec_driver_sql(
                f"ALTER TABLE {key.table_name} ADD CONSTRAINT {key.name} {key.definition}"
            )

    def _lock_for_bulk(self) -> bool:
        """Lock the tables exclusively until commit without ever waiting long enough to
        deadlock; False if they stayed busy for ``limits.bulk_registration_lock_wait_s``."""
        deadline = time.monotonic() + limits.bulk_registration_lock_wait_s
        while True:
            try:
                with self.conn.begin_nested():  # a failed attempt releases what it took
                    self.conn.exec_driver_sql(
                        f"SET LOCAL lock_timeout = '{limits.bulk_registration_lock_timeout_ms}ms'"
                    )
                    self.conn.exec_driver_sql(
                        f"LOCK TABLE {', '.join(_REGISTRATION_TABLES)} IN ACCESS EXCLUSIVE MODE"
                    )
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                    raise
                if time.monotonic() >= deadline:
                    return False
                time.sleep(limits.bulk_registration_lock_retry_pause_s)
                continue
            # SET LOCAL outlives a released savepoint: give the rest of the import its default.
            self.conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
            return True

    def _bulk_pays(self, new_accounts: int) -> bool:
        if (
            dialect(self.conn) != "postgresql"
            or new_accounts < limits.bulk_registration_accounts_min
        ):
            return False
        # reltuples is the planner's estimate (-1 before the first ANALYZE): counting would scan
        # the table. Only a table's owner may drop and add its keys: a role that may only write
        # the rows (migrations run by another role) takes the row-by-row path.
        row = self.conn.execute(
            text(
                "SELECT max(reltuples) FILTER (WHERE relname = 'accounts') AS registered, "
                "bool_and(pg_has_role(relowner, 'USAGE')) AS owner FROM pg_class "
                "WHERE oid = ANY(CAST(:tables AS regclass[]))"
            ),
            {"tables": list(_REGISTRATION_TABLES[1:])},
        ).one()
        share = limits.bulk_registration_share_min * max(float(row.registered), 0.0)
        return bool(row.owner) and new_accounts >= share

    def registered(
        self, account_ids: pl.Series, meter_ids: pl.Series
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The stored accounts among ``account_ids`` and stored meters among ``meter_ids``.

        Frames follow ``REGISTERED_ACCOUNT_SCHEMA`` and ``REGISTERED_METER_SCHEMA``.
        """
        accounts = self._stored_by_id(
            "SELECT a.id, a.account_no, a.name, a.phone, a.language, a.supply_type, "
            "a.tariff_code, a.office_id, a.billing_mode FROM accounts a",
            "a.id",
            account_ids,
            dict(REGISTERED_ACCOUNT_SCHEMA),
        )
        meter_schema: dict[str, Any] = dict(REGISTERED_METER_SCHEMA)
        meter_schema.update(has_tou=pl.Int64, has_switch=pl.Int64)
        meters = self._stored_by_id(
            "SELECT m.id, m.meter_no, m.account_id, CAST(m.has_tou AS INTEGER) AS has_tou, "
            "CAST(m.has_switch AS INTEGER) AS has_switch, m.breaker_a, m.installed_on, "
            "m.removed_on, m.initial_wh, m.final_wh FROM meters m",
            "m.id",
            meter_ids,
            meter_schema,
        ).with_columns(pl.col("has_tou").cast(pl.Boolean), pl.col("has_switch").cast(pl.Boolean))
        return accounts, meters

    def _stored_by_id(
        self, select_sql: str, id_column: str, ids: pl.Series, frame_schema: dict[str, Any]
    ) -> pl.DataFrame:
        """Rows of ``select_sql`` whose ``id_column`` is among ``ids``.

        Ids that lie densely in one range (a file of accounts is usually a block of numbers)
        are read as one range scan of the primary key and filtered here; scattered ids are
        looked up by literal IN lists of at most ``limits.registry_in_list_ids_max`` integers.
        Either way, no statement binds hundreds of thousands of parameters.
        """
        wanted = ids.drop_nulls().unique().cast(pl.Int64).sort()
        if wanted.len() == 0:
            return pl.DataFrame(schema=frame_schema)
        low, high = int(wanted[0]), int(wanted[-1])
        if high - low + 1 <= limits.registry_range_span_per_id_max * wanted.len():
            wheres = [f"{id_column} BETWEEN {low} AND {high}"]
        else:
            batches = [
                wanted.slice(start, limits.registry_in_list_ids_max).to_list()
                for start in range(0, wanted.len(), limits.registry_in_list_ids_max)
            ]
            wheres = [f"{id_column} IN ({', '.join(map(str, batch))})" for batch in batches]
        found = pl.concat(
            [
                fetch_frame(self.conn, f"{select_sql} WHERE {where}", schema=frame_schema)
                for where in wheres
            ],
            how="vertical",
        )
        return found.filter(pl.col("id").is_in(wanted.implode()))

    def meter(self, meter_id: int) -> Meter | None:
        m = schema.meters
        row = self.conn.execute(select(m).where(m.c.id == meter_id)).first()
        return _meter(row._mapping) if row else None

    def meter_use(self, account_id: int, meter_id: int, day: dt.date) -> MeterUse:
        """What a meter replacement on ``day`` must not contradict (see ``MeterUse``)."""
        r = schema.readings
        last_reading_wh = self.conn.execute(
            select(func.max(r.c.total_wh)).where(r.c.meter_id == meter_id, r.c.day <= day)
        ).scalar()
        readings_after_n = self.conn.execute(
            select(func.count()).select_from(r).where(r.c.meter_id == meter_id, r.c.day > day)
        ).scalar_one()
        settled_through = last_settled_days(self.conn, [account_id]).get(account_id)
        return MeterUse(
            last_reading_wh=last_reading_wh,
            readings_after_n=readings_after_n,
            settled_through=settled_through,
        )

    def remove_meter(self, meter_id: int, removed_on: dt.date, final_wh: int) -> bool:
        """Take a meter out of service; False if it was not in service (someone was first)."""
        m = schema.meters
        result = self.conn.execute(
            update(m)
            .where(m.c.id == meter_id, m.c.removed_on.is_(None))
            .values(removed_on=removed_on, final_wh=final_wh)
        )
        return result.rowcount == 1

    def count_accounts(self, office_id: int | None = None) -> int:
        a = schema.accounts
        query = select(func.count()).select_from(a)
        if office_id is not None:
            query = query.where(a.c.office_id == office_id)
        return int(self.conn.execute(query).scalar_one())

    def list_accounts(self, office_id: int | None, limit: int) -> list[AccountLine]:
        """Accounts in number order with their meter in service (if any), at most ``limit``."""
        a, m = schema.accounts, schema.meters
        in_service = (m.c.account_id == a.c.id) & m.c.removed_on.is_(None)
        query = (
            select(
                a.c.account_no,
                a.c.name,
                a.c.office_id,
                a.c.supply_type,
                a.c.billing_mode,
                a.c.tariff_code,
                m.c.meter_no,
            )
            .select_from(a.outerjoin(m, in_service))
            .order_by(a.c.id)
            .limit(limit)
        )
        if office_id is not None:
            query = query.where(a.c.office_id == office_id)
        return [
            AccountLine(
                **{
                    **r._mapping,
                    "supply_type": SupplyType(r.supply_type),
                    "billing_mode": BillingMode(r.billing_mode),
                }
            )
            for r in self.conn.execute(query)
        ]


def _meter(mapping: Any) -> Meter:
    return Meter(**{name: mapping[name] for name in REGISTERED_METER_SCHEMA})
