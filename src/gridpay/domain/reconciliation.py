"""Reconciliation of a partner's day: its statement against our payments, as columns.

The statement is a CSV file (docs/partner-api.md, "Daily statement"): UTF-8 (a BOM is
tolerated), a header line ``reference,account_no,amount_yuan,paid_at``, one payment a line.
The kernel joins it with our side on the reference (one to one, checked) and gives each line
one outcome:

- ``matched``: both sides, same account and amount;
- ``amount_differs``: both sides, other amounts;
- ``account_differs``: both sides, same amount into another account;
- ``missing_ours``: on the statement only (finance may confirm it: it is then posted);
- ``missing_theirs``: ours only (the partner has to explain it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from gridpay.domain.money import format_fen
from gridpay.errors import InvalidInput

STATEMENT_COLUMNS = ("reference", "account_no", "amount_yuan", "paid_at")
STATEMENT_SCHEMA = {"reference": pl.String, "account_no": pl.String, "amount_fen": pl.Int64}
TASK_KIND = "reconciliation"
MISMATCHES = ("amount_differs", "account_differs", "missing_ours", "missing_theirs")
_OUTCOME_TEXT = {
    "amount_differs": "amounts differ",
    "account_differs": "accounts differ",
    "missing_ours": "on the statement only (not received by us)",
    "missing_theirs": "ours only (not on the statement)",
}
_REFERENCE = r"^[A-Za-z0-9_.:-]{1,47}$"
_AMOUNT = r"^([0-9]{1,10})(?:\.([0-9]{1,2}))?$"
_ERRORS_SHOWN = 5


def statement_frame(raw: pl.DataFrame) -> pl.DataFrame:
    """The statement's text columns checked and typed (``STATEMENT_SCHEMA``), or InvalidInput
    naming the first bad lines (line 2 is the first after the header)."""
    missing = [c for c in STATEMENT_COLUMNS[:3] if c not in raw.columns]
    if missing:
        raise InvalidInput(
            f"the statement lacks the column(s) {', '.join(missing)}: the header line must be "
            f"{','.join(STATEMENT_COLUMNS)}"
        )
    checked = raw.select(
        pl.col("reference").str.strip_chars(),
        pl.col("account_no").str.strip_chars(),
        pl.col("amount_yuan").str.strip_chars(),
    ).with_row_index("line", offset=2)
    whole = pl.col("amount_yuan").str.extract(_AMOUNT, 1).cast(pl.Int64)
    cents = pl.col("amount_yuan").str.extract(_AMOUNT, 2).fill_null("0").str.pad_end(2, "0")
    typed = checked.with_columns(amount_fen=whole * 100 + cents.cast(pl.Int64))
    bad = typed.filter(
        ~pl.col("reference").str.contains(_REFERENCE).fill_null(False)
        | ~pl.col("account_no").str.contains(r"^[0-9]{10}$").fill_null(False)
        | pl.col("amount_fen").is_null()
        | (pl.col("amount_fen") <= 0)
    )
    if bad.height:
        shown = "; ".join(
            f"line {r['line']}: {r['reference']!r}, {r['account_no']!r}, {r['amount_yuan']!r}"
            for r in bad.head(_ERRORS_SHOWN).iter_rows(named=True)
        )
        raise InvalidInput(
            f"{bad.height} statement line(s) are not valid (reference of letters, digits and "
            f"_.:-; a 10-digit account number; a positive amount with at most two decimals): "
            f"{shown}"
        )
    repeated = typed.filter(pl.col("reference").is_duplicated())
    if repeated.height:
        refs = ", ".join(repeated["reference"].unique(maintain_order=True).head(_ERRORS_SHOWN))
        raise InvalidInput(f"the statement repeats reference(s) {refs}: each may appear once")
    return typed.select(list(STATEMENT_SCHEMA))


def reconcile(ours: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """One line per reference of either side: reference, account_no, amount_fen_ours,
    amount_fen_theirs, outcome (see the module's doc)."""
    joined = (
        ours.lazy()
        .select(
            "reference",
            pl.col("account_no").alias("account_ours"),
            pl.col("amount_fen").alias("amount_fen_ours"),
        )
        .join(
            theirs.lazy().select(
                "reference",
                pl.col("account_no").alias("account_theirs"),
                pl.col("amount_fen").alias("amount_fen_theirs"),
            ),
            on="reference",
            how="full",
            coalesce=True,
            validate="1:1",
        )
    )
    outcome = (
        pl.when(pl.col("amount_fen_ours").is_null())
        .then(pl.lit("missing_ours"))
        .when(pl.col("amount_fen_theirs").is_null())
        .then(pl.lit("missing_theirs"))
        .when(pl.col("amount_fen_ours") != pl.col("amount_fen_theirs"))
        .then(pl.lit("amount_differs"))
        .when(pl.col("account_ours") != pl.col("account_theirs"))
        .then(pl.lit("account_differs"))
        .otherwise(pl.lit("matched"))
    )
    return (
        joined.select(
            "reference",
            pl.coalesce("account_ours", "account_theirs").alias("account_no"),
            "amount_fen_ours",
            "amount_fen_theirs",
            outcome.alias("outcome"),
        )
        .sort("reference")
        .collect()
    )


def task_key(partner_code: str, day: dt.date, reference: str) -> str:
    return f"recon/{partner_code}/{day.isoformat()}/{reference}"


def task_key_prefix(partner_code: str, day: dt.date) -> str:
    return f"recon/{partner_code}/{day.isoformat()}/"


def mismatch_tasks(
    lines: pl.DataFrame, partner_code: str, day: dt.date, at: dt.datetime
) -> list[dict[str, Any]]:
    """A finance task (``TASK_SCHEMA`` row) for each mismatched line."""
    tasks = []
    for r in lines.filter(pl.col("outcome").is_in(MISMATCHES)).iter_rows(named=True):
        ours = _yuan(r["amount_fen_ours"])
        theirs = _yuan(r["amount_fen_theirs"])
        tasks.append(
            {
                "key": task_key(partner_code, day, r["reference"]),
                "account_id": int(r["account_no"]),
                "kind": TASK_KIND,
                "reason": (
                    f"{partner_code} {day.isoformat()} reference {r['reference']}: "
                    f"{_OUTCOME_TEXT[r['outcome']]} (ours {ours}, theirs {theirs}, account "
                    f"{r['account_no']})"
                ),
                "created_at": at,
            }
        )
    return tasks


def _yuan(amount_fen: int | None) -> str:
    return "-" if amount_fen is None else f"{format_fen(amount_fen)} yuan"
