"""Every command path uses the configured head-end: with head_end = "dlt645", `commands
dispatch`, `gridpay run` and the demo reach the meter fleet and never the simulated head-end,
and what they report names the head-end that confirmed each command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import load_settings
from gridpay.domain.commands import CommandAction
from gridpay.entrypoints.head_ends import head_end
from gridpay.errors import ConfigError
from gridpay.simulation.head_end import SimulatedHeadEnd
from gridpay.simulation.meter_fleet import FleetMeter, MeterFleet, RunningFleet
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, cli, rows
from tests.integration.commands_helpers import METER_BASE, command_frame, enqueue


@pytest.fixture
def no_simulated_head_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any use of the simulated head-end fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a command path reached the simulated head-end")

    monkeypatch.setattr(SimulatedHeadEnd, "__init__", refuse)


@pytest.fixture
def fleet(clock: FakeClock) -> MeterFleet:
    # Meter 1 starts closed (a trip shows by opening it), meter 2 open (a reconnect closes it).
    meters = [FleetMeter(METER_BASE + 1, 5_000), FleetMeter(METER_BASE + 2, 5_000, relay_open=True)]
    return MeterFleet(meters, clock.now)


@pytest.fixture
def endpoint(fleet: MeterFleet) -> Iterator[tuple[str, int]]:
    with RunningFleet(fleet) as bound:
        yield bound


@pytest.fixture
def dlt645_config(
    endpoint: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    host, port = endpoint
    path = tmp_path / "gridpay.toml"
    path.write_text(
        f'head_end = "dlt645"\nhead_end_host = "{host}"\nhead_end_port = {port}\n'
        'environment = "test"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GRIDPAY_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)  # the SMS file of `run` lands here
    return f"dlt645:{host}:{port}"


def test_dispatch_goes_through_the_configured_dlt645_head_end_only(
    store: SqlStore,
    clock: FakeClock,
    fleet: MeterFleet,
    dlt645_config: str,
    no_simulated_head_end: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_accounts(store, [1, 2])
    enqueue(store, command_frame([1], CommandAction.DISCONNECT, clock.now()))
    enqueue(store, command_frame([2], CommandAction.RECONNECT, clock.now()))
    code, out, err = cli(store, monkeypatch, capsys, "commands", "dispatch", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["head_end"] == dlt645_config
    assert report["head_end_simulated"] is False
    assert (report["sent"], report["acknowledged"]) == (2, 2)
    assert fleet.relay_is_open(METER_BASE + 1)
    assert not fleet.relay_is_open(METER_BASE + 2)
    code, out, _ = cli(store, monkeypatch, capsys, "commands", "--json")
    assert {(c["state"], c["head_end"]) for c in json.loads(out)} == {
        ("acknowledged", dlt645_config)
    }
    code, out, _ = cli(store, monkeypatch, capsys, "commands")
    assert f"head-end {dlt645_config}" in out


def test_a_command_the_meter_does_not_carry_out_is_not_acknowledged(
    store, clock, fleet, dlt645_config, monkeypatch, capsys
):
    add_accounts(store, [2])
    enqueue(store, command_frame([2], CommandAction.RECONNECT, clock.now()))
    fleet.inject(METER_BASE + 2, "relay_stuck")
    code, out, err = cli(store, monkeypatch, capsys, "commands", "dispatch", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["sent"], report["acknowledged"], report["retried"]) == (1, 0, 1)
    [(state, error)] = rows(store, "SELECT state, last_error FROM meter_commands")
    assert state == "queued"  # waiting for its retry
    assert "relay is still open" in error


def test_run_sends_through_the_configured_dlt645_head_end_only(
    store, clock, fleet, dlt645_config, no_simulated_head_end, monkeypatch, capsys
):
    add_accounts(store, [2])
    enqueue(store, command_frame([2], CommandAction.RECONNECT, clock.now()))
    code, out, err = cli(store, monkeypatch, capsys, "run", "--once")
    assert code == 0, err
    assert f"head-end: {dlt645_config}" in out
    [(state, used)] = rows(store, "SELECT state, head_end FROM meter_commands")
    assert used == dlt645_config
    assert state in ("sent", "acknowledged")  # its answer is taken by the next round
    assert not fleet.relay_is_open(METER_BASE + 2)
    assert fleet.time_syncs  # the run broadcast the time through the same head-end


def test_the_simulated_head_end_is_used_only_when_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDPAY_CONFIG", raising=False)
    assert isinstance(head_end(load_settings(db=str(tmp_path / "x.db"))), SimulatedHeadEnd)
    config = tmp_path / "bad.toml"
    config.write_text('head_end = "dlt-645"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="use one of simulated, dlt645"):
        load_settings(config_path=str(config))
