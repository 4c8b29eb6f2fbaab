"""Files for the finance office and the monthly billing system (CSV, UTF-8, a header line).

- the payout batch: refunds due, one per line (``ref,account_no,name,amount_yuan``), which the
  finance office sends to the bank and uploads back once the bank has paid them;
- the hand-over file: the households that left, with their closing position.

They hold names and amounts of customers: written for the owner only.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from gridpay import limits
from gridpay.domain.leaving import PayoutLine, parse_payout_line
from gridpay.errors import InvalidInput, NotFound

CUSTOMER_FILE_MODE = 0o600


def write_records(path: Path, columns: Sequence[str], records: Iterable[dict[str, str]]) -> int:
    """Write ``records`` under a header of ``columns``; the number of lines written."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    written = 0
    for record in records:
        writer.writerow(record)
        written += 1
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, CUSTOMER_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(buffer.getvalue())
    return written


def read_payout_csv(path: Path) -> list[PayoutLine]:
    """The lines of an uploaded payout file (line 2 is the first after the header)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFound(f"payout file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"payout file {path} cannot be read: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"ref", "amount_yuan"} - set(reader.fieldnames or ())
    if missing:
        raise InvalidInput(
            f"payout file {path} lacks the column(s) {', '.join(sorted(missing))} "
            f"(expected a header line: ref,account_no,name,amount_yuan)"
        )
    lines: list[PayoutLine] = []
    for line_no, row in enumerate(reader, start=2):
        if len(lines) >= limits.payout_lines_max:
            raise InvalidInput(
                f"payout file {path} has more than {limits.payout_lines_max:,} lines: split it"
            )
        lines.append(parse_payout_line(line_no, row.get("ref") or "", row.get("amount_yuan") or ""))
    return lines
