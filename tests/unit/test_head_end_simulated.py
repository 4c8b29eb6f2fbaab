"""The simulated head-end: latency, failures, lost commands and refusals, all from a seed."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from gridpay.errors import DeliveryFailed, InvalidInput
from gridpay.simulation.head_end import RELAY_DID_NOT_SWITCH, SimulatedHeadEnd

T0 = dt.datetime(2026, 10, 8, 0, 0, tzinfo=dt.UTC)
METER = 202208310002


def _outcomes(head_end: SimulatedHeadEnd, ids: list[str]) -> list[tuple[str, bool, dt.datetime]]:
    for cid in ids:
        with contextlib.suppress(DeliveryFailed):  # a refused command has no outcome
            head_end.submit(cid, METER, "disconnect", T0)
    return sorted((r.correlation_id, r.ok, r.at) for r in head_end.results(T0 + dt.timedelta(1)))


def test_results_arrive_only_once_their_latency_has_passed() -> None:
    head_end = SimulatedHeadEnd(latency_s=(2.0, 2.0))
    head_end.submit("c1", METER, "disconnect", T0)
    assert head_end.results(T0 + dt.timedelta(seconds=1.9)) == []
    assert head_end.switch_of(METER) == "on"
    [result] = head_end.results(T0 + dt.timedelta(seconds=2))
    assert (result.correlation_id, result.ok, result.at) == ("c1", True, T0 + dt.timedelta(0, 2))
    assert head_end.switch_of(METER) == "off"
    assert head_end.results(T0 + dt.timedelta(hours=1)) == []  # reported once


def test_a_reconnect_switches_the_meter_back_on() -> None:
    head_end = SimulatedHeadEnd(latency_s=(0, 0))
    head_end.submit("cut", METER, "disconnect", T0)
    head_end.submit("restore", METER, "reconnect", T0 + dt.timedelta(seconds=1))
    assert [r.correlation_id for r in head_end.results(T0 + dt.timedelta(seconds=5))] == [
        "cut",
        "restore",
    ]
    assert head_end.switch_of(METER) == "on"


def test_the_same_seed_gives_the_same_outcomes_whatever_the_order_of_sending() -> None:
    ids = [f"disconnect/{i:010d}/0" for i in range(200)]
    rates = {"failure_rate": 0.2, "timeout_rate": 0.1, "busy_rate": 0.1}
    first = _outcomes(SimulatedHeadEnd(seed=7, **rates), ids)
    again = _outcomes(SimulatedHeadEnd(seed=7, **rates), list(reversed(ids)))
    other = _outcomes(SimulatedHeadEnd(seed=8, **rates), ids)
    assert first == again
    assert first != other


def test_failures_lost_commands_and_refusals_come_at_about_their_rates() -> None:
    head_end = SimulatedHeadEnd(seed=1, failure_rate=0.3, timeout_rate=0.2, busy_rate=0.1)
    refused = 0
    for i in range(2_000):
        try:
            head_end.submit(f"c{i}", METER + i, "disconnect", T0)
        except DeliveryFailed as exc:
            assert "is busy" in exc.message
            refused += 1
    results = head_end.results(T0 + dt.timedelta(minutes=1))
    failed = [r for r in results if not r.ok]
    assert 150 <= refused <= 250
    lost = head_end.submitted - len(results)
    assert 0.15 <= lost / head_end.submitted <= 0.25
    assert 0.25 <= len(failed) / head_end.submitted <= 0.35
    assert {r.error for r in failed} == {RELAY_DID_NOT_SWITCH}
    assert all(head_end.switch_of(METER + int(r.correlation_id[1:])) == "on" for r in failed)


def test_a_failed_meter_keeps_its_switch() -> None:
    head_end = SimulatedHeadEnd(failure_rate=1.0, latency_s=(0, 0))
    head_end.submit("c1", METER, "disconnect", T0)
    [result] = head_end.results(T0)
    assert not result.ok
    assert head_end.switch_of(METER) == "on"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latency_s": (3.0, 1.0)},
        {"latency_s": (-1.0, 1.0)},
        {"failure_rate": 1.5},
        {"failure_rate": 0.6, "timeout_rate": 0.6},
    ],
)
def test_impossible_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        SimulatedHeadEnd(**kwargs)  # type: ignore[arg-type]
