"""Old months leave the hot database: ``archive_month`` and the audit's check of the archive.

A month can be archived once it is closed: it has ended and every day of it is settled (no
night will post its charges any more). Its transfers go to a Parquet file with a sha256 and the
month's totals; then they leave the hot ledger. Both steps are idempotent: archiving a month
again finishes an interrupted removal and changes nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from gridpay.errors import Refused
from gridpay.ports.archive import ArchivedMonth
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.queries import parse_month


@dataclass(frozen=True)
class ArchiveReport:
    archived: ArchivedMonth
    already: bool  # the month was archived before: only an unfinished removal was finished
    removed: int  # transfers taken out of the hot ledger by this call


def archive_month(
    store: Store, clock: Clock, month: str, folder: Path, *, keep_table: bool = False
) -> ArchiveReport:
    first_day, last_day = parse_month(month)
    with store.unit_of_work() as uow:
        existing = _archived(uow, first_day)
        if existing is None:
            _check_closed(uow, clock, first_day, last_day)
            existing = uow.archive.export_month(first_day, last_day, folder, clock.now())
            already = False
        else:
            already = True
        removed = uow.archive.remove_hot_month(first_day, last_day, keep_table=keep_table)
        uow.commit()
    # SQLite removes in batches, each its own transaction, so a long removal never holds the
    # write lock for long; a crash part way is finished by the next call.
    batch = removed
    while batch:
        with store.unit_of_work() as uow:
            batch = uow.archive.remove_hot_month(first_day, last_day, keep_table=keep_table)
            uow.commit()
        removed += batch
    return ArchiveReport(existing, already, removed)


def _archived(uow: UnitOfWork, first_day: dt.date) -> ArchivedMonth | None:
    return next((m for m in uow.archive.archived_months() if m.month == first_day), None)


def _check_closed(uow: UnitOfWork, clock: Clock, first_day: dt.date, last_day: dt.date) -> None:
    if last_day >= clock.today():
        raise Refused(f"{first_day:%Y-%m} has not ended yet: only a closed month is archived")
    last_settled = uow.settlement.last_settled()
    if last_settled is None or last_settled < last_day:
        raise Refused(
            f"{first_day:%Y-%m} is not fully settled (last settled day: {last_settled}): "
            "settle it before archiving"
        )
