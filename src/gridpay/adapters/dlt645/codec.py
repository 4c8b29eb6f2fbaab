"""DL/T 645-2007 frames, pure: bytes in, typed values out, and back.

A frame is ``[FE FE FE FE] 68 A0..A5 68 C L DATA CS 16``: the address is 12 decimal digits as
six BCD bytes sent low byte first; every data byte travels plus 0x33; CS is the sum of every
byte from the first 68 to the last data byte, mod 256 (the preamble is not counted). C carries
the direction (bit 7: a reply), an abnormal reply (bit 6, with one error byte as its data), more
frames following (bit 5) and the function (bits 4-0).

Values inside the data are BCD, low byte first: energy as ``XXXXXX.XX`` kWh (kept here as
whole Wh, a multiple of 10), instants as ss mm hh DD MM YY. Everything that cannot be one of
these raises ``FrameError`` and nothing else.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from enum import IntEnum

from gridpay import limits
from gridpay.adapters.dlt645.errors import FrameError
from gridpay.adapters.dlt645.security import PayloadCipher, PlainPayload

PREAMBLE = b"\xfe\xfe\xfe\xfe"
START = 0x68
END = 0x16
SCRAMBLE = 0x33
HEADER_BYTES = 10  # 68 A0..A5 68 C L
FRAME_BYTES_MIN = HEADER_BYTES + 2  # with CS and 16, no data
ADDRESS_DIGITS = 12
WILDCARD_ADDRESS = "AAAAAAAAAAAA"
BROADCAST_ADDRESS = "999999999999"

REPLY_BIT = 0x80
ABNORMAL_BIT = 0x40
FOLLOWS_BIT = 0x20
FUNCTION_MASK = 0x1F

WH_PER_STEP = 10  # a register shows 0.01 kWh
ENERGY_BYTES = 4
ENERGY_STEPS_MAX = 10 ** (2 * ENERGY_BYTES) - 1  # 999999.99 kWh
REGISTERS_IN_BLOCK = 5  # total, sharp, peak, flat, valley


class Function(IntEnum):
    BROADCAST_TIME = 0x08
    READ_DATA = 0x11
    READ_FOLLOWING = 0x12
    READ_ADDRESS = 0x13
    WRITE_DATA = 0x14
    WRITE_ADDRESS = 0x15
    FREEZE = 0x16
    CHANGE_BAUD_RATE = 0x17
    CHANGE_PASSWORD = 0x18
    CLEAR_DEMAND = 0x19
    CLEAR_METER = 0x1A
    CLEAR_EVENTS = 0x1B
    REMOTE_CONTROL = 0x1C


class ControlAction(IntEnum):
    """N1 of a remote-control frame."""

    TRIP = 0x1A
    CLOSE_PERMITTED = 0x1B  # the customer presses the meter's button to close
    CLOSE_DIRECT = 0x1C
    ALARM_ON = 0x2A
    ALARM_OFF = 0x2B
    KEEP_SUPPLY_ON = 0x3A
    KEEP_SUPPLY_OFF = 0x3B


class DI(IntEnum):
    """Data identifiers, written DI3 DI2 DI1 DI0 and sent DI0 first."""

    ENERGY_TOTAL = 0x00010000  # forward active energy
    ENERGY_SHARP = 0x00010100
    ENERGY_PEAK = 0x00010200
    ENERGY_FLAT = 0x00010300
    ENERGY_VALLEY = 0x00010400
    ENERGY_BLOCK = 0x0001FF00  # total and the four tariff registers
    DAY_FREEZE_TIME = 0x05060001  # of the last daily freeze
    DAY_FREEZE_ENERGY = 0x05060101  # forward active energy block of the last daily freeze
    STATUS_WORD_3 = 0x04000503


# Status word 3: bit 4 is the relay (1 = open, the supply off); bit 6 the last relay command.
RELAY_OPEN_BIT = 0x0010
RELAY_COMMAND_OPEN_BIT = 0x0040

# The abnormal reply's error byte (the meter's "error information word").
ERROR_BITS = (
    (0x01, "other error"),
    (0x02, "no data requested"),
    (0x04, "password wrong or not authorised"),
    (0x08, "baud rate cannot be changed"),
    (0x10, "too many year time zones"),
    (0x20, "too many day periods"),
    (0x40, "too many tariffs"),
)


@dataclass(frozen=True)
class Frame:
    """One frame; ``data`` is the plain payload (the +0x33 is the wire's business)."""

    address: str
    control: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_address_cached(self.address)
        if not 0 <= self.control <= 0xFF:
            raise FrameError(f"control byte {self.control} is not a byte")
        if len(self.data) > limits.dlt645_data_bytes_max:
            raise FrameError(
                f"{len(self.data)} data bytes: a frame carries at most "
                f"{limits.dlt645_data_bytes_max}"
            )

    @property
    def function(self) -> int:
        return self.control & FUNCTION_MASK

    @property
    def is_reply(self) -> bool:
        return bool(self.control & REPLY_BIT)

    @property
    def is_abnormal(self) -> bool:
        return bool(self.control & ABNORMAL_BIT)

    @property
    def more_follows(self) -> bool:
        return bool(self.control & FOLLOWS_BIT)

    @property
    def error_byte(self) -> int:
        """The abnormal reply's error byte."""
        if not (self.is_reply and self.is_abnormal) or len(self.data) != 1:
            raise FrameError(f"frame C={self.control:02X} is not an abnormal reply")
        return self.data[0]


@functools.lru_cache(maxsize=limits.dlt645_addresses_cached_max)
def _check_address_cached(address: str) -> None:
    check_address(address)


# --- the frame ---------------------------------------------------------------------------------


def check_address(address: str) -> None:
    if len(address) != ADDRESS_DIGITS:
        raise FrameError(f"meter address {address!r} is not {ADDRESS_DIGITS} digits")
    for i in range(0, ADDRESS_DIGITS, 2):
        pair = address[i : i + 2]
        if pair != "AA" and not (pair.isascii() and pair.isdigit()):
            raise FrameError(f"meter address {address!r}: {pair!r} is not a BCD byte or AA")


@functools.lru_cache(maxsize=limits.dlt645_addresses_cached_max)
def encode_address(address: str) -> bytes:
    """``202208310002`` -> ``02 00 31 08 22 20`` (low byte first)."""
    check_address(address)
    pairs = [address[i : i + 2] for i in range(0, ADDRESS_DIGITS, 2)]
    return bytes(0xAA if p == "AA" else int(p, 16) for p in reversed(pairs))


@functools.lru_cache(maxsize=limits.dlt645_addresses_cached_max)
def decode_address(raw: bytes) -> str:
    if len(raw) != ADDRESS_DIGITS // 2:
        raise FrameError(f"an address is {ADDRESS_DIGITS // 2} bytes, not {len(raw)}")
    pairs = []
    for byte in reversed(raw):
        if byte == 0xAA:
            pairs.append("AA")
        elif byte >> 4 <= 9 and byte & 0x0F <= 9:
            pairs.append(f"{byte:02X}")
        else:
            raise FrameError(f"address byte {byte:02X} is not BCD")
    return "".join(pairs)


def address_of(meter_id: int) -> str:
    """A meter's number as its 12-digit address."""
    if not 0 <= meter_id < 10**ADDRESS_DIGITS:
        raise FrameError(f"meter number {meter_id} does not fit {ADDRESS_DIGITS} digits")
    return f"{meter_id:0{ADDRESS_DIGITS}d}"


def checksum(raw: bytes) -> int:
    return sum(raw) & 0xFF


_ADDRESS_START = bytes((START,))
_PLUS_33 = bytes((b + SCRAMBLE) & 0xFF for b in range(256))
_MINUS_33 = bytes((b - SCRAMBLE) & 0xFF for b in range(256))


def scramble(data: bytes) -> bytes:
    return data.translate(_PLUS_33)


def unscramble(data: bytes) -> bytes:
    return data.translate(_MINUS_33)


def encode(frame: Frame, *, preamble: bool = True) -> bytes:
    return frame_bytes(frame.address, frame.control, frame.data, preamble=preamble)


def frame_bytes(address: str, control: int, data: bytes, *, preamble: bool = True) -> bytes:
    """The frame's bytes straight from its parts: what ``encode(Frame(...))`` gives, for the
    head-end's requests, which need no ``Frame`` of their own."""
    if len(data) > limits.dlt645_data_bytes_max:
        raise FrameError(
            f"{len(data)} data bytes: a frame carries at most {limits.dlt645_data_bytes_max}"
        )
    if not 0 <= control <= 0xFF:
        raise FrameError(f"control byte {control} is not a byte")
    body = b"".join(
        (
            _ADDRESS_START,
            encode_address(address),
            bytes((START, control, len(data))),
            scramble(data),
        )
    )
    return b"".join((PREAMBLE if preamble else b"", body, bytes((checksum(body), END))))


def decode(raw: bytes) -> Frame:
    """Exactly one frame, with or without its preamble (any number of FE before it)."""
    body = raw.lstrip(b"\xfe")
    if len(body) < FRAME_BYTES_MIN:
        raise FrameError(f"{len(body)} bytes are too short for a frame")
    length = body[9]
    if len(body) != FRAME_BYTES_MIN + length:
        raise FrameError(f"L={length} but the frame has {len(body) - FRAME_BYTES_MIN} data bytes")
    return frame_from_body(body)


def frame_from_body(body: bytes) -> Frame:
    """A frame from its bytes without preamble, whose length is known to match L."""
    if body[0] != START or body[7] != START:
        raise FrameError("a frame starts 68 A0..A5 68")
    length = body[9]
    if length > limits.dlt645_data_bytes_max:
        raise FrameError(f"L={length} is above the {limits.dlt645_data_bytes_max} allowed")
    end = HEADER_BYTES + length
    if body[end] != checksum(body[:end]):
        raise FrameError(f"checksum {body[end]:02X}, expected {checksum(body[:end]):02X}")
    if body[end + 1] != END:
        raise FrameError(f"a frame ends with 16, not {body[end + 1]:02X}")
    return Frame(decode_address(body[1:7]), body[8], unscramble(body[HEADER_BYTES:end]))


# --- BCD values ----------------------------------------------------------------------------------


def bcd(number: int, size: int) -> bytes:
    """``number`` as ``size`` BCD bytes, low byte first."""
    if not 0 <= number < 100**size:
        raise FrameError(f"{number} does not fit {size} BCD bytes")
    # The decimal digits read as hex are the BCD bytes, high byte first.
    return bytes.fromhex(f"{number:0{2 * size}d}")[::-1]


def from_bcd(raw: bytes) -> int:
    digits = raw[::-1].hex()
    if not digits.isdigit():
        bad = next(b for b in raw if b >> 4 > 9 or b & 0x0F > 9)
        raise FrameError(f"byte {bad:02X} is not BCD")
    return int(digits) if digits else 0


def di_bytes(di: int) -> bytes:
    if not 0 <= di <= 0xFFFFFFFF:
        raise FrameError(f"data identifier {di} is not 4 bytes")
    return di.to_bytes(4, "little")


def di_of(data: bytes) -> int:
    if len(data) < 4:
        raise FrameError(f"{len(data)} data bytes hold no data identifier")
    return int.from_bytes(data[:4], "little")


def energy_bytes(energy_wh: int) -> bytes:
    """A register of ``energy_wh`` as the meter shows it: down to 10 Wh, ``XXXXXX.XX`` kWh."""
    steps = energy_wh // WH_PER_STEP
    if not 0 <= steps <= ENERGY_STEPS_MAX:
        raise FrameError(f"{energy_wh} Wh does not fit a register")
    return bcd(steps, ENERGY_BYTES)


def energy_wh(raw: bytes) -> int:
    if len(raw) != ENERGY_BYTES:
        raise FrameError(f"an energy value is {ENERGY_BYTES} bytes, not {len(raw)}")
    return from_bcd(raw) * WH_PER_STEP


def energy_block_bytes(registers_wh: tuple[int, ...]) -> bytes:
    if len(registers_wh) != REGISTERS_IN_BLOCK:
        raise FrameError(f"an energy block has {REGISTERS_IN_BLOCK} registers")
    return b"".join(energy_bytes(wh) for wh in registers_wh)


def energy_block_wh(raw: bytes) -> tuple[int, ...]:
    """Total, sharp, peak, flat, valley in Wh. Some meters send only the total or fewer
    tariffs: whatever whole registers the block holds."""
    if not raw or len(raw) % ENERGY_BYTES or len(raw) > ENERGY_BYTES * REGISTERS_IN_BLOCK:
        raise FrameError(f"an energy block of {len(raw)} bytes")
    return tuple(energy_wh(raw[i : i + ENERGY_BYTES]) for i in range(0, len(raw), ENERGY_BYTES))


# The BCD byte of 0..99: a remote control's expiry and every freeze instant go through it.
_BCD_BYTE = bytes(int(f"{v:02d}", 16) for v in range(100))


def instant_bytes(at: dt.datetime, *, seconds: bool = True) -> bytes:
    """ss mm hh DD MM YY (or mm hh DD MM YY without seconds), low first, local time."""
    b = _BCD_BYTE
    fields = (b[at.minute], b[at.hour], b[at.day], b[at.month], b[at.year % 100])
    return bytes((b[at.second], *fields) if seconds else fields)


def instant_of(raw: bytes, *, seconds: bool = True) -> dt.datetime:
    """The naive local instant of ``instant_bytes`` (the meter knows no time zone); the
    century is 20xx."""
    size = 6 if seconds else 5
    if len(raw) != size:
        raise FrameError(f"an instant is {size} bytes, not {len(raw)}")
    values = [from_bcd(raw[i : i + 1]) for i in range(size)]
    if not seconds:
        values.insert(0, 0)
    second, minute, hour, day, month, year = values
    try:
        return dt.datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as exc:
        raise FrameError(f"not an instant: {raw.hex(' ')} ({exc})") from None


def status_word_bytes(relay_open: bool) -> bytes:
    word = (RELAY_OPEN_BIT | RELAY_COMMAND_OPEN_BIT) if relay_open else 0
    return word.to_bytes(2, "little")


def relay_open(raw: bytes) -> bool:
    """Status word 3's relay bit."""
    if len(raw) != 2:
        raise FrameError(f"status word 3 is 2 bytes, not {len(raw)}")
    return bool(int.from_bytes(raw, "little") & RELAY_OPEN_BIT)


def describe_error(error_byte: int) -> str:
    named = [text for bit, text in ERROR_BITS if error_byte & bit]
    return ", ".join(named) or f"error byte {error_byte:02X}"


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadReply:
    address: str
    di: int
    value: bytes
    more_follows: bool = False


@dataclass(frozen=True)
class RemoteControl:
    address: str
    action: ControlAction
    expires_at: dt.datetime  # naive local, as the meter has it
    password: bytes = b"\x02\x00\x00\x00"  # level 02, then the three password bytes
    operator: bytes = b"\x00\x00\x00\x00"

    def __post_init__(self) -> None:
        if len(self.password) != 4 or len(self.operator) != 4:
            raise FrameError("a remote control's password and operator code are 4 bytes each")


def read_request(address: str, di: int) -> Frame:
    return Frame(address, Function.READ_DATA, di_bytes(di))


def read_request_bytes(address: str, di: int) -> bytes:
    """``encode(read_request(address, di))``."""
    return frame_bytes(address, Function.READ_DATA, di_bytes(di))


def read_reply(reply: ReadReply) -> Frame:
    control = REPLY_BIT | Function.READ_DATA | (FOLLOWS_BIT if reply.more_follows else 0)
    return Frame(reply.address, control, di_bytes(reply.di) + reply.value)


def parse_read_reply(frame: Frame) -> ReadReply:
    if not frame.is_reply or frame.is_abnormal or frame.function != Function.READ_DATA:
        raise FrameError(f"frame C={frame.control:02X} is not a normal read reply")
    return ReadReply(frame.address, di_of(frame.data), frame.data[4:], frame.more_follows)


def abnormal_reply(address: str, function: int, error_byte: int) -> Frame:
    return Frame(address, REPLY_BIT | ABNORMAL_BIT | function, bytes([error_byte]))


def remote_control(command: RemoteControl, cipher: PayloadCipher | None = None) -> Frame:
    return Frame(command.address, Function.REMOTE_CONTROL, _sealed_control(command, cipher))


def remote_control_bytes(command: RemoteControl, cipher: PayloadCipher | None = None) -> bytes:
    """``encode(remote_control(command, cipher))``."""
    return frame_bytes(command.address, Function.REMOTE_CONTROL, _sealed_control(command, cipher))


def _sealed_control(command: RemoteControl, cipher: PayloadCipher | None) -> bytes:
    payload = b"".join(
        (
            command.password,
            command.operator,
            bytes((command.action, 0x00)),
            instant_bytes(command.expires_at),
        )
    )
    return (cipher or PlainPayload()).seal(command.address, payload)


def parse_remote_control(frame: Frame, cipher: PayloadCipher | None = None) -> RemoteControl:
    if frame.is_reply or frame.function != Function.REMOTE_CONTROL:
        raise FrameError(f"frame C={frame.control:02X} is not a remote control")
    data = (cipher or PlainPayload()).open(frame.address, frame.data)
    if len(data) != 16:
        raise FrameError(f"a remote control carries 16 bytes, not {len(data)}")
    try:
        action = ControlAction(data[8])
    except ValueError:
        raise FrameError(f"remote control type {data[8]:02X} is unknown") from None
    return RemoteControl(frame.address, action, instant_of(data[10:16]), data[0:4], data[4:8])


def control_reply(address: str) -> Frame:
    return Frame(address, REPLY_BIT | Function.REMOTE_CONTROL)


def broadcast_time(at: dt.datetime) -> Frame:
    """Set every meter's clock to ``at`` (naive local); meters do not answer a broadcast."""
    return Frame(BROADCAST_ADDRESS, Function.BROADCAST_TIME, instant_bytes(at))


def parse_broadcast_time(frame: Frame) -> dt.datetime:
    if frame.is_reply or frame.function != Function.BROADCAST_TIME:
        raise FrameError(f"frame C={frame.control:02X} is not a broadcast time")
    return instant_of(frame.data)


def read_address_request() -> Frame:
    return Frame(WILDCARD_ADDRESS, Function.READ_ADDRESS)


def read_address_reply(address: str) -> Frame:
    return Frame(address, REPLY_BIT | Function.READ_ADDRESS, encode_address(address))
