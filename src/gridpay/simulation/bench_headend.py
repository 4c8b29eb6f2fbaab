"""The head-end bench: a simulated fleet of N meters in a child process (its own core), and
gridpay's DL/T 645 head-end reading and switching them over loopback TCP.

1. Collection: the last daily freeze of every meter (two reads each: freeze time, energy
   block), once with no faults and once with a share of meters unreadable (silent, garbled,
   wrong checksum): every healthy meter must be collected and every faulty one listed.
2. Switching at the head-end: trip commands through the head-end's ``HeadEnd`` port, each
   confirmed by status word 3; latency from the command handed over to the head-end to
   confirmed, for a burst of all of them at once and for commands arriving at a steady rate.
3. The queue burst (the issue's target): the trips queued in ``meter_commands`` in one
   transaction, and ``gridpay run``'s worker (``Workers``, its commands job only) dispatching them
   through the head-end until every confirmation is recorded; latency from the command's
   ``created_at`` (before the queueing transaction) to the commit that recorded its
   confirmation. The store is a fresh SQLite file unless a database URL is given.

The readings import is measured elsewhere (``bench settle``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import polars as pl
from sqlalchemy import event

from gridpay import bootstrap
from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd
from gridpay.adapters.sms import FileSmsGateway
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.commands import PRIORITY, CommandAction, RateLimiter, correlation_id
from gridpay.services.workers import JOBS, Intervals, Schedule, Workers
from gridpay.simulation import synthetic
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
    # The queue burst: the store (None: a fresh SQLite file) and the dispatcher's rate limit
    # (settings head_end_commands_per_s / head_end_command_burst).
    database_url: str | None = None
    commands_per_s: float = 20_000.0
    command_burst: int = 10_000


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
    p95_s: float
    p99_s: float
    max_s: float


@dataclass(frozen=True)
class HeadEndBenchReport:
    options: HeadEndBenchOptions
    collections: tuple[CollectionRun, ...]
    switching: tuple[SwitchingRun, ...]
    fleet_cpu_s: tuple[float, ...]  # CPU of each fleet process (the first also switched)
    queue_burst: QueueBurstRun | None = None


@dataclass(frozen=True)
class QueueBurstRun:
    commands: int
    confirmed: int  # recorded as acknowledged in meter_commands
    enqueue_s: float  # the queueing transaction
    seconds: float  # created_at -> the last confirmation recorded
    client_cpu_s: float  # gridpay's process: dispatcher, store and head-end thread
    fleet_cpu_s: float  # the fleet's process meanwhile (the meters' side of the wire)
    statements: int  # SQL statements the dispatcher ran
    passes: int  # worker ticks that ran the commands job
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float

    @property
    def cpu_ms_per_command(self) -> float:
        return 1000 * self.client_cpu_s / self.commands if self.commands else 0.0

    @property
    def fleet_cpu_ms_per_command(self) -> float:
        return 1000 * self.fleet_cpu_s / self.commands if self.commands else 0.0

    @property
    def statements_per_command(self) -> float:
        return self.statements / self.commands if self.commands else 0.0


def faulty_meters(meter_ids: Sequence[int], share: float, seed: int) -> list[int]:
    rng = random.Random(f"faults/{seed}")
    return sorted(rng.sample(list(meter_ids), round(len(meter_ids) * share)))


def _serve(conn: Connection, meters: int, faulty: list[int], seed: int) -> None:
    """The child: serve the fleet until the parent says stop (or closes the pipe), telling it
    the CPU seconds it has used whenever it asks."""

    async def main() -> None:
        fleet = MeterFleet(synthetic_meters(meters, seed), _now, time_zone=ZONE, seed=seed)
        for i, meter_id in enumerate(faulty):
            fleet.inject(meter_id, READ_FAULTS[i % len(READ_FAULTS)])
        host, port = await fleet.start()
        conn.send((host, port))
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) == CPU_REQUEST:
            conn.send(time.process_time())
        await fleet.stop()

    with suppress(EOFError):
        asyncio.run(main())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU_REQUEST = "cpu"


@dataclass(frozen=True)
class FleetProcess:
    host: str
    port: int
    pipe: Connection

    def cpu_s(self) -> float:
        """The CPU seconds the fleet's process has used so far."""
        self.pipe.send(CPU_REQUEST)
        return float(self.pipe.recv())


