"""The head-end bench: a simulated fleet of N meters in a child process (its own core), and
gridpay's DL/T 645 head-end reading and switching them over loopback TCP.

1. Collection: the last daily freeze of every meter (two reads each: freeze time, energy
   block), once with no faults and once with a share of meters unreadable (silent, garbled,
   wrong checksum): every healthy meter must be collected and every faulty one listed.
2. Switching: trip commands through the head-end's ``HeadEnd`` port, each confirmed by status
   word 3; latency from the command handed over (queued at the head-end) to confirmed, for a
   burst of all of them at once and for commands arriving at a steady rate.

What is measured is the head-end and the wire; the readings import and the dispatcher's own
rate limit are measured elsewhere (``bench settle``; ``limits.command_rate_per_head_end_per_s``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import random
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd
from gridpay.simulation.meter_fleet import READ_FAULTS, MeterFleet, synthetic_meters

ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class HeadEndBenchOptions:
    meters: int = 100_000
    faulty_share: float = 0.02
    trips: int = 10_000
    paced_per_s: float = 1_000.0  # the steady rate of the second switching run
    seed: int = 1
    options: ClientOptions = field(default_factory=ClientOptions)


@dataclass(frozen=True)
class CollectionRun:
    meters: int
    faulty: int
    collected: int
    failed: int
    seconds: float
    client_cpu_s: float  # CPU of gridpay's side (all its threads), not of the fleet
    healthy_all_collected: bool
    faulty_all_listed: bool

    @property
    def meters_per_s(self) -> float:
        return self.meters / self.seconds

    @property
    def success_rate(self) -> float:
        return self.collected / self.meters


@dataclass(frozen=True)
class SwitchingRun:
    label: str
    commands: int
    confirmed: int
    seconds: float
    client_cpu_s: float
    p50_s: float
    p99_s: float
    max_s: float


@dataclass(frozen=True)
class HeadEndBenchReport:
    options: HeadEndBenchOptions
    collections: tuple[CollectionRun, ...]
    switching: tuple[SwitchingRun, ...]
    fleet_cpu_s: tuple[float, ...]  # CPU of each fleet process (the first also switched)


def faulty_meters(meter_ids: Sequence[int], share: float, seed: int) -> list[int]:
    rng = random.Random(f"faults/{seed}")
    return sorted(rng.sample(list(meter_ids), round(len(meter_ids) * share)))


def _serve(conn: Connection, meters: int, faulty: list[int], seed: int) -> None:
    """The child: serve the fleet until the parent closes the pipe."""

    async def main() -> None:
        fleet = MeterFleet(synthetic_meters(meters, seed), _now, time_zone=ZONE, seed=seed)
        for i, meter_id in enumerate(faulty):
            fleet.inject(meter_id, READ_FAULTS[i % len(READ_FAULTS)])
        host, port = await fleet.start()
        conn.send((host, port))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # until the parent says stop (or goes)
        await fleet.stop()

    with suppress(EOFError):
        asyncio.run(main())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def fleet_process(meters: int, faulty: list[int], seed: int) -> Iterator[tuple[str, int]]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, meters, faulty, seed), daemon=True)
    process.start()
    try:
        if not parent.poll(120):
            raise RuntimeError("the meter fleet did not start")
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


def run_headend_bench(options: HeadEndBenchOptions) -> HeadEndBenchReport:
    ids = [m.meter_id for m in synthetic_meters(options.meters, options.seed)]
    collections = []
    fleet_cpu_s = []
    for share in (0.0, options.faulty_share):
        faulty = faulty_meters(ids, share, options.seed)
        before_s = children_cpu_s()
        with fleet_process(options.meters, faulty, options.seed) as (host, port):
            head = Dlt645HeadEnd(host, port, time_zone=ZONE, options=options.options)
            try:
                collections.append(_collect(head, ids, faulty))
                if share == 0.0:
                    trips = ids[: options.trips]
                    switching = (
                        _switch(head, trips, "burst", None),
                        _switch(head, trips, "paced", options.paced_per_s, "reconnect"),
                    )
            finally:
                head.close()
        fleet_cpu_s.append(children_cpu_s() - before_s)
    return HeadEndBenchReport(options, tuple(collections), switching, tuple(fleet_cpu_s))


def _collect(head: Dlt645HeadEnd, ids: list[int], faulty: list[int]) -> CollectionRun:
    started, cpu_s = time.perf_counter(), time.process_time()
    batch = head.read_day_freezes(ids, 1)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_s
    failed = {f.meter_id for f in batch.failures}
    collected = {f.meter_id for f in batch.freezes}
    return CollectionRun(
        meters=len(ids),
        faulty=len(faulty),
        collected=len(collected),
        failed=len(failed),
        seconds=seconds,
        client_cpu_s=cpu_s,
        healthy_all_collected=collected == set(ids) - set(faulty),
        faulty_all_listed=failed == set(faulty),
    )


def _switch(
    head: Dlt645HeadEnd,
    meter_ids: list[int],
    label: str,
    per_s: float | None,
    action: str = "disconnect",
) -> SwitchingRun:
    """Hand the commands over (all at once, or ``per_s``), wait for every result."""
    started, cpu_s = time.perf_counter(), time.process_time()
    queued_at: dict[str, dt.datetime] = {}
    for i, meter_id in enumerate(meter_ids):
        if per_s is not None:
            pause_s = started + i / per_s - time.perf_counter()
            if pause_s > 0:
                time.sleep(pause_s)
        cid = f"{label}/{meter_id}"
        queued_at[cid] = _now()
        head.submit(cid, meter_id, action, queued_at[cid])
    head.wait_idle(600)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_s
    # A result's instant is its command's plus the time it took (the head-end's own clock).
    latencies = sorted(
        (r.at - queued_at[r.correlation_id]).total_seconds() for r in head.results(_now()) if r.ok
    )
    return SwitchingRun(
        label=label,
        commands=len(meter_ids),
        confirmed=len(latencies),
        seconds=seconds,
        client_cpu_s=cpu_s,
        p50_s=_quantile(latencies, 0.50),
        p99_s=_quantile(latencies, 0.99),
        max_s=latencies[-1] if latencies else 0.0,
    )


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]
