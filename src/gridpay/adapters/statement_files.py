"""A partner's daily statement (CSV) read into text columns, and the day's report written."""

from __future__ import annotations

import io
import os
from pathlib import Path

import polars as pl

from gridpay import limits
from gridpay.adapters.payout_files import CUSTOMER_FILE_MODE
from gridpay.domain.money import format_fen_expr
from gridpay.errors import InvalidInput, NotFound

REPORT_COLUMNS = (
    "reference",
    "account_no",
    "outcome",
    "amount_yuan_ours",
    "amount_yuan_theirs",
    "confirmed_by",
)


def read_statement(path: Path) -> pl.DataFrame:
    """Every column as text (the domain checks them); refuses a file that is not UTF-8 CSV."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"statement {path} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"statement {path} cannot be read: {exc}") from None
    return parse_statement(data, f"statement {path}")


def parse_statement(data: bytes, source: str) -> pl.DataFrame:
    """A statement's bytes (a file, an upload) as text columns; ``source`` names it in errors."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source} is not UTF-8: {exc}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            infer_schema=False,
            has_header=True,
            n_rows=limits.statement_rows_max + 1,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise InvalidInput(f"{source} is not a CSV file with a header line: {exc}") from None
    if frame.height > limits.statement_rows_max:
        raise InvalidInput(f"{source} has more than {limits.statement_rows_max:,} lines")
    return frame


def write_report(path: Path, lines: pl.DataFrame) -> int:
    """The day's reconciliation, one line per reference (customer data: owner-only file)."""
    report = _report(lines)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, CUSTOMER_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        report.write_csv(out)
    return report.height


def report_csv(lines: pl.DataFrame) -> bytes:
    """The day's report as ``write_report`` writes it, for a download."""
    out = io.BytesIO()
    _report(lines).write_csv(out)
    return out.getvalue()


def _report(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.select(
        "reference",
        "account_no",
        "outcome",
        format_fen_expr(pl.col("amount_fen_ours")).alias("amount_yuan_ours"),
        format_fen_expr(pl.col("amount_fen_theirs")).alias("amount_yuan_theirs"),
        "confirmed_by",
    )
