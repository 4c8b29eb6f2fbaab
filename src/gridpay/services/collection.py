"""Use case: collect a day's readings from the meters through a head-end.

Every prepaid meter in service on the day is asked for the daily freeze that closed the day
(the freeze at the next local midnight); what the meters give goes through the readings import
exactly as a file would (the same checks, duplicates and quarantine), with the head-end's
endpoint as its source. A meter that cannot be read, or whose freeze is not of that day (its
clock is wrong, or it missed the freeze), is listed as failed with the reason: the night then
settles it on an estimate, as it does a meter missing from a file.

``HeadEndCollector`` is the night's ``ReadingsCollector`` over this use case.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.domain import readings as rules
from gridpay.domain.money import WH_PER_KWH
from gridpay.domain.tariff import REGISTERS
from gridpay.errors import InvalidInput
from gridpay.ports.clock import Clock
from gridpay.ports.meters import MeterFailure, MeterFreeze, MeterReader
from gridpay.ports.store import Store
from gridpay.services.readings import ImportReport, import_readings


@dataclass(frozen=True)
class CollectionReport:
    day: dt.date
    source: str
    meters: int  # asked
    collected: int  # gave the day's freeze
    failures: tuple[MeterFailure, ...]  # the first ``limits.dlt645_failed_meters_listed_max``
    failed: int
    imported: ImportReport | None
    seconds: float

    @property
    def success_rate(self) -> float:
        return self.collected / self.meters if self.meters else 1.0

    @property
    def meters_per_s(self) -> float:
        return self.meters / self.seconds if self.seconds > 0 else 0.0


def collect_day(store: Store, clock: Clock, reader: MeterReader, day: dt.date) -> CollectionReport:
    """Read ``day``'s closing freeze of every prepaid meter and import it (one transaction)."""
    started = time.perf_counter()
    freezes_back = (clock.today() - day).days
    if freezes_back < 1:
        raise InvalidInput(f"cannot collect {day}: the day has not ended yet")
    with store.unit_of_work() as uow:
        meters = uow.readings.prepaid_meters(day)
    batch = reader.read_day_freezes(meters["meter_id"].to_list(), freezes_back)
    ours, wrong_day = _of_day(batch.freezes, day)
    failures = sorted(batch.failures + wrong_day, key=lambda f: f.meter_id)
    source = f"dlt645:{reader.endpoint}"
    imported = None
    if ours:
        imported = import_readings(store, clock, freeze_rows(ours, meters, day), source)
    assert len(ours) + len(failures) == meters.height
    return CollectionReport(
        day=day,
        source=source,
        meters=meters.height,
        collected=len(ours),
        failures=tuple(failures[: limits.dlt645_failed_meters_listed_max]),
        failed=len(failures),
        imported=imported,
        seconds=time.perf_counter() - started,
    )


class HeadEndCollector:
    """The night's collection step (``ports.ReadingsCollector``) through a head-end."""

    def __init__(self, store: Store, clock: Clock, reader: MeterReader) -> None:
        self.store, self.clock, self.reader = store, clock, reader
        self.reports: list[CollectionReport] = []

    def collect(self, days: Sequence[dt.date]) -> int:
        stored = 0
        for day in days:
            report = collect_day(self.store, self.clock, self.reader, day)
            self.reports.append(report)
            stored += report.imported.stored if report.imported is not None else 0
        return stored


def _of_day(
    freezes: Sequence[MeterFreeze], day: dt.date
) -> tuple[list[MeterFreeze], tuple[MeterFailure, ...]]:
    closing = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0))
    ours = [f for f in freezes if f.frozen_at == closing]
    wrong = tuple(
        MeterFailure(
            f.meter_id,
            f"its daily freeze is of {f.frozen_at:%Y-%m-%d %H:%M}, not {closing:%Y-%m-%d %H:%M}",
        )
        for f in freezes
        if f.frozen_at != closing
    )
    return ours, wrong


def _kwh_text(energy_wh: int) -> str:
    return f"{energy_wh // WH_PER_KWH}.{energy_wh % WH_PER_KWH:03d}"


def freeze_rows(freezes: Sequence[MeterFreeze], meters: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The freezes as the readings import takes a file's rows (``rules.RAW_SCHEMA``); the
    time-of-use registers only for meters registered with them."""
    with_tou = set(meters.filter(pl.col("has_tou"))["meter_id"].to_list())
    columns: dict[str, list[object]] = {c: [] for c in rules.RAW_SCHEMA}
    for row_no, freeze in enumerate(sorted(freezes, key=lambda f: f.meter_id), start=1):
        registers = freeze.registers_wh
        values = {
            "total_kwh": _kwh_text(registers[0]),
            **{
                f"{r}_kwh": _kwh_text(registers[i + 1])
                if freeze.meter_id in with_tou and len(registers) > i + 1
                else None
                for i, r in enumerate(REGISTERS)
            },
        }
        meter_no = f"{freeze.meter_id:0{rules.METER_NO_DIGITS}d}"
        row = {
            "row_no": row_no,
            "raw": f"meter {meter_no} daily freeze {freeze.frozen_at:%Y-%m-%d %H:%M} "
            + " ".join(f"{k}={v}" for k, v in values.items() if v is not None),
            "row_error": None,
            "meter_no": meter_no,
            "date": day.isoformat(),
            **values,
        }
        for column, value in row.items():
            columns[column].append(value)
    return pl.DataFrame(columns, schema=rules.RAW_SCHEMA)
