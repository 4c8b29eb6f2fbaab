"""Use cases: import a file of daily readings; list the quarantine.

An import is one unit of work: every row of the file is checked at once by the rules of
``domain.readings``; good rows are stored, duplicates skipped, rejected rows quarantined with a
reason, and days already settled on an estimate queued for a true-up - all committed together or
not at all. A re-import of the same file changes nothing: its readings are duplicates, and its
rejected rows are already in the quarantine (matched by file name, row number, raw text and reason).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.domain import readings as rules
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.readings import ReadingsRepo
from gridpay.ports.store import Store
from gridpay.services.progress import NullProgress


@dataclass(frozen=True)
class RejectedRow:
    row_no: int
    meter_no: str | None
    day: dt.date | None
    reason_code: str
    reason: str


@dataclass(frozen=True)
class ImportReport:
    source: str
    rows_read: int
    stored: int
    duplicates: int
    quarantined_by_reason: dict[str, int]
    quarantine_rows_added: int  # fewer than quarantined when the file was imported before
    pending_trueups: int  # (account, day) newly queued: settled on an estimate, now read
    seconds: float
    rejected: tuple[RejectedRow, ...]  # the first rejected rows, in file order

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())


_NO_METERS = pl.DataFrame(schema=rules.METER_SCHEMA)
_NO_READINGS = pl.DataFrame(schema=rules.READING_SCHEMA)


def import_readings(
    store: Store,
    clock: Clock,
    rows: pl.DataFrame,
    source: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one file's rows (``domain.readings.RAW_SCHEMA``), in one transaction."""
    started = time.perf_counter()
    progress = progress or NullProgress()
    progress.start(f"importing {source}", total=rows.height)
    try:
        checked = rules.check_rows(rules.parse_rows(rows), clock.today())
        with store.unit_of_work() as uow:
            uow.lock_settlement(shared=True)  # the settled-or-not check must stay true to commit
            checked = _check_against_store(uow.readings, checked)
            new = checked.filter(pl.col("outcome") == rules.Outcome.NEW.value).sort(
                rules.KEY_COLUMNS  # in primary-key order: appends to the B-tree, not inserts
            )
            trueups = _new_trueups(uow.readings, new)
            rejected = checked.filter(pl.col("outcome") == rules.Outcome.REJECTED.value)
            for chunk in _chunks(new):
                uow.readings.insert_readings(chunk, source, clock.now())
                progress.advance(chunk.height)
            uow.readings.add_pending_trueups(trueups, clock.now())
            added = _quarantine_new(uow.readings, rejected, source, clock.now())
            uow.commit()
        progress.advance(rows.height - new.height)
    finally:
        progress.finish()
    return _report(source, checked, trueups.height, added, time.perf_counter() - started)


def _check_against_store(repo: ReadingsRepo, checked: pl.DataFrame) -> pl.DataFrame:
    open_rows = checked.filter(pl.col("reason_code").is_null())
    if open_rows.height == 0:
        return rules.classify(rules.check_meters(checked, _NO_METERS), _NO_READINGS)
    days = open_rows["day"]
    meters = repo.meters_for(open_rows["meter_id"], days.min(), days.max())  # type: ignore[arg-type]
    checked = rules.check_meters(checked, meters)
    stored = repo.stored_readings(rules.candidate_keys(checked))
    return rules.classify(checked, stored)


def _new_trueups(repo: ReadingsRepo, new: pl.DataFrame) -> pl.DataFrame:
    settled = repo.settled_days(rules.settled_keys(new))
    needed = rules.trueups_needed(new, settled)
    queued = repo.pending_trueups_for(needed["day"])
    return needed.join(queued, on=["account_id", "day"], how="anti")


def _quarantine_new(
    repo: ReadingsRepo, rejected: pl.DataFrame, source: str, received_at: dt.datetime
) -> int:
    """Quarantine the rejected rows not already there from an earlier import of this file."""
    if rejected.height == 0:
        return 0
    known = repo.quarantined_rows_of(source)
    fresh = rejected.join(known, on=["row_no", "raw", "reason_code"], how="anti", nulls_equal=True)
    return repo.quarantine(fresh, source, received_at)


def _chunks(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for start in range(0, frame.height, limits.import_batch_rows_max):
        yield frame.slice(start, limits.import_batch_rows_max)


def _report(
    source: str, checked: pl.DataFrame, trueups: int, added: int, seconds: float
) -> ImportReport:
    outcomes = dict(checked.group_by("outcome").len().iter_rows())
    rejected = checked.filter(pl.col("outcome") == rules.Outcome.REJECTED.value)
    by_reason = dict(rejected.group_by("reason_code").len().sort("reason_code").iter_rows())
    sample = rejected.head(limits.import_errors_reported_max).select(
        "row_no", "meter_no", "day", "reason_code", "reason"
    )
    report = ImportReport(
        source=source,
        rows_read=checked.height,
        stored=outcomes.get(rules.Outcome.NEW.value, 0),
        duplicates=outcomes.get(rules.Outcome.DUPLICATE.value, 0),
        quarantined_by_reason=by_reason,
        quarantine_rows_added=added,
        pending_trueups=trueups,
        seconds=seconds,
        rejected=tuple(RejectedRow(*r) for r in sample.iter_rows()),
    )
    assert report.stored + report.duplicates + report.quarantined == report.rows_read
    return report


def quarantined(store: Store, day: dt.date | None, limit: int) -> pl.DataFrame:
    """Quarantined rows, newest import first; ``limit`` is capped at ``limits.page_rows_max``."""
    with store.unit_of_work() as uow:
        return uow.readings.quarantine_rows(day, min(limit, limits.page_rows_max))
