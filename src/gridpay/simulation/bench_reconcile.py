"""Bench of the nightly reconciliation: a partner's statement of many payments against ours.

Our side is loaded in bulk (the partner's posted payments of the day); the statement is written
as the CSV file a partner sends, with a few lines of each kind of mismatch. The run is timed as
``gridpay reconcile`` does it: read the file, match in Polars, replace the day's lines, open the
finance tasks. A second run (nothing changed) shows the cost of an idempotent re-run.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gridpay.adapters.clock import FixedClock
from gridpay.adapters.sql.db import bulk_insert
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.statement_files import read_statement
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES
from gridpay.services import partners, reconciliation
from gridpay.services.setup import initialize

DAY = dt.date(2026, 11, 28)
MISMATCHES_PER_KIND = 50


@dataclass(frozen=True)
class ReconcileBenchResult:
    engine: str
    statement_lines: int
    first_run_s: float
    rerun_s: float
    matched: int
    mismatches: int
    tasks_opened: int


def run(url: str, payments: int) -> ReconcileBenchResult:
    store = SqlStore(url)
    clock = FixedClock(dt.datetime(2026, 11, 29, 1, 0, tzinfo=dt.UTC), "Asia/Shanghai")
    try:
        initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
        partners.add_partner(store, clock, code="BANK", name="Bench bank", kind="bank")
        ours, theirs = _sides(payments)
        with store.unit_of_work() as uow:
            assert uow.conn is not None
            bulk_insert(uow.conn, "partner_payments", ours)
            uow.commit()
        with tempfile.TemporaryDirectory(prefix="gridpay-bench-reconcile-") as folder:
            path = Path(folder) / "statement.csv"
            theirs.write_csv(path)
            started = time.perf_counter()
            first = reconciliation.reconcile_statement(
                store, clock, "BANK", read_statement(path), DAY
            )
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            reconciliation.reconcile_statement(store, clock, "BANK", read_statement(path), DAY)
            rerun_s = time.perf_counter() - started
    finally:
        store.dispose()
    return ReconcileBenchResult(
        engine=store.dialect,
        statement_lines=theirs.height,
        first_run_s=round(first_s, 3),
        rerun_s=round(rerun_s, 3),
        matched=first.counts["matched"],
        mismatches=sum(n for k, n in first.counts.items() if k != "matched"),
        tasks_opened=first.tasks_opened,
    )


def _sides(payments: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Our posted payments and the partner's statement: equal but for a few of each mismatch."""
    k = MISMATCHES_PER_KIND
    ids = pl.int_range(0, payments, eager=True)
    base = pl.DataFrame(
        {
            "reference": ("T" + ids.cast(pl.String)),
            "account_no": (ids % 500_000 + 1).cast(pl.String).str.zfill(10),
            "amount_fen": (ids % 20_000 + 100).cast(pl.Int64),
        }
    )
    ours = base.slice(0, payments - k).with_columns(  # the last k: missing on our side
        partner_code=pl.lit("BANK"),
        day=pl.lit(DAY),
        status=pl.lit("posted"),
        transfer_id="pay/bank/BANK-" + pl.col("reference"),
        balance_fen=pl.lit(0, dtype=pl.Int64),
        reversal_id=pl.lit(None, dtype=pl.String),
        created_at=pl.lit(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC)),
    )
    extra_ours = pl.DataFrame(  # missing on theirs
        {
            "reference": [f"X{i}" for i in range(k)],
            "account_no": [f"{i + 1:010d}" for i in range(k)],
            "amount_fen": [1_000] * k,
        }
    ).with_columns(
        partner_code=pl.lit("BANK"),
        day=pl.lit(DAY),
        status=pl.lit("posted"),
        transfer_id="pay/bank/BANK-" + pl.col("reference"),
        balance_fen=pl.lit(0, dtype=pl.Int64),
        reversal_id=pl.lit(None, dtype=pl.String),
        created_at=pl.lit(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC)),
    )
    index = pl.int_range(0, payments, eager=True).alias("i")
    theirs = base.with_columns(index).with_columns(
        amount_fen=pl.when(pl.col("i") < k)  # amount differs
        .then(pl.col("amount_fen") + 1)
        .otherwise(pl.col("amount_fen")),
        account_no=pl.when((pl.col("i") >= k) & (pl.col("i") < 2 * k))  # account differs
        .then(pl.lit("0000999999"))
        .otherwise(pl.col("account_no")),
    )
    statement = theirs.select(
        "reference",
        "account_no",
        amount_yuan=(pl.col("amount_fen") // 100).cast(pl.String)
        + "."
        + (pl.col("amount_fen") % 100).cast(pl.String).str.zfill(2),
        paid_at=pl.lit("2026-11-28T10:00:00+08:00"),
    )
    return pl.concat([ours, extra_ours], how="diagonal_relaxed").select(_OURS_COLUMNS), statement


_OURS_COLUMNS = [
    "partner_code",
    "reference",
    "account_no",
    "amount_fen",
    "day",
    "status",
    "transfer_id",
    "balance_fen",
    "reversal_id",
    "created_at",
]
