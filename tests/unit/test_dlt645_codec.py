"""The DL/T 645-2007 codec: the reference frames byte for byte, and round trips of every kind."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay import limits
from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.codec import DI, ControlAction, Frame, ReadReply, RemoteControl
from gridpay.adapters.dlt645.errors import FrameError


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


def test_read_address_request_to_the_wildcard_address_is_the_reference_frame():
    raw = codec.encode(codec.read_address_request(), preamble=False)
    assert raw == hexbytes("68 AA AA AA AA AA AA 68 13 00 DF 16")


def test_read_request_to_a_meter_is_the_reference_frame():
    frame = codec.read_request("202208310002", 0x028022FF)
    assert codec.encode(frame) == hexbytes(
        "FE FE FE FE 68 02 00 31 08 22 20 68 11 04 32 55 B3 35 D1 16"
    )


def test_the_reference_frame_decodes_to_its_address_and_data_identifier():
    frame = codec.decode(hexbytes("FE FE FE FE 68 02 00 31 08 22 20 68 11 04 32 55 B3 35 D1 16"))
    assert frame.address == "202208310002"
    assert frame.function == codec.Function.READ_DATA
    assert not frame.is_reply
    assert codec.di_of(frame.data) == 0x028022FF


def test_address_goes_low_byte_first():
    assert codec.encode_address("202208310002") == hexbytes("02 00 31 08 22 20")
    assert codec.encode_address(codec.BROADCAST_ADDRESS) == hexbytes("99 99 99 99 99 99")


def test_energy_is_bcd_hundredths_of_a_kwh_low_byte_first():
    # 123456.78 kWh
    assert codec.energy_bytes(123_456_780) == hexbytes("78 56 34 12")
    assert codec.energy_wh(hexbytes("78 56 34 12")) == 123_456_780
    assert codec.energy_bytes(19) == hexbytes("01 00 00 00")  # down to 10 Wh, as the meter shows


def test_a_normal_reply_sets_bit_7_and_an_abnormal_one_bits_7_and_6():
    reply = codec.read_reply(ReadReply("202208310002", DI.ENERGY_TOTAL, codec.energy_bytes(10)))
    assert reply.control == 0x91
    abnormal = codec.abnormal_reply("202208310002", codec.Function.READ_DATA, 0x02)
    assert abnormal.control == 0xD1
    assert abnormal.error_byte == 0x02
    assert codec.describe_error(0x02) == "no data requested"
    assert codec.control_reply("202208310002").control == 0x9C
    assert codec.abnormal_reply("202208310002", codec.Function.REMOTE_CONTROL, 4).control == 0xDC


def test_data_bytes_travel_plus_0x33():
    frame = codec.read_request("000000000001", DI.ENERGY_TOTAL)
    raw = codec.encode(frame, preamble=False)
    assert raw[10:14] == hexbytes("33 33 34 33")  # 00 00 01 00 plus 33


def test_remote_control_trip_is_16_bytes_with_its_expiry():
    expires = dt.datetime(2026, 12, 7, 18, 30, 5)
    frame = codec.remote_control(RemoteControl("202208310002", ControlAction.TRIP, expires))
    assert frame.control == 0x1C
    assert len(frame.data) == 16
    assert frame.data[8] == 0x1A
    assert frame.data[10:16] == hexbytes("05 30 18 07 12 26")


def test_broadcast_time_goes_to_the_broadcast_address():
    frame = codec.broadcast_time(dt.datetime(2026, 12, 7, 9, 8, 7))
    raw = codec.encode(frame, preamble=False)
    assert raw[1:7] == hexbytes("99 99 99 99 99 99")
    assert raw[8] == 0x08
    assert codec.parse_broadcast_time(codec.decode(raw)) == dt.datetime(2026, 12, 7, 9, 8, 7)


def test_status_word_3_bit_4_is_the_relay():
    assert codec.relay_open(hexbytes("10 00"))
    assert not codec.relay_open(hexbytes("00 00"))
    assert not codec.relay_open(hexbytes("40 00"))  # a command bit alone is not the relay


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("68 AA AA AA AA AA AA 68 13 00 DE 16", "checksum"),
        ("68 AA AA AA AA AA AA 68 13 00 DF 17", "ends"),
        ("68 AA AA AA AA AA AA 68 13 01 DF 16", "data bytes"),
        ("68 AB AA AA AA AA AA 68 13 00 E0 16", "BCD"),
        ("68 AA AA AA AA", "too short"),
    ],
)
def test_bad_frames_raise_the_codecs_error(raw, why):
    with pytest.raises(FrameError, match=why):
        codec.decode(hexbytes(raw))


def test_a_frame_longer_than_the_limit_is_refused():
    with pytest.raises(FrameError):
        Frame("000000000001", 0x91, bytes(limits.dlt645_data_bytes_max + 1))


# --- round trips ---------------------------------------------------------------------------------

digit_pairs = st.sampled_from([f"{n:02d}" for n in range(100)] + ["AA"])
addresses = st.lists(digit_pairs, min_size=6, max_size=6).map("".join)
meter_addresses = st.integers(0, 10**12 - 1).map(codec.address_of)
payloads = st.binary(max_size=limits.dlt645_data_bytes_max)
energies_wh = st.integers(0, codec.ENERGY_STEPS_MAX).map(lambda s: s * codec.WH_PER_STEP)
instants = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59)).map(
    lambda at: at.replace(microsecond=0)
)


@given(addresses, st.integers(0, 255), payloads, st.booleans())
def test_any_frame_round_trips(address, control, data, preamble):
    frame = Frame(address, control, data)
    assert codec.decode(codec.encode(frame, preamble=preamble)) == frame


@given(meter_addresses, st.integers(0, 0xFFFFFFFF))
def test_read_request_round_trips(address, di):
    frame = codec.decode(codec.encode(codec.read_request(address, di)))
    assert (frame.address, frame.function, codec.di_of(frame.data)) == (address, 0x11, di)


@given(
    meter_addresses,
    st.sampled_from(list(DI)),
    st.lists(energies_wh, min_size=1, max_size=5),
    st.booleans(),
)
def test_read_reply_with_energy_round_trips(address, di, registers_wh, more):
    value = codec.energy_block_bytes(tuple(registers_wh + [0] * (5 - len(registers_wh))))
    reply = ReadReply(address, di, value, more)
    parsed = codec.parse_read_reply(codec.decode(codec.encode(codec.read_reply(reply))))
    assert parsed == reply
    assert codec.energy_block_wh(parsed.value)[: len(registers_wh)] == tuple(registers_wh)


@given(meter_addresses, st.sampled_from(list(codec.Function)), st.integers(0, 255))
def test_abnormal_reply_round_trips(address, function, error_byte):
    frame = codec.decode(codec.encode(codec.abnormal_reply(address, function, error_byte)))
    assert (frame.address, frame.function, frame.error_byte) == (address, function, error_byte)
    assert frame.is_abnormal and frame.is_reply


@given(
    meter_addresses,
    st.sampled_from(list(ControlAction)),
    instants,
    st.binary(min_size=4, max_size=4),
    st.binary(min_size=4, max_size=4),
)
def test_remote_control_round_trips(address, action, expires_at, password, operator):
    command = RemoteControl(address, action, expires_at, password, operator)
    frame = codec.decode(codec.encode(codec.remote_control(command)))
    assert codec.parse_remote_control(frame) == command


@given(meter_addresses)
def test_control_reply_and_read_address_round_trip(address):
    frame = codec.decode(codec.encode(codec.control_reply(address)))
    assert (frame.address, frame.control, frame.data) == (address, 0x9C, b"")
    reply = codec.decode(codec.encode(codec.read_address_reply(address)))
    assert codec.decode_address(reply.data) == address


@given(instants)
def test_broadcast_time_round_trips(at):
    assert codec.parse_broadcast_time(codec.decode(codec.encode(codec.broadcast_time(at)))) == at


@given(instants)
def test_freeze_time_without_seconds_round_trips(at):
    raw = codec.instant_bytes(at, seconds=False)
    assert codec.instant_of(raw, seconds=False) == at.replace(second=0)


@given(st.booleans())
def test_status_word_round_trips(is_open):
    assert codec.relay_open(codec.status_word_bytes(is_open)) is is_open


class XorCipher:
    def seal(self, address: str, payload: bytes) -> bytes:
        return bytes(b ^ 0x5A for b in payload)

    def open(self, address: str, sealed: bytes) -> bytes:
        return bytes(b ^ 0x5A for b in sealed)


@given(meter_addresses, instants)
def test_remote_control_goes_through_the_payload_cipher(address, expires_at):
    command = RemoteControl(address, ControlAction.CLOSE_DIRECT, expires_at)
    frame = codec.remote_control(command, XorCipher())
    assert frame.data[8] == ControlAction.CLOSE_DIRECT ^ 0x5A
    assert codec.parse_remote_control(frame, XorCipher()) == command


# --- the head-end's request bytes, built without a Frame ------------------------------------------


@given(meter_addresses, st.integers(0, 0xFFFFFFFF))
def test_a_read_requests_bytes_are_its_frames_encoding(address, di):
    assert codec.read_request_bytes(address, di) == codec.encode(codec.read_request(address, di))


@given(meter_addresses, st.sampled_from(list(ControlAction)), instants, st.booleans())
def test_a_remote_controls_bytes_are_its_frames_encoding(address, action, expires_at, sealed):
    command = RemoteControl(address, action, expires_at)
    cipher = XorCipher() if sealed else None
    raw = codec.remote_control_bytes(command, cipher)
    assert raw == codec.encode(codec.remote_control(command, cipher))
    assert codec.parse_remote_control(codec.decode(raw), cipher) == command


@given(instants, st.booleans())
def test_an_instants_bytes_are_its_fields_in_bcd_low_first(at, seconds):
    fields = [at.minute, at.hour, at.day, at.month, at.year % 100]
    expected = [at.second, *fields] if seconds else fields
    assert codec.instant_bytes(at, seconds=seconds) == b"".join(codec.bcd(v, 1) for v in expected)


def test_frame_bytes_refuse_what_a_frame_refuses():
    with pytest.raises(FrameError):
        codec.frame_bytes("000000000001", 0x11, bytes(limits.dlt645_data_bytes_max + 1))
    with pytest.raises(FrameError):
        codec.frame_bytes("00000000000X", 0x11, b"")
    with pytest.raises(FrameError):
        codec.frame_bytes("000000000001", 0x100, b"")
