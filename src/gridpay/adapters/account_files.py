"""Account files: a CSV of accounts and their meters, read as text for the registry to check.

Every field is read as text (``infer_schema=False``): the domain decides what is valid, so a
malformed value becomes a reported row, never a failed import. Rows are numbered as a spreadsheet
shows them: the header is row 1, the first account row 2.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gridpay.domain.registry import EXTRA_FIELDS_COLUMN
from gridpay.errors import InvalidInput

FIRST_ROW_NO = 2


def read_accounts_csv(path: str | Path) -> pl.DataFrame:
    """All rows of ``path`` as String columns named by its header (trimmed, lower case), plus
    ``row_no`` and ``unnamed_fields``. Raises ``InvalidInput`` if the file cannot be read."""
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"cannot read {path}: no such file")
    header = _header(source)
    schema = {name: pl.String for name in (*header, EXTRA_FIELDS_COLUMN)}
    try:
        frame = pl.read_csv(
            source,
            has_header=False,
            skip_rows=1,
            schema=schema,
            missing_columns="insert",
            truncate_ragged_lines=True,
            encoding="utf8",
        )
    except pl.exceptions.NoDataError:
        frame = pl.DataFrame(schema=schema)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidInput(f"cannot read {path} as CSV: {_reason(exc)}") from None
    return frame.with_row_index("row_no", offset=FIRST_ROW_NO).with_columns(
        pl.col("row_no").cast(pl.Int64)
    )


def _header(source: Path) -> list[str]:
    try:
        names = pl.read_csv(source, n_rows=0, infer_schema=False, encoding="utf8").columns
    except pl.exceptions.NoDataError:
        raise InvalidInput(f"{source} is empty: it needs a header row") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidInput(f"cannot read {source} as CSV: {_reason(exc)}") from None
    cleaned = [name.strip().lower() for name in names]
    cleaned = [name or f"column_{i}" for i, name in enumerate(cleaned, start=1)]
    repeated = sorted({name for name in cleaned if cleaned.count(name) > 1})
    if repeated:
        raise InvalidInput(f"{source}: header repeats column(s) {', '.join(repeated)}")
    return cleaned


def _reason(exc: BaseException) -> str:
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "utf-8" in message.lower():
        return "it is not UTF-8 text (save it as 'CSV UTF-8')"
    return message