@contextmanager
def fleet_process(meters: int, faulty: list[int], seed: int) -> Iterator[FleetProcess]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, meters, faulty, seed), daemon=True)
    process.start()
    try:
        if not parent.poll(120):
            raise RuntimeError("the meter fleet did not start")
        host, port = parent.recv()
        yield FleetProcess(host, port, parent)
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
        with fleet_process(options.meters, faulty, options.seed) as fleet:
            head = Dlt645HeadEnd(fleet.host, fleet.port, time_zone=ZONE, options=options.options)
            try:
                collections.append(_collect(head, ids, faulty))
                if share == 0.0:
                    trips = ids[: options.trips]
                    switching = (
                        _switch(head, trips, "burst", None),
                        _switch(head, trips, "paced", options.paced_per_s, "reconnect"),
                    )
                    queue_burst = _queue_burst(head, fleet, trips, options)
            finally:
                head.close()
        fleet_cpu_s.append(children_cpu_s() - before_s)
    return HeadEndBenchReport(
        options, tuple(collections), switching, tuple(fleet_cpu_s), queue_burst
    )


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
        p95_s=_quantile(latencies, 0.95),
        p99_s=_quantile(latencies, 0.99),
        max_s=latencies[-1] if latencies else 0.0,
    )


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


class _CommandsOnly:
    """Production's intervals for the commands job; the other jobs have nothing to do here."""

    def __init__(self, schedule: Schedule) -> None:
        self.intervals = Intervals(schedule)

    def due(self, job: str, now: dt.datetime) -> bool:
        assert job in JOBS
        return job == "commands" and self.intervals.due(job, now)


def _queue_burst(
    head: Dlt645HeadEnd, fleet: FleetProcess, meter_ids: list[int], options: HeadEndBenchOptions
) -> QueueBurstRun:
    """Queue a trip per meter in one transaction; run the worker until all are recorded."""
    with _bench_store(options.database_url) as store:
        settings = Settings(time_zone=ZONE)
        clock = bootstrap.business_clock(settings, None, moves=False)
        limiter = RateLimiter(options.commands_per_s, options.command_burst)
        schedule = Schedule()
        workers = Workers(
            store,
            clock,
            bootstrap.credit_policy(settings),
            head,
            FileSmsGateway(os.devnull),
            schedule,
            limiter,
            timing=_CommandsOnly(schedule),
        )
        # The dispatcher is measured, not the calendar: every instant is a window for a cut.
        workers.cut_window = None
        created_at = clock.now()
        started = time.perf_counter()
        with store.unit_of_work() as uow:
            queued = uow.commands.enqueue(_trips(meter_ids, created_at))
            uow.commit()
        if queued != len(meter_ids):
            raise RuntimeError("the queue burst needs a database without earlier bench commands")
        enqueue_s = time.perf_counter() - started
        latencies: list[float] = []
        passes = 0
        cpu_s, fleet_cpu_s = time.process_time(), fleet.cpu_s()
        with _counted(store) as statements:
            deadline = started + 600
            while len(latencies) < len(meter_ids) and time.perf_counter() < deadline:
                tick = workers.tick()
                recorded_s = time.perf_counter() - started
                passes += "commands" in tick.ran
                latencies += [recorded_s] * tick.commands_acknowledged
                workers.wait(workers.seconds_to_next())
        cpu_s, fleet_cpu_s = time.process_time() - cpu_s, fleet.cpu_s() - fleet_cpu_s
    latencies.sort()
    return QueueBurstRun(
        commands=len(meter_ids),
        confirmed=len(latencies),
        enqueue_s=enqueue_s,
        seconds=latencies[-1] if latencies else 0.0,
        client_cpu_s=cpu_s,
        fleet_cpu_s=fleet_cpu_s,
        statements=statements[0],
        passes=passes,
        p50_s=_quantile(latencies, 0.50),
        p95_s=_quantile(latencies, 0.95),
        p99_s=_quantile(latencies, 0.99),
        max_s=latencies[-1] if latencies else 0.0,
    )


def _trips(meter_ids: list[int], created_at: dt.datetime) -> pl.DataFrame:
    """A trip per meter, as the credit policy queues them (account = meter - the city's base)."""
    accounts = [m - synthetic.METER_ID_BASE for m in meter_ids]
    action = CommandAction.DISCONNECT
    return pl.DataFrame(
        {
            "correlation_id": [correlation_id(action, a, 0) for a in accounts],
            "account_id": accounts,
            "meter_id": meter_ids,
            "action": [action.value] * len(accounts),
            "priority": [PRIORITY[action]] * len(accounts),
            "created_at": [created_at] * len(accounts),
        },
        schema_overrides={
            "account_id": pl.Int64,
            "meter_id": pl.Int64,
            "priority": pl.Int64,
            "created_at": pl.Datetime("us", "UTC"),
        },
    )


@contextmanager
def _bench_store(database_url: str | None) -> Iterator[SqlStore]:
    with tempfile.TemporaryDirectory(prefix="gridpay-bench-headend-") as folder:
        store = SqlStore(database_url or f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            store.migrate()
            yield store
        finally:
            store.dispose()


@contextmanager
def _counted(store: SqlStore) -> Iterator[list[int]]:
    """The SQL statements run meanwhile (one per execute, an executemany counting once)."""
    count = [0]

    def counted(*args: object) -> None:
        count[0] += 1

    event.listen(store.engine, "before_cursor_execute", counted)
    try:
        yield count
    finally:
        event.remove(store.engine, "before_cursor_execute", counted)
