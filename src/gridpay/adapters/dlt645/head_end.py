"""The DL/T 645-2007 head-end: gridpay's side of a TCP gateway (a concentrator, or a meter
fleet) in front of many meters, each addressed by its number.

``client.Dlt645Client`` is the asyncio part (connections, timeouts, retries).
``Dlt645HeadEnd`` is what the rest of gridpay sees: the ``HeadEnd`` port of the command
dispatcher (a trip or close is done only when status word 3 confirms the relay, and the result
carries the instant the meter confirmed it), the ``MeterReader`` of the nightly collection, and
the broadcast time sync. It runs the client on an event loop of its own thread, so synchronous
callers (the workers, the CLI) use it as they use any other adapter.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from gridpay import limits
from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.client import ENERGY_DIS, ClientOptions, Dlt645Client, freeze_dis
from gridpay.adapters.dlt645.codec import DI, ControlAction
from gridpay.adapters.dlt645.errors import FrameError, MeterGarbled, MeterNoAnswer
from gridpay.adapters.dlt645.security import PayloadCipher
from gridpay.domain.commands import CommandAction, CommandResult
from gridpay.errors import DeliveryFailed, GridpayError
from gridpay.ports.meters import FreezeBatch, MeterFailure, MeterFreeze

T = TypeVar("T")
__all__ = ["ClientOptions", "Dlt645HeadEnd", "MeterRegisters"]

_ACTIONS = {
    CommandAction.DISCONNECT: (ControlAction.TRIP, True),
    CommandAction.RECONNECT: (ControlAction.CLOSE_DIRECT, False),
}


@dataclass(frozen=True)
class MeterRegisters:
    meter_id: int
    registers_wh: tuple[int, ...]
    relay_open: bool
    last_freeze: MeterFreeze


class _Switch(NamedTuple):
    correlation_id: str
    meter_id: int
    control: ControlAction
    want_open: bool
    expires_at: dt.datetime  # naive local, as the meter has it
    at: dt.datetime  # the instant the command was handed over (the dispatcher's clock)
    started: float  # time.monotonic() then


class Dlt645HeadEnd:
    """The ``HeadEnd`` and ``MeterReader`` ports over a DL/T 645 gateway at ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        time_zone: str = "Asia/Shanghai",
        options: ClientOptions | None = None,
        cipher: PayloadCipher | None = None,
        control_expiry_s: float = limits.dlt645_control_expiry_s,
        pending_max: int = limits.command_dispatch_batch_max * 20,
    ) -> None:
        self.host, self.port = host, port
        self.zone = ZoneInfo(time_zone)
        self.control_expiry_s = control_expiry_s
        self.pending_max = pending_max
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dlt645", daemon=True)
        self._thread.start()
        self._client = self._run(self._make_client(options, cipher))
        self._results: collections.deque[CommandResult] = collections.deque()
        self._to_start: list[_Switch] = []  # submitted, not yet handed to the loop
        self._queue: collections.deque[_Switch] = collections.deque()  # on the loop, waiting
        self._workers = 0  # tasks carrying out the queue's switches
        self._last_expiry: tuple[dt.datetime, dt.datetime] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.submitted = 0

    async def _make_client(
        self, options: ClientOptions | None, cipher: PayloadCipher | None
    ) -> Dlt645Client:
        return Dlt645Client(self.host, self.port, options, cipher)  # its locks on this loop

    def _run(self, coroutine: Awaitable[T]) -> T:
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coroutine), self._loop)
        try:
            return future.result()
        except FrameError as exc:
            raise MeterGarbled(f"a meter's answer could not be read: {exc.message}") from None

    @property
    def name(self) -> str:
        return f"dlt645:{self.endpoint}"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # --- HeadEnd ------------------------------------------------------------------------------

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        """Start the switch; its result (relay confirmed, or why not) comes from ``results``."""
        assert at.tzinfo is not None
        control, want_open = _ACTIONS[CommandAction(action)]
        expires_at = self._expiry(at)
        switch = _Switch(
            correlation_id, meter_id, control, want_open, expires_at, at, time.monotonic()
        )
        with self._lock:
            if self._pending >= self.pending_max:
                raise DeliveryFailed(
                    f"head-end {self.name} has {self._pending} commands in flight: "
                    f"command {correlation_id} refused"
                )
            self._pending += 1
            self.submitted += 1
            self._to_start.append(switch)
            wake = len(self._to_start) == 1
        # One wake-up of the loop for the commands a dispatcher pass hands over in a row: a
        # cross-thread call per command cost more than its frames.
        if wake:
            self._loop.call_soon_threadsafe(self._start_submitted)

    def _expiry(self, at: dt.datetime) -> dt.datetime:
        """The local expiry of commands handed over at ``at`` (a pass hands many over at one)."""
        last = self._last_expiry
        if last is None or last[0] != at:
            expires_at = (at + dt.timedelta(seconds=self.control_expiry_s)).astimezone(self.zone)
            expires_at = expires_at.replace(tzinfo=None)  # the meter's local time
            last = self._last_expiry = (at, expires_at)
        return last[1]

    def _start_submitted(self) -> None:
        """Queue the submitted switches for the workers, starting workers up to the requests
        the client keeps in flight: a task per switch would hold a burst's thousands of
        coroutines at once, waiting for a slot, for the garbage collector to walk."""
        with self._lock:
            switches, self._to_start = self._to_start, []
        self._queue.extend(switches)
        idle = self._client.options.in_flight_max - self._workers
        starting = max(0, min(len(self._queue), idle))
        for _ in range(starting):
            task = self._loop.create_task(self._work())
            self._tasks.add(task)  # the loop keeps only weak references to its tasks
            task.add_done_callback(self._tasks.discard)
        self._workers += starting

    async def _work(self) -> None:
        """Carry out queued switches, oldest first, until none is left."""
        queue = self._queue
        try:
            while queue:
                await self._carry_out(queue.popleft())
        finally:
            self._workers -= 1

    async def _carry_out(self, switch: _Switch) -> None:
        error = await self._switched(
            switch.meter_id, switch.control, switch.want_open, switch.expires_at
        )
        done_at = switch.at + dt.timedelta(seconds=time.monotonic() - switch.started)
        result = CommandResult(switch.correlation_id, error is None, done_at, error)
        with self._idle:
            # Waiters wait for a first result or for none pending: no wake-up for the others.
            wake = not self._results or self._pending == 1
            self._results.append(result)
            self._pending -= 1
            if wake:
                self._idle.notify_all()

    async def _switched(
        self, meter_id: int, control: ControlAction, want_open: bool, expires_at: dt.datetime
    ) -> str | None:
        """None when status word 3 confirms the relay where the command put it; else why not."""
        try:
            if await self._client.switch(meter_id, control, expires_at) is not want_open:
                where = "open" if not want_open else "closed"
                return f"meter {meter_id} accepted the command but its relay is still {where}"
        except GridpayError as exc:
            return exc.message
        return None

    def results(self, now: dt.datetime) -> list[CommandResult]:
        """Every result that has arrived, each once (whatever ``now``: they are real answers)."""
        with self._lock:
            taken = list(self._results)
            self._results.clear()
        return taken

    def wait_results(self, timeout_s: float) -> bool:
        """Block until a result is waiting to be taken (True), or ``timeout_s`` has passed: a
        worker wakes as soon as a meter confirms instead of sleeping out its interval."""
        with self._idle:
            return self._idle.wait_for(lambda: bool(self._results), timeout_s)

    def results_waiting(self) -> bool:
        with self._lock:
            return bool(self._results)

    def in_flight(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every command submitted has its result (True), or ``timeout_s``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    # --- MeterReader and the operator's reads ------------------------------------------------

    def read_day_freezes(self, meter_ids: Sequence[int], freezes_back: int = 1) -> FreezeBatch:
        freeze_dis(freezes_back)  # refused before any traffic
        return self._run(self._read_all(list(meter_ids), freezes_back))

    async def _read_all(self, meter_ids: list[int], freezes_back: int) -> FreezeBatch:
        freezes: list[MeterFreeze] = []
        failures: list[MeterFailure] = []
        try:
            await self._client.reachable()
        except MeterNoAnswer as exc:  # every meter would wait out its attempts for nothing
            return FreezeBatch((), tuple(MeterFailure(m, exc.message) for m in meter_ids))
        todo = iter(meter_ids)

        async def worker() -> None:
            for meter_id in todo:
                try:
                    freezes.append(await self._client.read_freeze(meter_id, freezes_back))
                except GridpayError as exc:
                    failures.append(MeterFailure(meter_id, exc.message))

        workers = min(len(meter_ids), self._client.options.in_flight_max)
        await asyncio.gather(*(worker() for _ in range(workers)))
        return FreezeBatch(tuple(freezes), tuple(failures))

    def read_meter(self, meter_id: int) -> MeterRegisters:
        """Registers now, the relay and the last daily freeze of one meter."""

        async def read() -> MeterRegisters:
            block = codec.energy_block_wh(await self._client.read(meter_id, DI.ENERGY_BLOCK))
            is_open = await self._client.relay_open(meter_id)
            freeze = await self._client.read_freeze(meter_id)
            return MeterRegisters(meter_id, block, is_open, freeze)

        return self._run(read())

    def read_energy_registers_wh(self, meter_id: int) -> tuple[int, ...]:
        """Total, sharp, peak, flat, valley read one identifier at a time (for meters that do
        not answer the block identifier)."""

        async def read() -> tuple[int, ...]:
            return tuple(
                [codec.energy_wh(await self._client.read(meter_id, di)) for di in ENERGY_DIS]
            )

        return self._run(read())

    def read_energy_block_wh(self, meter_id: int) -> tuple[int, ...]:
        return codec.energy_block_wh(self._run(self._client.read(meter_id, DI.ENERGY_BLOCK)))

    def sync_time(self, at: dt.datetime) -> None:
        """Broadcast ``at`` (as local time) to every meter behind the gateway."""
        local = at.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
        self._run(self._client.send_only(codec.broadcast_time(local)))


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
