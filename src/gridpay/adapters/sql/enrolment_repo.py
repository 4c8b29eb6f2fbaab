"""SQL: agreements, contacts and protected customers, and the enrolment progress report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import Connection, case, func, select, text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date, as_utc, bulk_insert, fetch_frame
from gridpay.domain.enrolment import (
    Agreement,
    Contact,
    ContactRole,
    EnrolChannel,
    OpeningPosition,
    PositionSource,
    Protection,
    ProtectionReason,
    progress_table,
)
from gridpay.domain.registry import Language

_EVENTS_SCHEMA = {"office_id": pl.Int64, "day": pl.Date, "joined": pl.Int64, "left": pl.Int64}


class SqlEnrolmentRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- agreements -----------------------------------------------------------------------

    def open_enrolment(self, account_id: int) -> Agreement | None:
        e = schema.enrolments
        row = self.conn.execute(
            select(e).where(e.c.account_id == account_id, e.c.left_at.is_(None))
        ).first()
        return _agreement(row._mapping) if row else None

    def latest_enrolment(self, account_id: int) -> Agreement | None:
        e = schema.enrolments
        row = self.conn.execute(
            select(e).where(e.c.account_id == account_id).order_by(e.c.id.desc()).limit(1)
        ).first()
        return _agreement(row._mapping) if row else None

    def add_enrolment(
        self,
        account_id: int,
        day: dt.date,
        at: dt.datetime,
        channel: str,
        office_id: int | None,
        position: OpeningPosition | None = None,
        position_source: PositionSource | None = None,
    ) -> int | None:
        """Insert unless an agreement is in force (the partial unique index decides, so two
        clerks enrolling one account at once leave one agreement and no error)."""
        e = schema.enrolments
        values = {
            "account_id": account_id,
            "enrolled_on": day,
            "enrolled_at": at,
            "channel": channel,
            "office_id": office_id,
            "opening_wh": position.register_wh if position else None,
            "opening_ytd_wh": position.ytd_wh if position else None,
            "position_source": position_source.value if position_source else None,
        }
        stmt = (
            _insert(self.conn, e)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=["account_id"], index_where=text("left_at IS NULL")
            )
            .returning(e.c.id)
        )
        row = self.conn.execute(stmt).first()
        return int(row[0]) if row else None

    def set_opening_position(
        self, enrolment_id: int, position: OpeningPosition, position_source: PositionSource
    ) -> bool:
        e = schema.enrolments
        updated = self.conn.execute(
            e.update()
            .where(e.c.id == enrolment_id, e.c.opening_wh.is_(None))
            .values(
                opening_wh=position.register_wh,
                opening_ytd_wh=position.ytd_wh,
                position_source=position_source.value,
            )
        ).rowcount
        return updated == 1

    def close_enrolment(self, account_id: int, day: dt.date, at: dt.datetime) -> bool:
        e = schema.enrolments
        closed = self.conn.execute(
            e.update()
            .where(e.c.account_id == account_id, e.c.left_at.is_(None))
            .values(left_on=day, left_at=at)
        ).rowcount
        assert closed <= 1  # the partial unique index allows one agreement in force
        return closed == 1

    def add_imported_enrolments(self, accounts: pl.DataFrame, day: dt.date, at: dt.datetime) -> int:
        """Agreements for accounts the same transaction registered (none can be in force)."""
        if accounts.height == 0:
            return 0
        given = pl.col("opening_wh").is_not_null()
        rows = accounts.select(
            pl.col("id").alias("account_id"),
            pl.lit(day, dtype=pl.Date).alias("enrolled_on"),
            pl.lit(at, dtype=pl.Datetime("us", "UTC")).alias("enrolled_at"),
            pl.lit("import").alias("channel"),
            pl.col("office_id"),
            pl.col("opening_wh").cast(pl.Int64),
            pl.col("opening_ytd_wh").cast(pl.Int64),
            pl.when(given)
            .then(pl.lit(PositionSource.ACCOUNTS_FILE.value))
            .otherwise(pl.lit(PositionSource.MISSING.value))
            .alias("position_source"),
        )
        return bulk_insert(self.conn, "enrolments", rows)

    def first_settled_day(self, account_id: int) -> dt.date | None:
        # The account's first usage row starts a run: one seek of the partial run index.
        value = self.conn.execute(
            text("SELECT min(day) FROM daily_usage WHERE account_id = :a AND starts_run"),
            {"a": account_id},
        ).scalar()
        return as_date(value)

    def set_billing_mode(self, account_id: int, billing_mode: str) -> None:
        a = schema.accounts
        updated = self.conn.execute(
            a.update().where(a.c.id == account_id).values(billing_mode=billing_mode)
        ).rowcount
        assert updated == 1

    # --- contacts and protection ------------------------------------------------------------

    def add_contact(
        self,
        account_id: int,
        phone: str,
        role: str,
        language: str,
        name: str | None,
        at: dt.datetime,
    ) -> bool:
        c = schema.contacts
        values = {
            "account_id": account_id,
            "phone": phone,
            "role": role,
            "language": language,
            "name": name,
            "added_at": at,
        }
        stmt = (
            _insert(self.conn, c)
            .values(values)
            .on_conflict_do_nothing(index_elements=["account_id", "phone"])
            .returning(c.c.phone)
        )
        return self.conn.execute(stmt).first() is not None

    def contacts(self, account_id: int) -> list[Contact]:
        c = schema.contacts
        customer_first = case((c.c.role == "customer", 0), else_=1)
        rows = self.conn.execute(
            select(c.c.phone, c.c.role, c.c.language, c.c.name)
            .where(c.c.account_id == account_id)
            .order_by(customer_first, c.c.added_at, c.c.phone)
        )
        return [
            Contact(
                phone=r.phone, role=ContactRole(r.role), language=Language(r.language), name=r.name
            )
            for r in rows
        ]

    def set_protection(
        self, account_id: int, reason: str | None, note: str | None, at: dt.datetime
    ) -> None:
        p = schema.protections
        self.conn.execute(p.delete().where(p.c.account_id == account_id))
        if reason is not None:
            self.conn.execute(
                p.insert().values(account_id=account_id, reason=reason, note=note, noted_at=at)
            )

    def protection(self, account_id: int) -> Protection | None:
        p = schema.protections
        row = self.conn.execute(
            select(p.c.reason, p.c.note, p.c.noted_at).where(p.c.account_id == account_id)
        ).first()
        if row is None:
            return None
        noted_at = as_utc(row.noted_at)
        assert noted_at is not None
        return Protection(reason=ProtectionReason(row.reason), note=row.note, noted_at=noted_at)

    def supply(self, account_id: int) -> tuple[str, int]:
        s = schema.credit_state
        row = self.conn.execute(
            select(s.c.supply, s.c.cycle).where(s.c.account_id == account_id)
        ).first()
        return (str(row[0]), int(row[1])) if row else ("on", 0)

    # --- the progress report (GROUP BY, no loop per account) --------------------------------

    def report(self, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        offices = {int(i): str(n) for i, n in self.conn.execute(select(schema.offices))}
        params = {"first": first_day, "last": last_day}
        eligible = fetch_frame(
            self.conn,
            "SELECT office_id, COUNT(*) AS eligible FROM accounts "
            "WHERE supply_type = 'direct' GROUP BY office_id",
            schema={"office_id": pl.Int64, "eligible": pl.Int64},
        )
        # In force at the start of the first day: agreements signed before it and not ended
        # before it, plus accounts already prepaid with no agreement row at all (they moved to
        # smart payment before the drive, e.g. since 2014).
        before = fetch_frame(
            self.conn,
            "SELECT office_id, SUM(n) AS enrolled_total FROM ("
            "  SELECT a.office_id, COUNT(*) AS n FROM enrolments e"
            "  JOIN accounts a ON a.id = e.account_id"
            "  WHERE e.enrolled_on < :first AND (e.left_on IS NULL OR e.left_on >= :first)"
            "  GROUP BY a.office_id"
            "  UNION ALL"
            "  SELECT a.office_id, COUNT(*) AS n FROM accounts a"
            "  WHERE a.billing_mode = 'prepaid' AND a.supply_type = 'direct'"
            "  AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.account_id = a.id)"
            "  GROUP BY a.office_id"
            ") t GROUP BY office_id",
            params,
            schema={"office_id": pl.Int64, "enrolled_total": pl.Int64},
        )
        events = fetch_frame(
            self.conn,
            "SELECT office_id, day, SUM(joined) AS joined, SUM(gone) AS left FROM ("
            "  SELECT a.office_id, e.enrolled_on AS day, COUNT(*) AS joined, 0 AS gone"
            "  FROM enrolments e JOIN accounts a ON a.id = e.account_id"
            "  WHERE e.enrolled_on BETWEEN :first AND :last"
            "  GROUP BY a.office_id, e.enrolled_on"
            "  UNION ALL"
            "  SELECT a.office_id, e.left_on AS day, 0 AS joined, COUNT(*) AS gone"
            "  FROM enrolments e JOIN accounts a ON a.id = e.account_id"
            "  WHERE e.left_on BETWEEN :first AND :last"
            "  GROUP BY a.office_id, e.left_on"
            ") t GROUP BY office_id, day",
            params,
            schema=_EVENTS_SCHEMA,
        )
        signed = fetch_frame(
            self.conn,
            "SELECT office_id, enrolled_on AS day, COUNT(*) AS signed_here FROM enrolments "
            "WHERE channel = 'office' AND enrolled_on BETWEEN :first AND :last "
            "GROUP BY office_id, enrolled_on",
            params,
            schema={"office_id": pl.Int64, "day": pl.Date, "signed_here": pl.Int64},
        )
        return progress_table(offices, eligible, before, events, signed, first_day, last_day)

    def first_enrolled_on(self) -> dt.date | None:
        value = self.conn.execute(select(func.min(schema.enrolments.c.enrolled_on))).scalar()
        return as_date(value)


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _agreement(mapping: Any) -> Agreement:
    enrolled_on, enrolled_at = as_date(mapping["enrolled_on"]), as_utc(mapping["enrolled_at"])
    assert enrolled_on is not None
    assert enrolled_at is not None
    return Agreement(
        id=mapping["id"],
        account_id=mapping["account_id"],
        enrolled_on=enrolled_on,
        enrolled_at=enrolled_at,
        channel=EnrolChannel(mapping["channel"]),
        office_id=mapping["office_id"],
        left_on=as_date(mapping["left_on"]),
        left_at=as_utc(mapping["left_at"]),
        opening_wh=mapping["opening_wh"],
        opening_ytd_wh=mapping["opening_ytd_wh"],
        position_source=(
            PositionSource(mapping["position_source"]) if mapping["position_source"] else None
        ),
    )
