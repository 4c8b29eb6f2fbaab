"""Registry in SQL: offices, tariffs, accounts and meters."""

from __future__ import annotations

import datetime as dt
import tomllib
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import bulk_insert, fetch_frame
from gridpay.domain.tariff import Tariff, parse_tariff


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
        return [parse_tariff(tomllib.loads(r.spec_toml)) for r in rows]

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
    def existing_ids(self, table: str, ids: pl.Series) -> pl.Series:
        """Which of ``ids`` already exist in ``table`` (accounts or meters)."""
        if ids.len() == 0:
            return ids
        found = fetch_frame(self.conn, f"SELECT id FROM {table}", schema={"id": pl.Int64})
        return ids.filter(ids.is_in(found["id"].implode()))

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

    def account(self, account_id: int) -> dict[str, Any] | None:
        a = schema.accounts
        row = self.conn.execute(select(a).where(a.c.id == account_id)).first()
        return dict(row._mapping) if row else None

    def meters_of(self, account_id: int) -> list[dict[str, Any]]:
        m = schema.meters
        rows = self.conn.execute(
            select(m).where(m.c.account_id == account_id).order_by(m.c.installed_on)
        )
        return [dict(r._mapping) for r in rows]
