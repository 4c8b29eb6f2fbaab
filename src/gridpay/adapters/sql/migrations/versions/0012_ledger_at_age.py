"""the ledger at a year of age: transfers laid out so a night's writes append

- Both engines: the index ``(account_id, seq)`` over every transfer goes (each night's charges
  landed beside every account's earlier ones); per-account reads find a day's own charge and
  credit by their day-first ids, and every other transfer in the partial index
  ``ix_transfers_rare_account_id_seq``.
- PostgreSQL: ``transfers`` becomes a table partitioned by month of ``day``
  (``transfers_pYYYYMM`` and a default partition), the existing rows copied in; ``(id, day)`` is
  unique, and the ids that do not name their day are kept once in ``transfer_keys`` (see
  ``adapters/sql/ledger_partitions.py``).
- ``archived_months``: the months whose transfers left the hot database for a Parquet file, with
  the file's checksum and the month's totals, so the audit still proves every fen.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from gridpay.adapters.sql import ledger_partitions as lp
from gridpay.adapters.sql.schema import RARE_TRANSFERS

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = (
    "seq, id, debit_account_id, credit_account_id, amount_fen, kind, account_id, day, "
    "channel, ref, office_id, reverses_id, note, created_at"
)
# Months created ahead of the newest transfer's, until the night creates its own.
_MONTHS_AHEAD = 2


def upgrade() -> None:
    op.create_table(
        "archived_months",
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("transfers", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "archived_balances",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("ledger_account_id", sa.BigInteger(), nullable=False),
        sa.Column("debits_fen", sa.BigInteger(), nullable=False),
        sa.Column("credits_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("month", "ledger_account_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_postgresql()
        return
    op.drop_index("ix_transfers_account_id_seq", table_name="transfers")
    op.create_index(
        "ix_transfers_rare_account_id_seq",
        "transfers",
        ["account_id", "seq"],
        sqlite_where=sa.text(RARE_TRANSFERS),
    )


def _partition_postgresql() -> None:
    conn = op.get_bind()
    old = "transfers_unpartitioned"
    conn.exec_driver_sql(f"ALTER TABLE transfers RENAME TO {old}")
    # Index and constraint names are the schema's, not the table's: free them for the new table.
    conn.exec_driver_sql(f"ALTER TABLE {old} DROP CONSTRAINT transfers_pkey")
    conn.exec_driver_sql(f"ALTER TABLE {old} DROP CONSTRAINT transfers_id_key")
    conn.exec_driver_sql("DROP INDEX ix_transfers_account_id_seq")
    conn.exec_driver_sql(f"ALTER TABLE {old} DROP CONSTRAINT ck_transfers_amount_positive")
    conn.exec_driver_sql(f"ALTER TABLE {old} DROP CONSTRAINT ck_transfers_two_accounts")
    conn.exec_driver_sql(f"ALTER TABLE {old} ALTER COLUMN seq DROP DEFAULT")
    conn.exec_driver_sql("ALTER SEQUENCE transfers_seq_seq OWNED BY NONE")
    conn.exec_driver_sql(lp.CREATE_PARENT)
    conn.exec_driver_sql("ALTER SEQUENCE transfers_seq_seq OWNED BY transfers.seq")
    for ddl in lp.CREATE_INDEXES:
        conn.exec_driver_sql(ddl)
    lp.create_default_partition(conn)
    first, last = conn.execute(sa.text(f"SELECT min(day), max(day) FROM {old}")).one()
    today = dt.datetime.now(dt.UTC).date()
    first = first or today
    last = max(last or today, today)
    for _ in range(_MONTHS_AHEAD):
        last = lp.next_month(last)
    lp.ensure_partitions(conn, first, last)
    conn.exec_driver_sql(f"INSERT INTO transfers ({_COLUMNS}) SELECT {_COLUMNS} FROM {old}")
    conn.exec_driver_sql(lp.CREATE_KEYS)
    conn.exec_driver_sql(
        f"INSERT INTO transfer_keys (id) SELECT id FROM transfers WHERE {RARE_TRANSFERS}"
    )
    conn.exec_driver_sql(f"DROP TABLE {old}")
    conn.exec_driver_sql("ANALYZE transfers")


def downgrade() -> None:
    raise NotImplementedError("the ledger's layout is not taken back")
