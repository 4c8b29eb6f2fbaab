"""The ledger in SQL: append-only transfers and relative balance updates, in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, select, text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date, bulk_add, bulk_insert, fetch_frame
from gridpay.domain.ledger import SYSTEM_ACCOUNTS, Transfer, TransferKind
from gridpay.errors import Conflict, NotFound

TRANSFER_FIELDS = (
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount_fen",
    "kind",
    "account_id",
    "day",
    "channel",
    "ref",
    "office_id",
    "reverses_id",
    "note",
)

TRANSFER_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "debit_account_id": pl.Int64,
    "credit_account_id": pl.Int64,
    "amount_fen": pl.Int64,
    "kind": pl.String,
    "account_id": pl.Int64,
    "day": pl.Date,
    "channel": pl.String,
    "ref": pl.String,
    "office_id": pl.Int64,
    "reverses_id": pl.String,
    "note": pl.String,
    "created_at": pl.Datetime("us"),
}


def transfer_from_row(row: Any) -> Transfer:
    m = row._mapping
    return Transfer(
        id=m["id"],
        debit_account_id=m["debit_account_id"],
        credit_account_id=m["credit_account_id"],
        amount_fen=m["amount_fen"],
        kind=TransferKind(m["kind"]),
        account_id=m["account_id"],
        day=as_date(m["day"]),
        channel=m["channel"],
        ref=m["ref"],
        office_id=m["office_id"],
        reverses_id=m["reverses_id"],
        note=m["note"],
    )


class SqlLedgerRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def ensure_system_accounts(self) -> None:
        existing = {r[0] for r in self.conn.execute(select(schema.ledger_accounts.c.id))}
        rows = [
            {"id": ledger_id, "code": code, "kind": kind}
            for ledger_id, code, kind in SYSTEM_ACCOUNTS
            if ledger_id not in existing
        ]
        if rows:
            self.conn.execute(schema.ledger_accounts.insert(), rows)

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        t = schema.transfers
        row = self.conn.execute(select(t).where(t.c.id == transfer_id)).first()
        return transfer_from_row(row) if row else None

    def post(self, transfer: Transfer, created_at: dt.datetime) -> bool:
        """Post one transfer; False (and nothing written) if this exact transfer is already posted.

        The same id with different content raises ``Conflict``. ``ON CONFLICT DO NOTHING`` makes
        two concurrent posts of one id safe on both engines: the loser sees the winner's row.
        """
        values = {f: getattr(transfer, f) for f in TRANSFER_FIELDS}
        values["kind"] = transfer.kind.value
        values["created_at"] = created_at
        stmt = _insert_ignoring_duplicate_id(self.conn, values)
        inserted = self.conn.execute(stmt).first() is not None
        if not inserted:
            existing = self.get_transfer(transfer.id)
            assert existing is not None
            if not existing.same_operation(transfer):
                raise Conflict(
                    f"transfer {transfer.id} was already posted with different details "
                    f"({existing.amount_fen} fen to {existing.credit_account_id}); refused"
                )
            return False
        la = schema.ledger_accounts
        for ledger_id, column in (
            (transfer.debit_account_id, la.c.debits_posted_fen),
            (transfer.credit_account_id, la.c.credits_posted_fen),
        ):
            updated = self.conn.execute(
                la.update()
                .where(la.c.id == ledger_id)
                .values({column.name: column + transfer.amount_fen})
            ).rowcount
            if updated != 1:
                raise NotFound(f"ledger account {ledger_id} does not exist")
        return True

    def post_many(self, transfers: pl.DataFrame) -> int:
        """Bulk-post transfers whose ids are known to be new, moving balances by relative updates.

        Balance deltas are summed per ledger account first, so the revenue account is updated
        once per batch rather than once per customer.
        """
        if transfers.height == 0:
            return 0
        assert transfers["amount_fen"].min() > 0  # type: ignore[operator]
        frame = transfers.select([pl.col(c).cast(TRANSFER_SCHEMA[c]) for c in transfers.columns])
        bulk_insert(self.conn, "transfers", frame)
        debits = frame.group_by("debit_account_id").agg(pl.col("amount_fen").sum().alias("d"))
        credits = frame.group_by("credit_account_id").agg(pl.col("amount_fen").sum().alias("c"))
        bulk_add(
            self.conn,
            "ledger_accounts",
            "id",
            debits.rename({"debit_account_id": "id", "d": "debits_posted_fen"}).sort("id"),
            ["debits_posted_fen"],
        )
        bulk_add(
            self.conn,
            "ledger_accounts",
            "id",
            credits.rename({"credit_account_id": "id", "c": "credits_posted_fen"}).sort("id"),
            ["credits_posted_fen"],
        )
        return frame.height

    def customer_balances(self) -> pl.DataFrame:
        """Every customer's prepaid balance: account_id, balance_fen."""
        return fetch_frame(
            self.conn,
            "SELECT account_id, credits_posted_fen - debits_posted_fen AS balance_fen "
            "FROM ledger_accounts WHERE kind = 'customer' ORDER BY account_id",
            schema={"account_id": pl.Int64, "balance_fen": pl.Int64},
        )

    def balance_fen(self, ledger_account_id: int) -> int:
        """credits - debits (a customer's prepaid balance; negative for asset-like accounts)."""
        row = self.conn.execute(
            text(
                "SELECT credits_posted_fen - debits_posted_fen FROM ledger_accounts WHERE id = :id"
            ),
            {"id": ledger_account_id},
        ).first()
        if row is None:
            raise NotFound(f"ledger account {ledger_account_id} does not exist")
        return int(row[0])

    def lock_ledger_accounts(self, ledger_account_ids: Sequence[int]) -> None:
        """Row locks in ascending id order on PostgreSQL (no deadlock between opposite postings).

        SQLite needs nothing: every unit of work starts with BEGIN IMMEDIATE, which already holds
        the database's one write lock until commit.
        """
        if self.conn.dialect.name != "postgresql" or not ledger_account_ids:
            return
        la = schema.ledger_accounts
        ids = sorted(set(ledger_account_ids))
        self.conn.execute(
            select(la.c.id).where(la.c.id.in_(ids)).order_by(la.c.id).with_for_update()
        ).all()


def _insert_ignoring_duplicate_id(conn: Connection, values: dict[str, Any]) -> Any:
    t = schema.transfers
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return (
            pg_insert(t)
            .values(values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(t.c.seq)
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (
        sqlite_insert(t)
        .values(values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(t.c.seq)
    )
