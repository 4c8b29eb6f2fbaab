"""End to end over DL/T 645: a simulated meter fleet on loopback TCP, the workers on a
simulated clock. Each night collects every meter's daily freeze and settles it; the arrears
notice goes out; the cut trips the meter's relay and its registers stop; a payment closes the
relay again and they advance. With a provider whose receipt never says delivered, the same
nights end in no cut and a staff task to call the household."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd
from gridpay.config import Settings
from gridpay.domain.payments import TakePayment
from gridpay.ports.gateways import AnySmsGateway
from gridpay.services.collection import HeadEndCollector
from gridpay.services.credit import judge_all
from gridpay.services.payments import take_payment
from gridpay.services.workers import Schedule, Workers
from gridpay.simulation.meter_fleet import FleetMeter, MeterFleet, RunningFleet
from tests.fakes import FakeProvider, FakeSmsGateway
from tests.helpers_accounts import rows
from tests.integration.credit_helpers import BROKE, D1, commands, local, open_tasks, state
from tests.integration.settle_helpers import METER_BASE, register_wh

FAST = ClientOptions(reply_timeout_s=0.5, attempts_max=2, connections=2)
MONDAY = dt.date(2026, 12, 7)


def run_until(w: Workers, clock, until: dt.datetime, step: dt.timedelta) -> None:
    while clock.now() < until:
        w.tick()
        clock.set(clock.now() + step)


@contextmanager
def _over_the_fleet(
    store, clock, credit, city, gateway: AnySmsGateway
) -> Iterator[tuple[MeterFleet, Dlt645HeadEnd, HeadEndCollector, Workers]]:
    """The city's meters behind one loopback endpoint (their registers those of the end of
    1 December), a DL/T 645 head-end to it, and the workers collecting through it."""
    fleet = MeterFleet(
        [FleetMeter(METER_BASE + i, 8_000, (register_wh(i, D1), 0, 0, 0, 0)) for i in city],
        clock.now,
    )
    with RunningFleet(fleet) as (host, port):
        head_end = Dlt645HeadEnd(host, port, options=FAST)
        collector = HeadEndCollector(store, clock, head_end)
        workers = Workers(
            store,
            clock,
            credit,
            head_end,
            gateway,
            Schedule(commands_every_s=1, messages_every_s=1, credit_every_s=60),
            collector=collector,
            clock_sync=head_end,
        )
        try:
            yield fleet, head_end, collector, workers
        finally:
            head_end.close()


def test_collect_settle_notice_cut_stops_the_registers_payment_restores_them(
    store, clock, credit, city
):
    # The city is settled up to 1 December; the fleet's registers are those of its end.
    meter = METER_BASE + BROKE
    gateway = FakeSmsGateway()
    with _over_the_fleet(store, clock, credit, city, gateway) as (fleet, head_end, collector, w):
        judge_all(store, clock, credit)  # as after the night of 1 December
        w.tick()
        assert any(key.startswith(f"arrears/{BROKE:010d}") for _, _, key in gateway.sent)

        # Each night from 2 to 6 December collects the day's freezes, then settles them.
        for offset in range(1, 6):
            day = D1 + dt.timedelta(days=offset)
            clock.set(local(day + dt.timedelta(days=1), 1, 5))
            assert w.tick().settled_day == day
            collected = collector.reports[-1]
            assert (collected.day, collected.collected, collected.failed) == (day, 4, 0)
        readings = rows(store, "SELECT source FROM readings WHERE meter_id = :m", m=meter)
        assert head_end.name.startswith("dlt645:127.0.0.1:")  # the fleet's loopback port
        assert head_end.name in {r.source for r in readings}
        assert fleet.time_syncs  # the workers keep the meters' clocks

        # Monday: the window opens at 08:00, the cut trips the relay.
        clock.set(local(MONDAY, 7, 59))
        run_until(w, clock, local(MONDAY, 9, 0), dt.timedelta(minutes=1))
        assert state(store, BROKE).state == "disconnected"
        cut = commands(store, BROKE).row(0, named=True)
        assert (cut["action"], cut["state"]) == ("disconnect", "acknowledged")
        assert cut["head_end"] == head_end.name
        assert fleet.relay_is_open(meter)
        stopped = fleet.registers_wh(meter)
        clock.set(local(MONDAY, 20, 15))
        assert fleet.registers_wh(meter) == stopped  # no supply, no energy

        paid_at = clock.now()
        take_payment(
            store,
            clock,
            Settings(),
            TakePayment(f"{BROKE:010d}", "80", "agent", "A-77"),
            credit,
        )
        run_until(w, clock, paid_at + dt.timedelta(minutes=2), dt.timedelta(seconds=1))
        back = commands(store, BROKE).filter(pl.col("action") == "reconnect").row(0, named=True)
        assert (back["state"], back["head_end"]) == ("acknowledged", head_end.name)
        assert not fleet.relay_is_open(meter)
        assert (state(store, BROKE).state, state(store, BROKE).supply) == ("normal", "on")

        # The night after: the registers advanced again since the reconnect, and the day's
        # collected reading is what the meter froze at midnight.
        clock.set(local(MONDAY + dt.timedelta(days=1), 1, 5))
        assert w.tick().settled_day == MONDAY
        frozen_at, frozen = fleet.last_freeze(meter)
        assert frozen[0] > stopped[0]
        [reading] = rows(
            store,
            "SELECT total_wh FROM readings WHERE meter_id = :m AND day = :d",
            m=meter,
            d=MONDAY,
        )
        assert reading.total_wh == frozen[0] // 10 * 10


def test_an_undelivered_notice_over_the_fleet_leaves_the_relay_closed_and_asks_staff_to_call(
    store, clock, credit, city
):
    meter = METER_BASE + BROKE
    provider = FakeProvider()  # sends, and no receipt ever comes
    with _over_the_fleet(store, clock, credit, city, provider) as (fleet, _, collector, w):
        judge_all(store, clock, credit)  # as after the night of 1 December
        w.tick()
        assert ("13800000003", "arrears") in [(p, k) for p, k, _ in provider.sent]
        for offset in range(1, 6):
            day = D1 + dt.timedelta(days=offset)
            clock.set(local(day + dt.timedelta(days=1), 1, 5))
            assert w.tick().settled_day == day
            assert collector.reports[-1].collected == 4
        before = fleet.registers_wh(meter)

        # Monday's window, the pay-by date long past: no receipt, so no cut.
        clock.set(local(MONDAY, 7, 59))
        run_until(w, clock, local(MONDAY, 9, 0), dt.timedelta(minutes=1))
        assert commands(store, BROKE).height == 0
        assert state(store, BROKE).state == "arrears"
        assert not fleet.relay_is_open(meter)
        assert ("undelivered_notice", None) in open_tasks(store, BROKE)
        clock.set(local(MONDAY, 20, 15))
        assert fleet.registers_wh(meter)[0] > before[0]  # supply stays on
