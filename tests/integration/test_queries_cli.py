"""`gridpay account show / statement` for people (Rich) and scripts (--json)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts, cli, settle_day_by_hand

A = "0000000001"
NOW = ("--now", "2026-04-01T10:00")  # the day after the last settled day; the year is 2026


@pytest.fixture
def account(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> SqlStore:
    add_accounts(store, [1])
    settle_day_by_hand(
        store,
        1,
        dt.date(2026, 3, 30),
        energy_wh=8_000,
        charge_fen=448,
        ytd_wh=8_000,
        ytd_charged_fen=448,
    )
    settle_day_by_hand(
        store,
        1,
        dt.date(2026, 3, 31),
        energy_wh=10_000,
        charge_fen=560,
        ytd_wh=18_000,
        ytd_charged_fen=1_008,
    )
    cli(store, monkeypatch, capsys, *NOW, "pay", A, "100", "--channel", "app", "--ref", "APP-1")
    return store


def test_account_show_json(
    account: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(account, monkeypatch, capsys, *NOW, "account", "show", A, "--json")
    assert code == 0
    view = json.loads(out)
    assert view["account_no"] == A
    assert view["balance"] == {"fen": 10_000 - 1_008, "yuan": "89.92"}
    assert view["year_to_date"]["energy_kwh"] == "18.00"
    assert view["year_to_date"]["tier"]["tier"] == 1
    assert view["year_to_date"]["tier"]["kwh_to_next_tier"] == "2142.00"
    assert view["recent_transfers"][0]["id"] == "pay/app/APP-1"
    assert view["recent_transfers"][0]["amount"] == {"fen": 10_000, "yuan": "100.00"}


def test_account_show_for_people(
    account: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(account, monkeypatch, capsys, *NOW, "account", "show", A)
    assert code == 0
    assert "balance: 89.92 yuan" in out
    assert "tier 1 of 3: 2142.00 kWh to tier 2" in out
    assert "recent transfers" in out


def test_account_statement_json_adds_up(
    account: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        account, monkeypatch, capsys, "account", "statement", A, "--month", "2026-03", "--json"
    )
    assert code == 0
    statement = json.loads(out)
    assert statement["opening_balance"]["fen"] == 0
    assert [line["amount"]["fen"] for line in statement["lines"]] == [-448, -560]
    assert [line["energy_kwh"] for line in statement["lines"]] == ["8.00", "10.00"]
    assert statement["closing_balance"] == {"fen": -1_008, "yuan": "-10.08"}
    assert statement["totals"]["charge"]["fen"] == -1_008
    assert statement["energy_kwh"] == "18.00"


def test_account_statement_for_people(
    account: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        account, monkeypatch, capsys, "account", "statement", A, "--month", "2026-03"
    )
    assert code == 0
    assert "opening" in out
    assert "closing" in out
    assert "-10.08" in out


def test_a_bad_month_exits_3(
    account: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(account, monkeypatch, capsys, "account", "statement", A, "--month", "March")
    assert code == 3
    assert "YYYY-MM" in err
