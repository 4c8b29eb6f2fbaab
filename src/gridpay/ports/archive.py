"""Old months of the ledger moved out of the hot database into files, with their totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ArchivedMonth:
    month: dt.date  # the month's first day
    last_day: dt.date
    path: str
    sha256: str
    transfers: int
    amount_fen: int
    archived_at: dt.datetime


class ArchiveRepo(Protocol):
    """The archive's records and moves; the hot transfers leave only with their totals kept."""

    def archived_months(self) -> list[ArchivedMonth]: ...

    def export_month(
        self, first_day: dt.date, last_day: dt.date, folder: Path, at: dt.datetime
    ) -> ArchivedMonth:
        """Write the month's transfers to a Parquet file in ``folder`` and record it, its
        checksum, its totals and each ledger account's debits and credits in it."""
        ...

    def remove_hot_month(self, first_day: dt.date, last_day: dt.date, *, keep_table: bool) -> int:
        """Take the month's transfers out of the hot ledger (some or all of them: call again
        until 0). Returns how many left the hot tables in this call."""
        ...

    def file_sha256(self, path: str) -> str | None:
        """The file's sha256, or None when it is not there."""
        ...
