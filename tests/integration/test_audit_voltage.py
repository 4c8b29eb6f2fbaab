"""The audit re-prices at the voltage the settlement used (the ``nominal_voltage_v`` setting).

The voltage bounds a plausible day's energy (breaker current x voltage x 24 h): at 380 V a
60 A breaker delivers up to 547.2 kWh a day, at 220 V only 316.8 kWh. A day of 400 kWh is
accepted and charged by a city configured at 380 V; re-priced at 220 V it would be quarantined
and estimated instead, so an audit at the wrong voltage reports sound books as broken.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import cli, execute, scalar
from tests.integration.settle_helpers import add_city, add_readings, register_wh

D0 = dt.date(2026, 10, 1)
D1 = dt.date(2026, 10, 2)
BIG_USER = 2
BIG_DAY_WH = 400_000  # above 60 A x 220 V x 24 h, below 60 A x 380 V x 24 h
REPRICING = "charges_match_readings_and_tariff"


@pytest.fixture
def three_phase_city(
    store: SqlStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> SqlStore:
    """Four accounts of a city configured at 380 V, two days settled by ``gridpay settle``;
    one household used 400 kWh on the second day."""
    config = tmp_path / "gridpay.toml"
    config.write_text(
        f'nominal_voltage_v = 380\nsms_file = "{tmp_path / "sms.jsonl"}"\n', encoding="utf-8"
    )
    monkeypatch.setenv("GRIDPAY_CONFIG", str(config))
    monkeypatch.delenv("GRIDPAY_NOW", raising=False)
    ids = add_city(store, 4)
    add_readings(store, ids, D0)
    big = {str(BIG_USER): register_wh(BIG_USER, D0) + BIG_DAY_WH}
    add_readings(store, ids, D1, **big)
    code, _, err = cli(
        store, monkeypatch, capsys, "settle", "--from", str(D0), "--to", str(D1), "--no-credit"
    )
    assert code == 0, err
    return store


def audit_json(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, dict[str, object]]]:
    code, out, _ = cli(store, monkeypatch, capsys, "audit", "--days", "2", "--json")
    return code, {c["name"]: c for c in json.loads(out)["checks"]}


def test_audit_of_a_city_at_380_v_re_prices_at_380_v_and_finds_the_books_balanced(
    three_phase_city: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settled = scalar(
        three_phase_city,
        "SELECT energy_wh FROM daily_usage WHERE account_id = :a AND day = :d AND NOT estimated",
        a=BIG_USER,
        d=D1,
    )
    assert settled == BIG_DAY_WH  # the settlement took the reading as plausible at 380 V
    code, checks = audit_json(three_phase_city, monkeypatch, capsys)
    assert checks[REPRICING]["ok"] is True, checks[REPRICING]
    assert checks[REPRICING]["checked"] == 2 * 4
    assert code == 0


def test_audit_at_380_v_still_names_a_charge_that_does_not_match_its_readings(
    three_phase_city: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    execute(
        three_phase_city,
        "UPDATE daily_usage SET energy_wh = energy_wh - 1000 WHERE account_id = :a AND day = :d",
        a=BIG_USER,
        d=D1,
    )
    code, checks = audit_json(three_phase_city, monkeypatch, capsys)
    assert code == 7
    assert checks[REPRICING]["ok"] is False
    assert checks[REPRICING]["accounts"] == [f"{BIG_USER:010d}"]
    assert checks[REPRICING]["failed"] == 1
