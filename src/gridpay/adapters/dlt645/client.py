"""The asyncio side of the DL/T 645 head-end: requests to the meters behind one gateway.

A few TCP connections are shared by many requests in flight (at most
``limits.dlt645_requests_in_flight_max``); each request is answered within a timeout or asked
again, up to ``limits.dlt645_attempts_max`` times; an abnormal reply is the meter's word and is
not asked again. Replies are matched to requests by meter and function (and data identifier),
so a meter that stays silent holds up no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass

from gridpay import limits
from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.codec import DI, ControlAction, Frame, Function, RemoteControl
from gridpay.adapters.dlt645.errors import FrameError, MeterNoAnswer, MeterRefused
from gridpay.adapters.dlt645.security import PayloadCipher, PlainPayload
from gridpay.adapters.dlt645.stream import StreamDecoder
from gridpay.errors import DeliveryFailed
from gridpay.ports.meters import MeterFreeze

FREEZES_BACK_MAX = 62  # the daily freezes a meter keeps
ENERGY_DIS = (DI.ENERGY_TOTAL, DI.ENERGY_SHARP, DI.ENERGY_PEAK, DI.ENERGY_FLAT, DI.ENERGY_VALLEY)
_STATUS_WORD_3 = int(DI.STATUS_WORD_3)  # a plain int: compared with each reply's


@dataclass(frozen=True)
class ClientOptions:
    connections: int = limits.dlt645_connections_max
    in_flight_max: int = limits.dlt645_requests_in_flight_max
    reply_timeout_s: float = limits.dlt645_reply_timeout_s
    attempts_max: int = limits.dlt645_attempts_max
    connect_timeout_s: float = 5.0


def freeze_dis(freezes_back: int) -> tuple[int, int]:
    """The freeze-time and energy-block identifiers of the ``freezes_back``-th last freeze."""
    if not 1 <= freezes_back <= FREEZES_BACK_MAX:
        raise DeliveryFailed(f"a meter keeps its last {FREEZES_BACK_MAX} daily freezes")
    return DI.DAY_FREEZE_TIME - 1 + freezes_back, DI.DAY_FREEZE_ENERGY - 1 + freezes_back


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        # (meter address, function) -> (data identifier expected, reply, monotonic deadline)
        self.waiting: dict[tuple[str, int], tuple[int | None, asyncio.Future[Frame], float]] = {}
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._outgoing = bytearray()

    def send(self, raw: bytes) -> None:
        """Queue a frame; what the requests of one turn of the loop queue goes in one write
        (a system call per frame would cost more than the protocol)."""
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing += raw

    def _flush(self) -> None:
        if self._outgoing and not self.closed:
            self.writer.write(bytes(self._outgoing))
        self._outgoing.clear()

    async def read_replies(self) -> None:
        decoder = StreamDecoder()
        try:
            while data := await self.reader.read(65_536):
                decoder.feed(data)
                while True:
                    try:
                        frame = decoder.next_frame()
                    except FrameError:
                        continue  # garbled on the way: the request times out and is asked again
                    if frame is None:
                        break
                    self._deliver(frame)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed = True
            for _, future, _ in self.waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the gateway closed the connection"))

    def time_out(self, now: float) -> None:
        """Fail the requests whose deadline has passed (they are asked again)."""
        for _, future, deadline in list(self.waiting.values()):
            if deadline <= now and not future.done():
                future.set_exception(TimeoutError())

    def _deliver(self, frame: Frame) -> None:
        if not frame.is_reply:
            return
        waiting = self.waiting.get((frame.address, frame.function))
        if waiting is None:
            return  # a late answer to a request given up on
        di, future, _ = waiting
        if di is not None and not frame.is_abnormal:
            try:
                if codec.di_of(frame.data) != di:
                    return  # a late answer to an earlier request of the same meter
            except FrameError:
                return
        if not future.done():
            future.set_result(frame)


class _MeterLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # requests holding or waiting for the lock


class Dlt645Client:
    """Requests to the meters behind one gateway, over a few shared TCP connections."""

    def __init__(
        self,
        host: str,
        port: int,
        options: ClientOptions | None = None,
        cipher: PayloadCipher | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.options = options or ClientOptions()
        self.cipher = cipher or PlainPayload()
        self._connections: list[_Connection | None] = [None] * self.options.connections
        self._locks = [asyncio.Lock() for _ in range(self.options.connections)]
        self._slots = asyncio.Semaphore(self.options.in_flight_max)
        self._meter_locks: dict[str, _MeterLock] = {}  # meters with requests in flight
        self._sweeper: asyncio.Task[None] | None = None

    async def _sweep(self) -> None:
        """Time requests out from one task: a timer per request costs more than the request.
        A reply is waited for between its timeout and a quarter of it more."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.reply_timeout_s / 4)
            now = loop.time()
            for connection in self._connections:
                if connection is not None:
                    connection.time_out(now)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for connection in self._connections:
            if connection is not None:
                connection.writer.close()
                if connection.task is not None:
                    connection.task.cancel()
        self._connections = [None] * self.options.connections

    async def _connection(self, index: int) -> _Connection:
        connection = self._connections[index]
        if connection is not None and not connection.closed:
            return connection  # the common case, without taking the lock
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        async with self._locks[index]:
            connection = self._connections[index]
            if connection is None or connection.closed:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port),
                        self.options.connect_timeout_s,
                    )
                except (OSError, TimeoutError) as exc:
                    raise MeterNoAnswer(
                        f"cannot reach the meter gateway {self.host}:{self.port}: {exc}"
                    ) from None
                connection = _Connection(reader, writer)
                connection.task = asyncio.get_running_loop().create_task(connection.read_replies())
                self._connections[index] = connection
            return connection

    async def reachable(self) -> None:
        """``MeterNoAnswer`` unless the gateway takes a connection."""
        await self._connection(0)

    async def send_only(self, frame: Frame) -> None:
        """A frame nobody answers (a broadcast), on every connection's gateway once."""
        connection = await self._connection(0)
        connection.writer.write(codec.encode(frame))
        await connection.writer.drain()

    async def ask(self, frame: Frame, di: int | None = None) -> Frame:
        """The meter's normal reply to ``frame``: asked again on silence, ``MeterRefused`` on
        an abnormal reply, ``MeterNoAnswer`` after the last attempt. One request per meter at
        a time: its replies carry no request number to tell them apart."""
        address = frame.address
        entry = self._meter_turn(address)
        try:
            async with entry.lock, self._slots:
                return await self._attempts(address, frame.function, codec.encode(frame), di)
        finally:
            self._meter_done(address, entry)

    def _meter_turn(self, address: str) -> _MeterLock:
        entry = self._meter_locks.get(address)
        if entry is None:
            entry = self._meter_locks[address] = _MeterLock()
        entry.users += 1
        return entry

    def _meter_done(self, address: str, entry: _MeterLock) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._meter_locks[address]

    async def _attempts(self, address: str, function: int, raw: bytes, di: int | None) -> Frame:
        """``raw`` (a request to ``address``) until its reply comes: see ``ask``."""
        index = int(address) % self.options.connections if address.isdigit() else 0
        key = (address, function)
        loop = asyncio.get_running_loop()
        for _ in range(self.options.attempts_max):
            connection = self._connections[index]
            if connection is None or connection.closed:
                try:
                    connection = await self._connection(index)
                except MeterNoAnswer:
                    await asyncio.sleep(self.options.reply_timeout_s / 4)
                    continue
            future: asyncio.Future[Frame] = loop.create_future()
            connection.waiting[key] = (di, future, loop.time() + self.options.reply_timeout_s)
            try:
                connection.send(raw)
                reply = await future
            except (TimeoutError, ConnectionError):
                continue
            finally:
                waiting = connection.waiting.get(key)
                if waiting is not None and waiting[1] is future:
                    del connection.waiting[key]
            if reply.is_abnormal:
                raise MeterRefused(
                    f"meter {address} refused: {codec.describe_error(reply.error_byte)}",
                    reply.error_byte,
                )
            return reply
        raise MeterNoAnswer(
            f"meter {address}: no valid answer to {self.options.attempts_max} requests "
            f"of {self.options.reply_timeout_s:g} s each"
        )

    # --- what gridpay asks a meter ----------------------------------------------------------

    async def read(self, meter_id: int, di: int) -> bytes:
        address = codec.address_of(meter_id)
        reply = await self.ask(codec.read_request(address, di), di)
        return codec.parse_read_reply(reply).value

    async def read_freeze(self, meter_id: int, freezes_back: int = 1) -> MeterFreeze:
        time_di, energy_di = freeze_dis(freezes_back)
        frozen_at = codec.instant_of(await self.read(meter_id, time_di), seconds=False)
        registers = codec.energy_block_wh(await self.read(meter_id, energy_di))
        return MeterFreeze(meter_id, frozen_at, registers)

    async def relay_open(self, meter_id: int) -> bool:
        return codec.relay_open(await self.read(meter_id, DI.STATUS_WORD_3))

    async def control(self, meter_id: int, action: ControlAction, expires_at: dt.datetime) -> None:
        command = RemoteControl(codec.address_of(meter_id), action, expires_at)
        await self.ask(codec.remote_control(command, self.cipher))

    async def switch(self, meter_id: int, action: ControlAction, expires_at: dt.datetime) -> bool:
        """The remote control, then status word 3, in one turn of the meter (no other request
        of it between them, one request slot for both): is the relay open now? Raises as
        ``ask`` does (``MeterRefused`` when the meter refuses the control)."""
        address = codec.address_of(meter_id)
        command = RemoteControl(address, action, expires_at)
        control = codec.remote_control_bytes(command, self.cipher)
        status = codec.read_request_bytes(address, DI.STATUS_WORD_3)
        entry = self._meter_turn(address)
        try:
            async with entry.lock, self._slots:
                await self._attempts(address, Function.REMOTE_CONTROL, control, None)
                reply = await self._attempts(address, Function.READ_DATA, status, _STATUS_WORD_3)
        finally:
            self._meter_done(address, entry)
        return codec.relay_open(codec.parse_read_reply(reply).value)
