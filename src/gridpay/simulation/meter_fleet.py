"""A simulated fleet of DL/T 645-2007 meters behind one TCP endpoint, as a concentrator or a
gateway presents them: each meter answers frames addressed to its number.

Each meter's registers advance with a household load profile (its mean daily energy from the
synthetic city's model, spread over the hours of the day, the season's and the weekday's
factor, split over the time-of-use registers by the hour), only while its relay is closed. At
every local midnight the meter freezes its registers (the daily freeze the head-end collects).
A remote control trips or closes the relay, unless its expiry has passed; status word 3 says
where the relay is.

Faults are injected per meter: ``silent`` (never answers), ``garbled`` (answers noise),
``bad_checksum`` (answers with a wrong checksum), ``relay_refuses`` (an abnormal reply to
every remote control) and ``relay_stuck`` (accepts a remote control, but the relay does not
move: only status word 3 tells). The fleet runs on a clock it is given (real time, or a
simulation's), and advances a meter only when it is asked something, so a fleet of 100,000
idle meters costs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import functools
import math
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.codec import DI, ControlAction, Frame, Function, ReadReply
from gridpay.adapters.dlt645.errors import FrameError
from gridpay.adapters.dlt645.head_end import Dlt645HeadEnd
from gridpay.adapters.dlt645.security import PayloadCipher, PlainPayload
from gridpay.adapters.dlt645.stream import StreamDecoder
from gridpay.domain.commands import CommandResult
from gridpay.ports.gateways import HeadEnd
from gridpay.ports.store import Store
from gridpay.simulation import synthetic

DAILY_WH_DEFAULT = 5_000
FREEZE_VALUES_CACHED_MAX = 200_000  # a night's freezes of a large fleet, encoded once
_HOUR = dt.timedelta(hours=1)
STOP_TIMEOUT_S = 5.0  # for the connections' handlers to end once their streams are closed
FREEZES_KEPT = 62  # daily freezes a meter keeps (DI 05 06 xx 01 .. 3E)
FAULTS = ("silent", "garbled", "bad_checksum", "relay_refuses", "relay_stuck")
ERROR_OTHER = 0x01
ERROR_NO_DATA = 0x02
# Share of a day's energy used in each local hour (per mille): night low, a morning peak, the
# evening peak highest.
HOUR_SHARE_PERMILLE = (
    20, 16, 14, 13, 13, 16, 30, 48, 52, 44, 40, 42,
    46, 42, 38, 38, 44, 66, 80, 84, 76, 62, 44, 32,
)  # fmt: skip
# The time-of-use register (index in the energy block: 1 sharp, 2 peak, 3 flat, 4 valley) of
# each local hour.
HOUR_REGISTER = (4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 3, 3, 3, 2, 1, 1, 3, 3, 4)
_REGISTER_DIS = tuple(
    int(di)
    for di in (DI.ENERGY_TOTAL, DI.ENERGY_SHARP, DI.ENERGY_PEAK, DI.ENERGY_FLAT, DI.ENERGY_VALLEY)
)
_FREEZE_ENERGY, _FREEZE_TIME = int(DI.DAY_FREEZE_ENERGY), int(DI.DAY_FREEZE_TIME)
_STATUS_WORD_3, _ENERGY_BLOCK = int(DI.STATUS_WORD_3), int(DI.ENERGY_BLOCK)
assert sum(HOUR_SHARE_PERMILLE) == 1000
assert len(HOUR_REGISTER) == 24


@dataclass(frozen=True)
class FleetMeter:
    """A meter to present: its number, mean daily energy and registers at ``registers_at``."""

    meter_id: int
    daily_wh: int
    registers_wh: tuple[int, ...] = (0, 0, 0, 0, 0)
    relay_open: bool = False


class _Meter:
    __slots__ = ("at", "daily_wh", "fault", "freezes", "registers", "relay_open")

    def __init__(self, meter: FleetMeter, at: dt.datetime) -> None:
        self.daily_wh = meter.daily_wh
        self.registers = [float(wh) for wh in meter.registers_wh]
        self.relay_open = meter.relay_open
        self.at = at
        # newest first: (frozen_at, registers)
        self.freezes: collections.deque[tuple[dt.datetime, tuple[int, ...]]] = collections.deque(
            [(at, tuple(meter.registers_wh))], maxlen=FREEZES_KEPT
        )
        self.fault: str | None = None


@functools.lru_cache(maxsize=FREEZE_VALUES_CACHED_MAX)
def _freeze_block(freeze: tuple[dt.datetime, tuple[int, ...]]) -> bytes:
    return codec.energy_block_bytes(freeze[1])


@functools.lru_cache(maxsize=FREEZE_VALUES_CACHED_MAX)
def _freeze_time(freeze: tuple[dt.datetime, tuple[int, ...]]) -> bytes:
    return codec.instant_bytes(freeze[0], seconds=False)


class MeterFleet:
    def __init__(
        self,
        meters: Iterable[FleetMeter],
        clock: Callable[[], dt.datetime],
        *,
        time_zone: str = "Asia/Shanghai",
        cipher: PayloadCipher | None = None,
        seed: int = 0,
        adopt_unknown: bool = False,
    ) -> None:
        """``adopt_unknown``: answer for any meter number, adding a meter on its first frame
        (for a demo whose city is built after the fleet starts)."""
        self.zone = ZoneInfo(time_zone)
        self.adopt_unknown = adopt_unknown
        self.clock = clock
        self.cipher = cipher or PlainPayload()
        self._rng = random.Random(seed)
        # The registers given are those of the last midnight: the fleet starts with a daily
        # freeze the head-end can read at once.
        midnight = self._local(clock()).replace(hour=0, minute=0, second=0, microsecond=0)
        self._meters = {m.meter_id: _Meter(m, midnight) for m in meters}
        self.frames_answered = 0
        self.time_syncs: list[dt.datetime] = []
        self.server: asyncio.Server | None = None
        # one handler per open connection, with its writer
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    # --- the meters, for tests and the demo ----------------------------------------------------

    def __len__(self) -> int:
        return len(self._meters)

    def meter_ids(self) -> list[int]:
        return list(self._meters)

    def inject(self, meter_id: int, fault: str | None) -> None:
        """Give a meter a fault (one of ``FAULTS``), or heal it with ``None``."""
        assert fault is None or fault in FAULTS, fault
        self._meters[meter_id].fault = fault

    def registers_wh(self, meter_id: int) -> tuple[int, ...]:
        meter = self._advanced(meter_id)
        return tuple(int(wh) for wh in meter.registers)

    def relay_is_open(self, meter_id: int) -> bool:
        return self._meters[meter_id].relay_open

    def last_freeze(self, meter_id: int, back: int = 1) -> tuple[dt.datetime, tuple[int, ...]]:
        """The ``back``-th last daily freeze: its local instant and registers."""
        return self._advanced(meter_id).freezes[back - 1]

    def freezes(self, meter_id: int) -> dict[dt.datetime, tuple[int, ...]]:
        """Every daily freeze the meter keeps, by its local instant."""
        return dict(self._advanced(meter_id).freezes)

    def load_freeze(self, meter_id: int, at: dt.datetime, registers_wh: Sequence[int]) -> None:
        """Make ``registers_wh`` the meter's registers and its daily freeze at ``at`` (a local
        midnight), replacing what it froze there itself: a demo's meters follow its
        households' synthetic usage, day by day."""
        local = self._local(at)
        meter = self._meters.get(meter_id) or self._adopt(meter_id)
        while meter.freezes and meter.freezes[0][0] >= local:
            meter.freezes.popleft()
        meter.freezes.appendleft((local, tuple(int(wh) for wh in registers_wh)))
        meter.registers = [float(wh) for wh in registers_wh]
        meter.at = local

    def _adopt(self, meter_id: int) -> _Meter:
        midnight = self._local(self.clock()).replace(hour=0, minute=0, second=0, microsecond=0)
        meter = _Meter(FleetMeter(meter_id, DAILY_WH_DEFAULT), midnight)
        self._meters[meter_id] = meter
        return meter

    # --- the registers -------------------------------------------------------------------------

    def _local(self, at: dt.datetime) -> dt.datetime:
        assert at.tzinfo is not None
        return at.astimezone(self.zone)

    def _advanced(self, meter_id: int) -> _Meter:
        meter = self._meters[meter_id]
        now = self._local(self.clock())
        at = meter.at
        while at < now:
            # wall-clock hours (the zone's hours are whole in the time zones meters live in)
            hour_end = at.replace(minute=0, second=0, microsecond=0) + _HOUR
            until = min(hour_end, now)
            if not meter.relay_open:
                self._add(meter, at, (until - at).total_seconds())
            if until == hour_end and hour_end.hour == 0:
                meter.freezes.appendleft((hour_end, tuple(int(wh) for wh in meter.registers)))
            at = until
        meter.at = max(meter.at, now)
        return meter

    @staticmethod
    def _add(meter: _Meter, at: dt.datetime, seconds: float) -> None:
        factor = synthetic.day_factor(at.date())
        wh = meter.daily_wh * factor * HOUR_SHARE_PERMILLE[at.hour] / 1000 * seconds / 3600
        meter.registers[0] += wh
        meter.registers[HOUR_REGISTER[at.hour]] += wh

    # --- the protocol --------------------------------------------------------------------------

    def answer(self, frame: Frame) -> bytes:
        """The bytes the addressed meter sends back (none for a broadcast or another bus)."""
        if frame.is_reply:
            return b""
        if frame.address == codec.BROADCAST_ADDRESS:
            if frame.function == Function.BROADCAST_TIME:
                self.time_syncs.append(codec.parse_broadcast_time(frame))
            return b""
        meter_id = int(frame.address) if frame.address.isdigit() else None
        meter = self._meters.get(meter_id) if meter_id is not None else None
        if meter is None and meter_id is not None and self.adopt_unknown:
            meter = self._adopt(meter_id)
        if meter is None or meter_id is None or meter.fault == "silent":
            return b""
        reply = self._reply(meter_id, frame)
        self.frames_answered += 1
        if meter.fault == "garbled":
            return bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(8, 30)))
        raw = codec.encode(reply)
        if meter.fault == "bad_checksum":
            raw = raw[:-2] + bytes([(raw[-2] + 1) & 0xFF]) + raw[-1:]
        return raw

    def _reply(self, meter_id: int, frame: Frame) -> Frame:
        if frame.function == Function.READ_DATA:
            return self._read(meter_id, frame)
        if frame.function == Function.REMOTE_CONTROL:
            return self._control(meter_id, frame)
        return codec.abnormal_reply(frame.address, frame.function, ERROR_OTHER)

    def _read(self, meter_id: int, frame: Frame) -> Frame:
        try:
            di = int(codec.di_of(frame.data))
        except FrameError:
            return codec.abnormal_reply(frame.address, frame.function, ERROR_OTHER)
        meter = self._advanced(meter_id)
        value = self._value(meter, di)
        if value is None:
            return codec.abnormal_reply(frame.address, frame.function, ERROR_NO_DATA)
        return codec.read_reply(ReadReply(frame.address, di, value))

    @staticmethod
    def _value(meter: _Meter, di: int) -> bytes | None:
        """The data under ``di``, None if the meter has none (plain ints: the hot path)."""
        if _FREEZE_ENERGY <= di < _FREEZE_ENERGY + FREEZES_KEPT:
            back = di - _FREEZE_ENERGY
            return _freeze_block(meter.freezes[back]) if back < len(meter.freezes) else None
        if _FREEZE_TIME <= di < _FREEZE_TIME + FREEZES_KEPT:
            back = di - _FREEZE_TIME
            return _freeze_time(meter.freezes[back]) if back < len(meter.freezes) else None
        if di == _STATUS_WORD_3:
            return codec.status_word_bytes(meter.relay_open)
        registers = tuple(int(wh) for wh in meter.registers)
        if di == _ENERGY_BLOCK:
            return codec.energy_block_bytes(registers)
        if di in _REGISTER_DIS:
            return codec.energy_bytes(registers[_REGISTER_DIS.index(di)])
        return None

    def _control(self, meter_id: int, frame: Frame) -> Frame:
        meter = self._advanced(meter_id)
        try:
            command = codec.parse_remote_control(frame, self.cipher)
        except FrameError:
            return codec.abnormal_reply(frame.address, frame.function, ERROR_OTHER)
        now = self._local(self.clock()).replace(tzinfo=None)
        if meter.fault == "relay_refuses" or command.expires_at < now:
            return codec.abnormal_reply(frame.address, frame.function, ERROR_OTHER)
        if meter.fault == "relay_stuck":
            pass
        elif command.action is ControlAction.TRIP:
            meter.relay_open = True
        elif command.action is ControlAction.CLOSE_DIRECT:
            meter.relay_open = False
        # CLOSE_PERMITTED leaves the relay open until the customer presses the button.
        return codec.control_reply(frame.address)

    # --- the endpoint --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (0: a free port); the address actually bound."""
        self.server = await asyncio.start_server(self._serve, host, port)
        bound = self.server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        """Stop listening and end every open connection: a connection's handler left pending
        when its loop closes leaks its socket (a ResourceWarning in whatever runs next)."""
        if self.server is not None:
            self.server.close()
            handlers = list(self._connections)
            # Closed, each handler reads the end of its stream and returns; one cancelled in
            # its read would have asyncio report the cancellation as an error (Python 3.11).
            for writer in self._connections.values():
                writer.close()
            if handlers:
                _, pending = await asyncio.wait(handlers, timeout=STOP_TIMEOUT_S)
                for handler in pending:
                    handler.cancel()
                await asyncio.gather(*handlers, return_exceptions=True)
            await self.server.wait_closed()
            await asyncio.sleep(0)  # let the closed transports finish closing
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._connections[handler] = writer
        decoder = StreamDecoder()
        try:
            while data := await reader.read(65_536):
                decoder.feed(data)
                out = bytearray()
                while True:
                    try:
                        frame = decoder.next_frame()
                    except FrameError:
                        continue  # a meter ignores what it cannot read
                    if frame is None:
                        break
                    out += self.answer(frame)
                if out:
                    writer.write(bytes(out))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(handler, None)
            writer.close()


