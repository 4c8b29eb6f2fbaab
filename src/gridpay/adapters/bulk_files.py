"""Bulk files into Polars: readings files (CSV or Parquet) as text columns with row numbers.

Every row reaches the domain rules as text with its 1-based row number and its raw text, so that
a broken row is quarantined with a reason instead of failing the whole file. That is why a CSV
file is split into lines and fields here (vectorized, in Polars) rather than handed to
``pl.read_csv``: the CSV reader stops the whole file at one row with too many fields, and cannot
say which line of the file a row came from. Readings files hold only numbers, dates and meter
numbers, so a field never legitimately contains the separator, a quote or a line break; a
line whose fields do not match the header is reported as a malformed row.

Problems with the file as a whole (missing, unreadable, no header, required columns absent) raise
``NotFound`` / ``InvalidInput`` with a message naming the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gridpay import limits
from gridpay.domain.readings import FILE_COLUMNS, METER_NO_DIGITS, RAW_SCHEMA, REQUIRED_COLUMNS
from gridpay.domain.text import (
    first_control_char,
    has_control_chars,
    printable,
    printable_expr,
)
from gridpay.errors import InvalidInput, NotFound

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = {".parquet", ".pq"}
CSV_SEPARATORS = (",", ";", "\t")


@dataclass(frozen=True)
class ReadingsFile:
    source: str  # the file's name, recorded with every reading and quarantined row
    rows: pl.DataFrame  # ``RAW_SCHEMA``: one row per data row of the file


def read_readings_file(path: str | Path) -> ReadingsFile:
    """Read a readings file (CSV with a header line, or Parquet with the same column names)."""
    path = Path(path)
    data = _read_bytes(path)
    if data.startswith(PARQUET_MAGIC) or path.suffix.lower() in PARQUET_SUFFIXES:
        rows = _parquet_rows(data, path)
    else:
        rows = _csv_rows(data, path)
    rows = _refuse_control_chars(rows)
    assert rows.schema == pl.Schema(RAW_SCHEMA)
    return ReadingsFile(source=printable(path.name)[: limits.reading_source_chars_max], rows=rows)


def _refuse_control_chars(rows: pl.DataFrame) -> pl.DataFrame:
    """A row with a control character in a field is malformed, naming the field and character.

    Its fields and raw text are kept with those characters replaced, so the quarantine holds it
    on both engines (PostgreSQL refuses NUL in text) and nothing quoted from it can act on a
    terminal. Tabs are left to the fields' own rules (they separate a TSV file's fields, and no
    number, date or meter number holds one), so one scan of the raw line finds every row
    concerned: the fields are cut from it.
    """
    if not rows.select(has_control_chars(pl.col("raw"), keep_tabs=True).any()).item():
        return rows  # the usual file: one scan, no sentences, no copies
    named = [
        pl.when(has_control_chars(pl.col(c), keep_tabs=True)).then(
            pl.format(f"{c} holds {{}}", first_control_char(pl.col(c), keep_tabs=True))
        )
        for c in FILE_COLUMNS
    ]
    found = pl.concat_str(named, separator="; ", ignore_nulls=True)
    problem = pl.when(found.str.len_chars() > 0).then(
        pl.format("{}, a control or text-direction character", found)
    )
    return rows.with_columns(
        pl.coalesce("row_error", problem).alias("row_error"),
        *(printable_expr(pl.col(c), keep_tabs=True) for c in ("raw", *FILE_COLUMNS)),
    )


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise NotFound(f"readings file {path} does not exist")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder, not a readings file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read readings file {path}: {exc.strerror}") from None


def _check_columns(names: list[str], path: Path) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1 and n in FILE_COLUMNS})
    if repeated:
        raise InvalidInput(f"readings file {path} has column(s) {', '.join(repeated)} twice")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        found = ", ".join(n for n in names if n) or "none"
        raise InvalidInput(
            f"readings file {path} lacks column(s) {', '.join(missing)} "
            f"(found: {found}; expected {', '.join(FILE_COLUMNS)}, the last four optional)"
        )


# --- CSV -------------------------------------------------------------------------------------


def _csv_rows(data: bytes, path: Path) -> pl.DataFrame:
    # utf-8-sig drops the byte-order mark spreadsheet programs write; a stray invalid byte
    # becomes U+FFFD and the row it is in is then quarantined, quoting it.
    text = data.decode("utf-8-sig", errors="replace")
    lines = (
        pl.DataFrame({"raw": [text]})
        .select(pl.col("raw").str.split("\n"))
        .explode("raw")
        .with_row_index("row_no")
        .with_columns(pl.col("row_no").cast(pl.Int64), pl.col("raw").str.strip_suffix("\r"))
    )
    header = lines["raw"][0]
    if not header.strip():
        raise InvalidInput(
            f"readings file {path} has no header line (expected {', '.join(REQUIRED_COLUMNS)})"
        )
    separator = max(CSV_SEPARATORS, key=header.count)
    names = [_field_text(n).lower() for n in header.split(separator)]
    _check_columns(names, path)
    body = lines.filter(
        (pl.col("row_no") > 0) & (pl.col("raw").str.strip_chars() != "")
    ).with_columns(pl.col("raw").str.split(separator).alias("fields"))  # split once, not per column
    fields = pl.col("fields")
    field_count = fields.list.len()
    columns = [
        (_csv_field(fields, names.index(c)) if c in names else pl.lit(None, pl.String)).alias(c)
        for c in FILE_COLUMNS
    ]
    row_error = (
        pl.when(field_count != len(names))
        .then(
            pl.format(f"the row has {{}} field(s) where the header has {len(names)}", field_count)
        )
        .otherwise(pl.lit(None, pl.String))
        .alias("row_error")
    )
    return body.select(pl.col("row_no"), pl.col("raw"), row_error, *columns)


def _field_text(text: str) -> str:
    return text.strip().strip('"').strip()


def _csv_field(fields: pl.Expr, index: int) -> pl.Expr:
    return (
        fields.list.get(index, null_on_oob=True).str.strip_chars().str.strip_chars('"')
    ).str.strip_chars()


# --- Parquet ---------------------------------------------------------------------------------


def _parquet_rows(data: bytes, path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read readings file {path} as Parquet: {exc}") from None
    frame = frame.rename({n: n.strip().lower() for n in frame.columns})
    _check_columns(frame.columns, path)
    present = [c for c in FILE_COLUMNS if c in frame.columns]
    texts = [_parquet_text(frame, c, path).alias(c) for c in present]
    absent = [pl.lit(None, pl.String).alias(c) for c in FILE_COLUMNS if c not in frame.columns]
    rows = frame.select(*texts, *absent).with_row_index("row_no", offset=1)
    raw = pl.concat_str([pl.col(c).fill_null("") for c in present], separator=",")
    return rows.select(
        pl.col("row_no").cast(pl.Int64),
        raw.alias("raw"),
        pl.lit(None, pl.String).alias("row_error"),
        *FILE_COLUMNS,
    )


def _parquet_text(frame: pl.DataFrame, column: str, path: Path) -> pl.Expr:
    """A Parquet column as the text a CSV file would hold (the rules then treat both alike)."""
    dtype = frame.schema[column]
    expr = pl.col(column)
    if dtype == pl.String:
        return expr
    if dtype.is_integer() and column == "meter_no":
        return expr.cast(pl.String).str.zfill(
            METER_NO_DIGITS
        )  # an integer loses a meter number's zeros
    if dtype == pl.Date:
        return expr.dt.to_string("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return expr.dt.date().dt.to_string("%Y-%m-%d")
    if dtype.is_numeric() or dtype == pl.Categorical:
        # Floats print as their shortest exact repr (1234.56 -> '1234.56'), so kWh written from
        # decimal text come back digit for digit; the rules then parse them exactly.
        return expr.cast(pl.String)
    raise InvalidInput(
        f"readings file {path}: column {column} holds {dtype}, expected text, numbers or dates"
    )
