"""The demo over DL/T 645: its nights read the readings from the fleet through the head-end,
and what they store is what the fleet's meters froze, which follow the households' usage."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from gridpay import bootstrap
from gridpay.adapters.dlt645.head_end import Dlt645HeadEnd
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import load_settings
from gridpay.simulation import demo as demo_service
from gridpay.simulation.bench_repo import bench_repo_for
from gridpay.simulation.clock import SimulatedClock
from gridpay.simulation.lifecycle import run_life
from gridpay.simulation.meter_fleet import AnsweredBeforeMoving, MeterFleet, RunningFleet

FIRST_DAY = dt.date(2026, 9, 15)
DAYS = 3


def test_the_demos_nights_store_the_registers_the_fleet_froze(tmp_path: Path) -> None:
    settings = replace(load_settings(db=str(tmp_path / "demo.db")), head_end="dlt645")
    clock = SimulatedClock(dt.datetime.now(dt.UTC), settings.time_zone)
    fleet = MeterFleet([], clock.now, time_zone=settings.time_zone, adopt_unknown=True)
    options = demo_service.demo_options(40, DAYS, 7, FIRST_DAY)
    with RunningFleet(fleet) as (host, port):
        head = Dlt645HeadEnd(host, port, time_zone=settings.time_zone)
        built = bootstrap.build(
            replace(settings, head_end_host=host, head_end_port=port), clock=clock
        )
        try:
            summary = run_life(
                built,
                clock,
                bench_repo_for,
                shipped_tariffs(),
                options,
                head_end=AnsweredBeforeMoving(head),
                fleet=fleet,
                reader=head,
            )
            with built.store.unit_of_work() as uow:
                nights = [
                    uow.readings.readings_for_day(FIRST_DAY + dt.timedelta(days=n))
                    for n in range(DAYS - 1)  # the last day lived is settled the night after
                ]
        finally:
            built.close()
            head.close()
    assert summary.audit is not None and summary.audit.ok
    zone = fleet.zone
    for readings in nights:
        assert readings.height == 40  # every household, read over DL/T 645
        for row in readings.iter_rows(named=True):
            closing = dt.datetime.combine(row["day"] + dt.timedelta(days=1), dt.time(), zone)
            registers = fleet.freezes(row["meter_id"])[closing]
            assert row["total_wh"] == registers[0]
            for i, name in enumerate(("sharp_wh", "peak_wh", "flat_wh", "valley_wh"), start=1):
                assert row[name] in (None, registers[i])  # TOU registers of TOU meters only
