"""PostgreSQL's ``transfers`` partitioned by month of ``day``: names, bounds and creation ahead.

Each month is a partition ``transfers_pYYYYMM`` holding the days ``[first, first of next)``; a
default partition ``transfers_default`` takes any row no month partition covers (an undated
transfer, a day beyond those created ahead), so no posting can fail on a missing partition.
The night creates the coming months' partitions ahead of time (``ensure_partitions``), moving
any rows the default partition already holds for them.

Indexes are declared on the partitioned table, so every partition gets its own. A unique index
on a partitioned table must include the partition key: ``(id, day)`` is unique, which for a
day's own charge or credit is the id's uniqueness (its id names its day); every other id
(payments, refunds, reversals, true-ups...) is also kept once in ``transfer_keys``, whose primary
key makes it unique across months.

SQLite keeps one plain table (its ids already append): everything here is PostgreSQL's only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from gridpay.adapters.sql.schema import RARE_TRANSFERS

PARENT = "transfers"
DEFAULT_PARTITION = "transfers_default"


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(first: dt.date) -> dt.date:
    return (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def partition_name(first: dt.date) -> str:
    """``transfers_pYYYYMM``: other modules (the archive) rely on this name."""
    return f"transfers_p{first:%Y%m}"


def months_between(first_day: dt.date, last_day: dt.date) -> list[dt.date]:
    """The first day of each month from ``first_day``'s to ``last_day``'s."""
    months = []
    month = month_start(first_day)
    while month <= last_day:
        months.append(month)
        month = next_month(month)
    return months


# The partitioned table's DDL. Columns as ``schema.transfers``; no primary key (it would have to
# include ``day``): ``seq`` comes from its sequence, ``(id, day)`` is unique, see above.
CREATE_PARENT = """
CREATE TABLE transfers (
    seq BIGINT NOT NULL DEFAULT nextval('transfers_seq_seq'),
    id VARCHAR(96) NOT NULL,
    debit_account_id BIGINT NOT NULL,
    credit_account_id BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    account_id BIGINT,
    day DATE,
    channel VARCHAR(16),
    ref VARCHAR(64),
    office_id INTEGER,
    reverses_id VARCHAR(96),
    note VARCHAR(200),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT ck_transfers_amount_positive CHECK (amount_fen > 0),
    CONSTRAINT ck_transfers_two_accounts CHECK (debit_account_id <> credit_account_id)
) PARTITION BY RANGE (day)
"""

CREATE_INDEXES = (
    "CREATE UNIQUE INDEX ux_transfers_id_day ON transfers (id, day)",
    "CREATE INDEX ix_transfers_rare_account_id_seq ON transfers (account_id, seq) "
    f"WHERE {RARE_TRANSFERS}",
)

CREATE_KEYS = "CREATE TABLE transfer_keys (id VARCHAR(96) PRIMARY KEY)"


def existing_partitions(conn: Connection) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t "
            "AND pg_table_is_visible(p.oid)"
        ),
        {"t": PARENT},
    )
    return {r[0] for r in rows}


def create_default_partition(conn: Connection) -> None:
    conn.exec_driver_sql(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {PARENT} DEFAULT")


def ensure_partitions(conn: Connection, first_day: dt.date, last_day: dt.date) -> list[str]:
    """Create the month partitions covering ``first_day`` to ``last_day`` that do not exist yet;
    returns the names created. Rows the default partition holds for a new month move into it
    (a partition cannot be attached over rows the default already has for its range)."""
    have = existing_partitions(conn)
    created = []
    for first in months_between(first_day, last_day):
        name = partition_name(first)
        if name in have:
            continue
        end = next_month(first)
        bounds = {"a": first, "b": end}
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        if DEFAULT_PARTITION in have:
            conn.execute(
                text(
                    f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
                    "WHERE day >= :a AND day < :b RETURNING *) "
                    f"INSERT INTO {name} SELECT * FROM moved"
                ),
                bounds,
            )
        conn.execute(
            text(
                f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
                f"FOR VALUES FROM ('{first.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        created.append(name)
    return created
