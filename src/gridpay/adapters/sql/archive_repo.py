"""The archive of closed months: Parquet files of their transfers, their totals kept in SQL.

A month's file holds its transfers sorted by account, so a statement reads only the row groups
whose account range holds the account (Parquet's per-group statistics). The month's totals and
each ledger account's debits and credits in it stay in ``archived_months`` and
``archived_balances``: the audit proves the cached balances with them plus the hot transfers.

Taking the month out of the hot ledger: on PostgreSQL the month's partition is detached (then
dropped, or kept as a plain table) and any of its rows the default partition holds deleted; on
SQLite the rows are deleted in batches (each call one batch; call again until none are left).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, select, text

from gridpay import limits
from gridpay.adapters.sql import ledger_partitions, schema
from gridpay.adapters.sql.db import as_date, as_utc, bulk_insert, fetch_frame_bulk
from gridpay.adapters.sql.schema import RARE_TRANSFERS_OF_TABLE
from gridpay.ports.archive import ArchivedMonth

ARCHIVE_SCHEMA: dict[str, Any] = {
    "seq": pl.Int64,
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
    "created_at": pl.String,  # as stored; a statement converts it
}
_COLUMNS = ", ".join(ARCHIVE_SCHEMA)
_ROW_GROUP_ROWS = 65_536
_HASH_BLOCK_BYTES = 1 << 20


def archive_file_name(first_day: dt.date) -> str:
    return f"transfers_{first_day:%Y%m}.parquet"


def month_id_bounds(first_day: dt.date, last_day: dt.date) -> list[tuple[str, str]]:
    """Id ranges of the month's own charges and credits (``charge/<day>/...``, day first)."""
    after = last_day + dt.timedelta(days=1)
    return [
        (f"{p}/{first_day.isoformat()}", f"{p}/{after.isoformat()}") for p in ("charge", "credit")
    ]


class SqlArchiveRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def _pg(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def archived_months(self) -> list[ArchivedMonth]:
        table = schema.archived_months
        rows = self.conn.execute(select(table).order_by(table.c.month)).all()
        return [
            ArchivedMonth(
                month=as_date(r.month),  # type: ignore[arg-type]
                last_day=as_date(r.last_day),  # type: ignore[arg-type]
                path=r.path,
                sha256=r.sha256,
                transfers=int(r.transfers),
                amount_fen=int(r.amount_fen),
                archived_at=as_utc(r.archived_at),  # type: ignore[arg-type]
            )
            for r in rows
        ]

    def month_transfers(self, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """The hot transfers dated in the month, each found without a scan of other months."""
        params: dict[str, Any] = {"a": first_day, "b": last_day}
        if self._pg:
            sql = f"SELECT {_COLUMNS} FROM transfers WHERE day BETWEEN :a AND :b"
            return fetch_frame_bulk(self.conn, sql, params, ARCHIVE_SCHEMA)
        parts = []
        for n, (lo, hi) in enumerate(month_id_bounds(first_day, last_day)):
            params[f"lo{n}"], params[f"hi{n}"] = lo, hi
            parts.append(
                f"SELECT {_COLUMNS} FROM transfers WHERE id >= :lo{n} AND id < :hi{n} "
                "AND day BETWEEN :a AND :b"
            )
        parts.append(
            f"SELECT {_COLUMNS} FROM transfers INDEXED BY ix_transfers_rare_account_id_seq "
            f"WHERE {RARE_TRANSFERS_OF_TABLE} AND day BETWEEN :a AND :b"
        )
        return fetch_frame_bulk(self.conn, " UNION ALL ".join(parts), params, ARCHIVE_SCHEMA)

    def export_month(
        self, first_day: dt.date, last_day: dt.date, folder: Path, at: dt.datetime
    ) -> ArchivedMonth:
        frame = self.month_transfers(first_day, last_day).sort("account_id", "day", "seq")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / archive_file_name(first_day)
        partial = path.with_suffix(".parquet.partial")
        frame.write_parquet(partial, row_group_size=_ROW_GROUP_ROWS, statistics=True)
        os.replace(partial, path)  # a file under the final name is always whole
        archived = ArchivedMonth(
            month=first_day,
            last_day=last_day,
            path=str(path.resolve()),
            sha256=_sha256(path),
            transfers=frame.height,
            amount_fen=int(frame["amount_fen"].sum()),
            archived_at=at,
        )
        self.conn.execute(
            text(
                "INSERT INTO archived_months (month, last_day, path, sha256, transfers, "
                "amount_fen, archived_at) VALUES (:month, :last_day, :path, :sha256, "
                ":transfers, :amount_fen, :archived_at)"
            ),
            {
                "month": archived.month,
                "last_day": archived.last_day,
                "path": archived.path,
                "sha256": archived.sha256,
                "transfers": archived.transfers,
                "amount_fen": archived.amount_fen,
                "archived_at": at,
            },
        )
        bulk_insert(self.conn, "archived_balances", _balances(frame, first_day))
        return archived

    def remove_hot_month(self, first_day: dt.date, last_day: dt.date, *, keep_table: bool) -> int:
        if self._pg:
            return self._detach(first_day, last_day, keep_table=keep_table)
        removed = 0
        batch = limits.archive_delete_rows_max
        for lo, hi in month_id_bounds(first_day, last_day):
            removed += self.conn.execute(
                text(
                    "DELETE FROM transfers WHERE seq IN (SELECT seq FROM transfers "
                    "WHERE id >= :lo AND id < :hi AND day BETWEEN :a AND :b LIMIT :n)"
                ),
                {"lo": lo, "hi": hi, "a": first_day, "b": last_day, "n": batch},
            ).rowcount
        removed += self.conn.execute(
            text(
                "DELETE FROM transfers WHERE seq IN (SELECT seq FROM transfers "
                f"INDEXED BY ix_transfers_rare_account_id_seq WHERE {RARE_TRANSFERS_OF_TABLE} "
                "AND day BETWEEN :a AND :b LIMIT :n)"
            ),
            {"a": first_day, "b": last_day, "n": batch},
        ).rowcount
        return removed

    def _detach(self, first_day: dt.date, last_day: dt.date, *, keep_table: bool) -> int:
        name = ledger_partitions.partition_name(first_day)
        removed = 0
        if name in ledger_partitions.existing_partitions(self.conn):
            removed += int(self.conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            self.conn.exec_driver_sql(f"ALTER TABLE transfers DETACH PARTITION {name}")
            if not keep_table:
                self.conn.exec_driver_sql(f"DROP TABLE {name}")
        removed += self.conn.execute(
            text(f"DELETE FROM {ledger_partitions.DEFAULT_PARTITION} WHERE day BETWEEN :a AND :b"),
            {"a": first_day, "b": last_day},
        ).rowcount
        return removed

    def file_sha256(self, path: str) -> str | None:
        file = Path(path)
        return _sha256(file) if file.is_file() else None


def read_archived_transfers(path: str, account_id: int) -> pl.DataFrame:
    """The account's transfers in an archived month's file (its row groups only)."""
    moved = (pl.col("debit_account_id") == account_id) | (pl.col("credit_account_id") == account_id)
    return pl.scan_parquet(path).filter(pl.col("account_id") == account_id, moved).collect()


def _balances(frame: pl.DataFrame, first_day: dt.date) -> pl.DataFrame:
    debits = frame.group_by(pl.col("debit_account_id").alias("ledger_account_id")).agg(
        pl.col("amount_fen").sum().alias("debits_fen")
    )
    credits = frame.group_by(pl.col("credit_account_id").alias("ledger_account_id")).agg(
        pl.col("amount_fen").sum().alias("credits_fen")
    )
    return (
        debits.join(credits, on="ledger_account_id", how="full", coalesce=True, validate="1:1")
        .fill_null(0)
        .with_columns(pl.lit(first_day).alias("month"))
        .select("month", "ledger_account_id", "debits_fen", "credits_fen")
        .sort("ledger_account_id")
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()
