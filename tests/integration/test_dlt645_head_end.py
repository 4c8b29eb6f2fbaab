"""The DL/T 645 head-end against the simulated meter fleet over loopback TCP: reads, faults,
switching confirmed by status word 3, and the broadcast time sync."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.codec import DI
from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd
from gridpay.simulation.meter_fleet import FleetMeter, MeterFleet, RunningFleet
from tests.fakes import FakeClock

ZONE = ZoneInfo("Asia/Shanghai")
FAST = ClientOptions(reply_timeout_s=0.3, attempts_max=2, connections=2)
METERS = [202400000000 + i for i in range(1, 21)]


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZONE)  # type: ignore[misc]


@pytest.fixture
def fleet_clock() -> FakeClock:
    return FakeClock(local(2026, 12, 7, 10, 0))


@pytest.fixture
def fleet(fleet_clock: FakeClock) -> MeterFleet:
    meters = [FleetMeter(m, 8_000, (1_000_000 + m % 100 * 10, 0, 0, 0, 0)) for m in METERS]
    return MeterFleet(meters, fleet_clock.now)


@pytest.fixture
def head_end(fleet: MeterFleet) -> Iterator[Dlt645HeadEnd]:
    with RunningFleet(fleet) as (host, port):
        head = Dlt645HeadEnd(host, port, options=FAST)
        try:
            yield head
        finally:
            head.close()


def switch(head_end: Dlt645HeadEnd, meter_id: int, action: str, at: dt.datetime):
    head_end.submit(f"{action}/{meter_id}", meter_id, action, at)
    assert head_end.wait_idle(10)
    [result] = head_end.results(at)
    return result


def test_the_registers_advance_with_the_profile_and_freeze_at_midnight(fleet, fleet_clock):
    meter = METERS[0]
    before = fleet.registers_wh(meter)
    fleet_clock.set(local(2026, 12, 8, 10, 0))
    after = fleet.registers_wh(meter)
    day_wh = after[0] - before[0]
    assert 5_000 < day_wh < 12_000  # about 8 kWh, with December's factor
    assert sum(after[1:]) - sum(before[1:]) == pytest.approx(day_wh, abs=5)
    frozen_at, registers = fleet.last_freeze(meter)
    assert frozen_at == local(2026, 12, 8, 0, 0)
    assert before[0] < registers[0] < after[0]


def test_every_meters_last_freeze_is_read_and_the_faulty_are_listed(head_end, fleet, fleet_clock):
    fleet_clock.set(local(2026, 12, 8, 9, 0))
    faulty = {METERS[0]: "silent", METERS[1]: "garbled", METERS[2]: "bad_checksum"}
    for meter, fault in faulty.items():
        fleet.inject(meter, fault)
    batch = head_end.read_day_freezes(METERS, 1)
    assert sorted(f.meter_id for f in batch.failures) == sorted(faulty)
    assert all("no valid answer" in f.error for f in batch.failures)
    assert len(batch.freezes) == len(METERS) - len(faulty)
    for freeze in batch.freezes:
        frozen_at, registers = fleet.last_freeze(freeze.meter_id)
        assert freeze.frozen_at == frozen_at.replace(tzinfo=None) == dt.datetime(2026, 12, 8)
        assert freeze.registers_wh == tuple(r // 10 * 10 for r in registers)
    earlier = head_end.read_day_freezes(METERS[3:5], 2)  # the fleet's start: 7 December
    assert {f.frozen_at for f in earlier.freezes} == {dt.datetime(2026, 12, 7)}


def test_a_trip_is_confirmed_by_the_relay_and_stops_the_registers(head_end, fleet, fleet_clock):
    meter = METERS[4]
    at = fleet_clock.now()
    result = switch(head_end, meter, "disconnect", at)
    assert (result.ok, result.error) == (True, None)
    assert result.at >= at
    assert fleet.relay_is_open(meter)
    stopped = fleet.registers_wh(meter)
    fleet_clock.advance(hours=5)
    assert fleet.registers_wh(meter) == stopped
    result = switch(head_end, meter, "reconnect", fleet_clock.now())
    assert result.ok and not fleet.relay_is_open(meter)
    fleet_clock.advance(hours=5)
    assert fleet.registers_wh(meter)[0] > stopped[0]


def test_a_relay_that_refuses_fails_the_command_with_the_meters_reason(head_end, fleet):
    fleet.inject(METERS[5], "relay_refuses")
    result = switch(head_end, METERS[5], "disconnect", local(2026, 12, 7, 10, 0))
    assert not result.ok
    assert result.error == f"meter {METERS[5]} refused: other error"
    assert not fleet.relay_is_open(METERS[5])


def test_a_command_accepted_but_not_carried_out_is_not_confirmed(head_end, fleet):
    fleet.inject(METERS[6], "relay_stuck")
    result = switch(head_end, METERS[6], "disconnect", local(2026, 12, 7, 10, 0))
    assert not result.ok
    assert result.error == f"meter {METERS[6]} accepted the command but its relay is still closed"


def test_a_command_past_its_expiry_is_refused_by_the_meter(head_end, fleet, fleet_clock):
    sent_at = fleet_clock.now() - dt.timedelta(hours=1)  # queued an hour before it reached it
    result = switch(head_end, METERS[7], "disconnect", sent_at)
    assert not result.ok
    assert not fleet.relay_is_open(METERS[7])


def test_a_silent_meter_times_out_after_every_attempt(head_end, fleet):
    fleet.inject(METERS[8], "silent")
    result = switch(head_end, METERS[8], "disconnect", local(2026, 12, 7, 10, 0))
    assert not result.ok
    assert result.error == f"meter {METERS[8]}: no valid answer to 2 requests of 0.3 s each"


def test_a_burst_larger_than_the_requests_in_flight_is_carried_out_in_full(fleet, fleet_clock):
    fleet.inject(METERS[0], "silent")  # holds one of the two slots for all its attempts
    options = ClientOptions(reply_timeout_s=0.3, attempts_max=2, connections=2, in_flight_max=2)
    at = fleet_clock.now()
    with RunningFleet(fleet) as (host, port):
        head = Dlt645HeadEnd(host, port, options=options)
        try:
            for meter in METERS:
                head.submit(f"disconnect/{meter}", meter, "disconnect", at)
            assert head.wait_idle(10)
            results = {r.correlation_id: r for r in head.results(at)}
            assert head.in_flight() == 0
            head.submit(f"reconnect/{METERS[1]}", METERS[1], "reconnect", at)  # workers again
            assert head.wait_idle(10)
            [again] = head.results(at)
        finally:
            head.close()
    assert len(results) == len(METERS)
    assert not results[f"disconnect/{METERS[0]}"].ok
    assert all(results[f"disconnect/{m}"].ok for m in METERS[1:])
    assert all(fleet.relay_is_open(m) for m in METERS[2:])
    assert again.ok and not fleet.relay_is_open(METERS[1])


def test_the_time_is_broadcast_to_the_fleet(head_end, fleet):
    head_end.sync_time(local(2026, 12, 7, 10, 0, 30))
    head_end.read_meter(METERS[9])  # the broadcast went before this answer on the same line
    assert fleet.time_syncs == [dt.datetime(2026, 12, 7, 10, 0, 30)]


def test_one_meter_read_now():
    clock = FakeClock(local(2026, 12, 7, 12, 0))
    fleet = MeterFleet([FleetMeter(METERS[0], 10_000, (500_000, 1, 2, 3, 4))], clock.now)
    with RunningFleet(fleet) as (host, port):
        head = Dlt645HeadEnd(host, port, options=FAST)
        try:
            read = head.read_meter(METERS[0])
        finally:
            head.close()
    assert read.registers_wh[0] > 500_000
    assert read.relay_open is False
    assert read.last_freeze.frozen_at == dt.datetime(2026, 12, 7)
    assert read.last_freeze.registers_wh == (500_000, 0, 0, 0, 0)


def test_a_gateway_that_is_not_there_fails_commands_instead_of_confirming_them():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nobody listens there
    head = Dlt645HeadEnd("127.0.0.1", port, options=FAST)
    try:
        result = switch(head, METERS[0], "disconnect", local(2026, 12, 7, 10, 0))
    finally:
        head.close()
    assert not result.ok
    assert "no valid answer" in (result.error or "")


def test_a_collection_from_a_gateway_that_is_not_there_lists_every_meter_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    head = Dlt645HeadEnd("127.0.0.1", port, options=FAST)
    try:
        batch = head.read_day_freezes(METERS, 1)
    finally:
        head.close()
    assert batch.freezes == ()
    assert [f.meter_id for f in batch.failures] == METERS
    assert all("cannot reach the meter gateway" in f.error for f in batch.failures)


def test_the_fleet_stops_with_connections_open_without_an_asyncio_error(fleet, caplog):
    running = RunningFleet(fleet)
    host, port = running.__enter__()
    with socket.create_connection((host, port)) as peer:
        peer.sendall(codec.encode(codec.read_request(codec.address_of(METERS[0]), DI.ENERGY_TOTAL)))
        assert peer.recv(100)  # the fleet is reading this connection
        running.__exit__(None, None, None)  # the peer still connected
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
