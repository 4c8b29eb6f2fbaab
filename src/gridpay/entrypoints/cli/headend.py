"""CLI: the DL/T 645 head-end (``headend collect``, ``headend read``, ``headend sync-time``) and
the simulated meter fleet to try it on (``meter-sim``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import typer
from rich.table import Table

from gridpay import bootstrap
from gridpay.adapters.dlt645.head_end import Dlt645HeadEnd
from gridpay.config import Settings
from gridpay.domain.money import format_kwh
from gridpay.entrypoints.cli._common import app, console, gridpay_app, parse_day, print_json
from gridpay.errors import ConfigError
from gridpay.services.collection import CollectionReport, collect_day
from gridpay.simulation import meter_fleet

headend_app = typer.Typer(help="The DL/T 645 head-end: read the meters, collect a day.")
app.add_typer(headend_app, name="headend")

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _dlt645(settings: Settings) -> Dlt645HeadEnd:
    if settings.head_end != "dlt645":
        raise ConfigError(
            f'head_end is {settings.head_end!r}: set head_end = "dlt645" (with head_end_host '
            "and head_end_port) to read meters"
        )
    return bootstrap.dlt645_head_end(settings)


@headend_app.command("collect")
def headend_collect(
    date: str = typer.Option(..., "--date", help="The day whose closing freeze to read."),
    as_json: bool = _JSON,
) -> None:
    """Read the daily freeze that closed DATE from every prepaid meter, import it as readings
    (source dlt645:<host>:<port>), and list the meters that could not be read."""
    day = parse_day(date, "--date")
    assert day is not None
    with gridpay_app() as g:
        head_end = _dlt645(g.settings)
        try:
            report = collect_day(g.store, g.clock, head_end, day)
        finally:
            head_end.close()
    if as_json:
        print_json(collection_json(report))
        return
    console.print(collection_line(report))
    if report.failures:
        table = Table(title=f"meters not read ({report.failed:,})")
        table.add_column("meter", no_wrap=True)
        table.add_column("why", overflow="fold")
        for failure in report.failures:
            table.add_row(f"{failure.meter_id:012d}", failure.error)
        console.print(table)


def collection_line(report: CollectionReport) -> str:
    imported = report.imported
    stored = imported.stored if imported is not None else 0
    duplicates = imported.duplicates if imported is not None else 0
    quarantined = imported.quarantined if imported is not None else 0
    return (
        f"collected {report.day} from {report.source}: {report.collected:,} of "
        f"{report.meters:,} meters ({report.success_rate:.2%}), {report.failed:,} failed; "
        f"{stored:,} readings stored, {duplicates:,} duplicates, {quarantined:,} quarantined "
        f"in {report.seconds:.1f} s"
    )


def collection_json(report: CollectionReport) -> dict[str, Any]:
    imported = report.imported
    return {
        "day": report.day.isoformat(),
        "source": report.source,
        "meters": report.meters,
        "collected": report.collected,
        "success_rate": report.success_rate,
        "failed": report.failed,
        "failures": [{"meter_no": f"{f.meter_id:012d}", "error": f.error} for f in report.failures],
        "stored": imported.stored if imported is not None else 0,
        "duplicates": imported.duplicates if imported is not None else 0,
        "quarantined": imported.quarantined if imported is not None else 0,
        "seconds": report.seconds,
    }


@headend_app.command("read")
def headend_read(
    meter: str = typer.Option(..., "--meter", help="The 12-digit meter number."),
    as_json: bool = _JSON,
) -> None:
    """Read one meter now: its registers, its relay and its last daily freeze."""
    if not (meter.isascii() and meter.isdigit() and len(meter) == 12):
        raise ConfigError(f"--meter {meter!r} is not a 12-digit meter number")
    with gridpay_app(database="unused") as g:
        head_end = _dlt645(g.settings)
        try:
            read = head_end.read_meter(int(meter))
        finally:
            head_end.close()
    freeze = read.last_freeze
    data = {
        "meter_no": meter,
        "head_end": head_end.name,
        "registers_kwh": [format_kwh(wh) for wh in read.registers_wh],
        "relay": "open (supply off)" if read.relay_open else "closed (supply on)",
        "last_freeze_at": freeze.frozen_at.isoformat(),
        "last_freeze_kwh": [format_kwh(wh) for wh in freeze.registers_wh],
    }
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        shown = " / ".join(value) if isinstance(value, list) else value
        console.print(f"{key}: {shown}", markup=False, highlight=False)


@headend_app.command("sync-time")
def headend_sync_time() -> None:
    """Broadcast the time to every meter behind the gateway (`gridpay run` does it hourly)."""
    with gridpay_app(database="unused") as g:
        head_end = _dlt645(g.settings)
        try:
            head_end.sync_time(g.clock.now())
        finally:
            head_end.close()
    console.print(f"time broadcast through {head_end.name}")


@app.command("meter-sim")
def meter_sim(
    meters: int = typer.Option(1_000, "--meters", min=1, help="Synthetic meters to present."),
    port: int = typer.Option(8645, "--port", min=0, max=65_535, help="TCP port (0: any free)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback)."),
    from_db: bool = typer.Option(
        False, "--from-db", help="Present the prepaid meters of the --db database instead."
    ),
    faulty_share: float = typer.Option(
        0.0, "--faulty-share", min=0.0, max=1.0, help="Share of meters given a fault."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic meters and faults."),
    for_seconds: float | None = typer.Option(
        None, "--for-seconds", min=0.0, help="Stop after this long (default: until Ctrl-C)."
    ),
) -> None:
    """Serve a simulated fleet of DL/T 645 meters behind one TCP endpoint (a gateway)."""
    with gridpay_app(database="existing" if from_db else "unused") as g:
        fleet_meters = (
            meter_fleet.meters_of_store(g.store, g.clock.today())
            if from_db
            else meter_fleet.synthetic_meters(meters, seed)
        )
        fleet = meter_fleet.MeterFleet(
            fleet_meters, g.clock.now, time_zone=g.settings.time_zone, seed=seed
        )
    faulty = meter_fleet.inject_faults(fleet, faulty_share, seed)
    asyncio.run(_serve(fleet, host, port, for_seconds, len(faulty)))


async def _serve(
    fleet: meter_fleet.MeterFleet, host: str, port: int, for_seconds: float | None, faulty: int
) -> None:
    bound_host, bound_port = await fleet.start(host, port)
    console.print(
        f"{len(fleet):,} meters ({faulty:,} faulty) on {bound_host}:{bound_port}; "
        f'set head_end = "dlt645", head_end_host = "{bound_host}", head_end_port = {bound_port}',
        soft_wrap=True,
    )
    started = dt.datetime.now(dt.UTC)
    try:
        while for_seconds is None or (dt.datetime.now(dt.UTC) - started).total_seconds() < (
            for_seconds
        ):
            await asyncio.sleep(0.2)
    finally:
        await fleet.stop()
        console.print(f"answered {fleet.frames_answered:,} frames")
