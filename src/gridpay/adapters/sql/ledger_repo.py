"""The ledger in SQL: append-only transfers and relative balance updates, in one transaction."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Column, Connection, MetaData, String, Table, bindparam, select, text
from sqlalchemy.sql.elements import TextClause

from gridpay.adapters.sql import ledger_partitions, schema
from gridpay.adapters.sql.db import (
    PreparedInsert,
    as_date,
    bulk_add,
    fetch_frame,
    prepare_insert,
    run_insert,
)
from gridpay.adapters.sql.rows_insert import insert_new_rows
from gridpay.domain.ledger import SYSTEM_ACCOUNTS, Transfer, TransferKind
from gridpay.errors import Conflict, NotFound
from gridpay.ports.prepared import PreparedWrite

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


# A payment runs a handful of one-row statements; building each as a Core statement per call
# (coercing its operands, then hashing it for the compiled cache) cost more than running it.
# So they are built once here, with bound parameters, and typed as their columns (SQLite stores
# dates and instants as text: the column types convert both ways, as for any Core statement).
_T = schema.transfers
_LA = schema.ledger_accounts
_GET_TRANSFER = select(_T).where(_T.c.id == bindparam("id"))
_BALANCE = select(_LA.c.credits_posted_fen - _LA.c.debits_posted_fen).where(
    _LA.c.id == bindparam("id")
)
_LOCK = (
    select(_LA.c.id)
    .where(_LA.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_LA.c.id)
    .with_for_update()
)
# ``ON CONFLICT DO NOTHING`` makes two concurrent posts of one id safe on both engines: the
# loser gets no row back and reads the winner's. No conflict target: the unique key is ``id``
# on SQLite, ``(id, day)`` on PostgreSQL's partitioned ``transfers``, where an id that does not
# name its day is claimed in ``transfer_keys`` first (``ledger_partitions``).
_INSERT_TRANSFER = text(
    f"INSERT INTO transfers ({', '.join(TRANSFER_FIELDS)}, created_at) "
    f"VALUES ({', '.join(f':{f}' for f in TRANSFER_FIELDS)}, :created_at) "
    "ON CONFLICT DO NOTHING RETURNING seq"
).bindparams(
    bindparam("day", type_=_T.c.day.type),
    bindparam("created_at", type_=_T.c.created_at.type),
)
_CLAIM_KEY = text(
    "INSERT INTO transfer_keys (id) VALUES (:id) ON CONFLICT (id) DO NOTHING RETURNING id"
)
_DAY_ID_PREFIXES = ("charge/", "credit/")
# PostgreSQL's claims of ids that do not name their day (``ledger_partitions.CREATE_KEYS``): not
# in ``schema``, which describes both engines.
_TRANSFER_KEYS = Table("transfer_keys", MetaData(), Column("id", String(96), primary_key=True))


def names_its_day(transfer_id: str) -> bool:
    """A day's own charge or credit under a day-first id (``charge_id``), as
    ``schema.RARE_TRANSFERS`` tells them apart."""
    return transfer_id.startswith(_DAY_ID_PREFIXES) and transfer_id[11:12] == "-"


# Both sides of a transfer in one relative update (never a value computed from a read, so
# concurrent postings are kept); the ids differ (``Transfer`` asserts it), so two rows change.
# Each row's balance after the update comes back with it: a payment's receipt needs no read.
_MOVE = text(
    "UPDATE ledger_accounts SET "
    "debits_posted_fen = debits_posted_fen "
    "+ CASE WHEN id = :debit_id THEN :amount_fen ELSE 0 END, "
    "credits_posted_fen = credits_posted_fen "
    "+ CASE WHEN id = :credit_id THEN :amount_fen ELSE 0 END "
    "WHERE id IN (:debit_id, :credit_id) "
    "RETURNING id, credits_posted_fen - debits_posted_fen"
)


@functools.lru_cache(maxsize=128)
def _move_many(accounts: int) -> TextClause:
    """``_MOVE`` for several ledger accounts at once, each by its own debits and credits."""
    values = ", ".join(
        f"(CAST(:i{n} AS BIGINT), CAST(:d{n} AS BIGINT), CAST(:c{n} AS BIGINT))"
        for n in range(accounts)
    )
    return text(
        f"WITH v (id, d, c) AS (VALUES {values}) "
        "UPDATE ledger_accounts SET "
        "debits_posted_fen = ledger_accounts.debits_posted_fen + v.d, "
        "credits_posted_fen = ledger_accounts.credits_posted_fen + v.c "
        "FROM v WHERE ledger_accounts.id = v.id "
        "RETURNING ledger_accounts.id, "
        "ledger_accounts.credits_posted_fen - ledger_accounts.debits_posted_fen"
    )


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


@dataclass(frozen=True)
class PreparedPostings:
    """Transfers ready to post: their insert, and the balance deltas per ledger account."""

    transfers: PreparedInsert
    keys: PreparedInsert  # PostgreSQL: the ids that do not name their day, into transfer_keys
    debits: pl.DataFrame  # id, debits_posted_fen
    credits: pl.DataFrame  # id, credits_posted_fen

    @property
    def rows(self) -> int:
        return self.transfers.rows


class SqlLedgerRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

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
        row = self.conn.execute(_GET_TRANSFER, {"id": transfer_id}).first()
        return transfer_from_row(row) if row else None

    def post(self, transfer: Transfer, created_at: dt.datetime) -> bool:
        """Post one transfer; False (and nothing written) if this exact transfer is already posted.

        The same id with different content raises ``Conflict``. Two concurrent posts of one id
        are safe on both engines: the loser sees the winner's row.
        """
        return self.post_returning_balances(transfer, created_at) is not None

    def post_returning_balances(
        self, transfer: Transfer, created_at: dt.datetime
    ) -> dict[int, int] | None:
        """``post``, with both ledger accounts' balances (credits - debits) right after it;
        None (and nothing written) if this exact transfer is already posted."""
        values = {f: getattr(transfer, f) for f in TRANSFER_FIELDS}
        values["kind"] = transfer.kind.value
        values["created_at"] = created_at
        inserted = self._claim(transfer.id) and (
            self.conn.execute(_INSERT_TRANSFER, values).first() is not None
        )
        if not inserted:
            existing = self.get_transfer(transfer.id)
            assert existing is not None
            if not existing.same_operation(transfer):
                raise Conflict(
                    f"transfer {transfer.id} was already posted with different details "
                    f"({existing.amount_fen} fen to {existing.credit_account_id}); refused"
                )
            return None
        moved = self.conn.execute(
            _MOVE,
            {
                "debit_id": transfer.debit_account_id,
                "credit_id": transfer.credit_account_id,
                "amount_fen": transfer.amount_fen,
            },
        ).all()
        if len(moved) != 2:
            for ledger_id in (transfer.debit_account_id, transfer.credit_account_id):
                self.balance_fen(ledger_id)  # raises NotFound for the missing one
        assert len(moved) == 2
        return {int(ledger_id): int(balance_fen) for ledger_id, balance_fen in moved}

    def post_many_returning_balances(
        self, transfers: Sequence[Transfer], created_at: dt.datetime
    ) -> tuple[set[str], dict[int, int]]:
        """``post_returning_balances`` for several transfers of different ids in a few
        statements (claim the ids, insert the rows, one relative update of every ledger account
        they move): the ids posted now, and each moved account's balance after all of them.

        An id posted before is skipped (not in the ids returned): the caller judges it as a
        retry or a conflict, as ``post_returning_balances`` would have."""
        if not transfers:
            return set(), {}
        assert len({t.id for t in transfers}) == len(transfers), transfers
        new = list(transfers)
        if self.dialect == "postgresql":
            claim = [t.id for t in new if not names_its_day(t.id)]
            if claim:
                claimed = {
                    r[0]
                    for r in insert_new_rows(
                        self.conn,
                        _TRANSFER_KEYS,
                        [{"id": i} for i in claim],
                        conflict="(id)",
                        returning="id",
                    )
                }
                new = [t for t in new if names_its_day(t.id) or t.id in claimed]
        if not new:
            return set(), {}
        rows = []
        for t in new:
            values = {f: getattr(t, f) for f in TRANSFER_FIELDS}
            values["kind"] = t.kind.value
            values["created_at"] = created_at
            rows.append(values)
        inserted = {r[0] for r in insert_new_rows(self.conn, _T, rows, conflict="", returning="id")}
        moves: dict[int, list[int]] = {}  # ledger id: [debits, credits]
        for t in new:
            if t.id in inserted:
                moves.setdefault(t.debit_account_id, [0, 0])[0] += t.amount_fen
                moves.setdefault(t.credit_account_id, [0, 0])[1] += t.amount_fen
        if not moves:
            return inserted, {}
        params: dict[str, int] = {}
        for n, (ledger_id, (debits_fen, credits_fen)) in enumerate(sorted(moves.items())):
            params |= {f"i{n}": ledger_id, f"d{n}": debits_fen, f"c{n}": credits_fen}
        moved = self.conn.execute(_move_many(len(moves)), params).all()
        if len(moved) != len(moves):
            for ledger_id in moves:
                self.balance_fen(ledger_id)  # raises NotFound for the missing one
        assert len(moved) == len(moves), (moved, moves)
        return inserted, {int(ledger_id): int(balance_fen) for ledger_id, balance_fen in moved}

    def _claim(self, transfer_id: str) -> bool:
        """PostgreSQL: claim an id that does not name its day; False if already claimed."""
        if self.dialect != "postgresql" or names_its_day(transfer_id):
            return True
        return self.conn.execute(_CLAIM_KEY, {"id": transfer_id}).first() is not None

    def post_many(self, transfers: pl.DataFrame) -> int:
        """Bulk-post transfers whose ids are known to be new, moving balances by relative updates.

        Balance deltas are summed per ledger account first, so the revenue account is updated
        once per batch rather than once per customer.
        """
        return self.post_prepared(self.prepare_postings(transfers))

    def prepare_postings(self, transfers: pl.DataFrame) -> PreparedPostings:
        """``post_many``'s work that needs no transaction, for ``post_prepared`` (maybe in
        another process: a settlement's reader prepares, its writer posts)."""
        if transfers.height == 0:
            empty = pl.DataFrame(schema={"id": pl.Int64})
            none = prepare_insert(self.dialect, "transfers", transfers)
            return PreparedPostings(none, none, empty, empty)
        assert transfers["amount_fen"].min() > 0  # type: ignore[operator]
        frame = transfers.select([pl.col(c).cast(TRANSFER_SCHEMA[c]) for c in transfers.columns])
        debits = frame.group_by("debit_account_id").agg(pl.col("amount_fen").sum())
        credits = frame.group_by("credit_account_id").agg(pl.col("amount_fen").sum())
        keys = pl.DataFrame(schema={"id": pl.String})
        if self.dialect == "postgresql":
            day_named = pl.col("id").str.slice(0, 7).is_in(_DAY_ID_PREFIXES) & (
                pl.col("id").str.slice(11, 1) == "-"
            )
            keys = frame.filter(~day_named).select("id")
        return PreparedPostings(
            prepare_insert(self.dialect, "transfers", frame),
            prepare_insert(self.dialect, "transfer_keys", keys),
            debits.rename({"debit_account_id": "id", "amount_fen": "debits_posted_fen"}).sort("id"),
            credits.rename({"credit_account_id": "id", "amount_fen": "credits_posted_fen"}).sort(
                "id"
            ),
        )

    def post_prepared(self, prepared: PreparedWrite) -> int:
        assert isinstance(prepared, PreparedPostings), prepared
        if prepared.transfers.rows == 0:
            return 0
        run_insert(self.conn, prepared.keys)
        run_insert(self.conn, prepared.transfers)
        bulk_add(self.conn, "ledger_accounts", "id", prepared.debits, ["debits_posted_fen"])
        bulk_add(self.conn, "ledger_accounts", "id", prepared.credits, ["credits_posted_fen"])
        return prepared.transfers.rows

    def ensure_partitions(self, first_day: dt.date, last_day: dt.date) -> list[str]:
        if self.dialect != "postgresql":
            return []
        return ledger_partitions.ensure_partitions(self.conn, first_day, last_day)

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
        row = self.conn.execute(_BALANCE, {"id": ledger_account_id}).first()
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
        self.conn.execute(_LOCK, {"ids": sorted(set(ledger_account_ids))}).all()
