"""Interoperability: gridpay's head-end reads the energy registers of an independent DL/T 645
implementation, the PyPI ``dlt645`` package's TCP meter server.

That server keeps its address in the order it is written, where the standard (and gridpay's
codec) sends it low byte first: it is given its address already reversed, so that the bytes on
the wire are the standard's. It has no remote control, so only reads are tried here.

Broadcast time sync: the standard's data is ss mm hh DD MM YY, low byte (seconds) first on the
wire, as every multi-byte field of DL/T 645-2007 and as the remote control's expiry (N3-N8,
ssmmhhDDMMYY); independent masters read it so (e.g. a Go codec's
``BroadcastTimeCalibration(ss, mm, hh, DD, MM, YY)``, a vendor DLL's
``DLT645_2007_BroadcastTime``, "6 bytes, ssmmhhDDMMYY"). The ``dlt645`` package reads and sends
it year first (YY MM DD hh mm ss). gridpay follows the standard; the test below shows what the
package's meter makes of a standard frame, so the difference is known, not hidden.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.errors import MeterRefused
from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd

dlt645 = pytest.importorskip("dlt645")

METER = 202208310002
REGISTERS_KWH = {  # DI -> kWh
    0x00010000: 12345.67,
    0x00010100: 1234.56,
    0x00010200: 4000.01,
    0x00010300: 5000.1,
    0x00010400: 2111.0,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")  # the peer takes seconds to build its data map
def peer_server() -> Iterator[tuple[Any, int]]:
    port = free_port()
    server = dlt645.MeterServerService.new_tcp_server("127.0.0.1", port, 2.0)
    server.set_address(codec.encode_address(codec.address_of(METER)))
    for di, kwh in REGISTERS_KWH.items():
        assert server.set_00(di, kwh)
    assert server.start()
    deadline = time.monotonic() + 5
    while not server.server.is_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield server, port
    finally:
        server.stop()


@pytest.fixture(scope="module")
def peer(peer_server: tuple[Any, int]) -> tuple[str, int]:
    return "127.0.0.1", peer_server[1]


@pytest.fixture
def head_end(peer: tuple[str, int]) -> Iterator[Dlt645HeadEnd]:
    options = ClientOptions(connections=1, reply_timeout_s=2.0, attempts_max=2)
    head = Dlt645HeadEnd(*peer, options=options)
    try:
        yield head
    finally:
        head.close()


def test_the_head_end_reads_the_peers_energy_registers(head_end: Dlt645HeadEnd) -> None:
    assert head_end.read_energy_registers_wh(METER) == (
        12_345_670,
        1_234_560,
        4_000_010,
        5_000_100,
        2_111_000,
    )


def test_the_peers_abnormal_reply_is_the_meters_refusal(head_end: Dlt645HeadEnd) -> None:
    # The peer does not serve the block identifier: it says so with an abnormal reply (D1)
    # carrying "no data requested", which gridpay reads as the meter's word, not as silence.
    with pytest.raises(MeterRefused) as refused:
        head_end.read_energy_block_wh(METER)
    assert refused.value.error_byte == 0x02


def test_the_peer_refuses_a_frame_for_another_meter(head_end: Dlt645HeadEnd) -> None:
    with pytest.raises(MeterRefused):  # it answers with an abnormal reply (other error)
        head_end.read_energy_registers_wh(METER + 1)


SYNC_AT = dt.datetime(2026, 12, 8, 9, 10, 11)  # local time, as meters keep it
# 68, the broadcast address, 68, C=08, L=06, then 11 10 09 08 12 26 (ss mm hh DD MM YY) each
# plus 0x33, the checksum, 16.
STANDARD_SYNC_FRAME = bytes.fromhex("68 999999999999 68 08 06 44433c3b4559 10 16")


def test_the_time_sync_frame_is_the_standards_seconds_first() -> None:
    assert codec.encode(codec.broadcast_time(SYNC_AT), preamble=False) == STANDARD_SYNC_FRAME
    assert codec.parse_broadcast_time(codec.decode(STANDARD_SYNC_FRAME)) == SYNC_AT


def test_the_peer_reads_a_standard_time_sync_year_first(
    peer_server: tuple[Any, int], head_end: Dlt645HeadEnd
) -> None:
    server, _ = peer_server
    head_end.sync_time(SYNC_AT.replace(tzinfo=ZoneInfo("Asia/Shanghai")))
    deadline = time.monotonic() + 5
    while server.time is None and time.monotonic() < deadline:
        time.sleep(0.01)
    # The same six bytes read year first: 11 -> 2011, 10 -> October, 09 -> the 9th, 08:12:26.
    assert server.time == dt.datetime(2011, 10, 9, 8, 12, 26)
    assert server.time != SYNC_AT