# --- fleets --------------------------------------------------------------------------------------


def synthetic_meters(count: int, seed: int = 0) -> list[FleetMeter]:
    """``count`` meters numbered as the synthetic city numbers them, with lognormal mean daily
    energy around 5 kWh and registers of a few years' use."""
    rng = random.Random(seed)
    meters = []
    for i in range(1, count + 1):
        daily_wh = int(min(40_000, max(1_000, rng.lognormvariate(math.log(5_000), 0.5))))
        total_wh = daily_wh * rng.randrange(30, 1_500) // codec.WH_PER_STEP * codec.WH_PER_STEP
        meters.append(FleetMeter(synthetic.METER_ID_BASE + i, daily_wh, (total_wh, 0, 0, 0, 0)))
    return meters


class RunningFleet:
    """A fleet served from a thread of its own (for the demo, tests and benches, next to a
    synchronous caller): ``with RunningFleet(fleet) as (host, port): ...``."""

    def __init__(self, fleet: MeterFleet, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fleet, self.host, self.port = fleet, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> tuple[str, int]:
        loop = asyncio.new_event_loop()
        self._loop = loop
        thread = threading.Thread(target=loop.run_forever, name="meter-fleet", daemon=True)
        thread.start()
        self._thread = thread
        bound = asyncio.run_coroutine_threadsafe(self.fleet.start(self.host, self.port), loop)
        return bound.result(timeout=10)

    def __exit__(self, *exc: object) -> None:
        loop, thread = self._loop, self._thread
        assert loop is not None and thread is not None
        asyncio.run_coroutine_threadsafe(self.fleet.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


_READING_COLUMNS = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")


def meters_of_store(store: Store, today: dt.date, days_back: int = 7) -> list[FleetMeter]:
    """The prepaid meters of a gridpay database, their registers at today's midnight from the
    latest stored reading (of the last ``days_back`` days; zero without one) and their daily
    energy from the two latest."""
    with store.unit_of_work() as uow:
        meters = uow.readings.prepaid_meters(today)
        by_day = [
            uow.readings.readings_for_day(today - dt.timedelta(days=n))
            for n in range(1, days_back + 1)
        ]
    latest: dict[int, tuple[int, ...]] = {}
    daily: dict[int, int] = {}
    for readings in by_day:
        for row in readings.iter_rows(named=True):
            meter_id = row["meter_id"]
            registers = tuple(
                row[c] or 0 for c in ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")
            )
            if meter_id not in latest:
                latest[meter_id] = registers
            elif meter_id not in daily:
                daily[meter_id] = max(0, latest[meter_id][0] - registers[0])
    return [
        FleetMeter(m, daily.get(m) or DAILY_WH_DEFAULT, latest.get(m, (0, 0, 0, 0, 0)))
        for m in meters["meter_id"].to_list()
    ]


READ_FAULTS = ("silent", "garbled", "bad_checksum")  # the faults that make a meter unreadable


def inject_faults(
    fleet: MeterFleet, share: float, seed: int = 0, faults: Sequence[str] = FAULTS
) -> list[int]:
    """Give ``share`` of the meters one of ``faults`` each, in turn (seeded): the meters."""
    rng = random.Random(f"faults/{seed}")
    ids = fleet.meter_ids()
    faulty = rng.sample(ids, round(len(ids) * share))
    for i, meter_id in enumerate(faulty):
        fleet.inject(meter_id, faults[i % len(faults)])
    return sorted(faulty)


class AnsweredBeforeMoving:
    """A real-time head-end made to keep pace with a simulated clock: each command is carried
    out before ``submit`` returns, so the clock cannot jump past the command's expiry while it
    is on the wire."""

    def __init__(self, inner: HeadEnd, wait_s: float = 30.0) -> None:
        self.inner, self.wait_s = inner, wait_s

    @property
    def name(self) -> str:
        return self.inner.name

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        self.inner.submit(correlation_id, meter_id, action, at)
        if isinstance(self.inner, Dlt645HeadEnd):
            self.inner.wait_idle(self.wait_s)

    def results(self, now: dt.datetime) -> list[CommandResult]:
        return self.inner.results(now)
