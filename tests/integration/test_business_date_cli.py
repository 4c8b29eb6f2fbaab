"""A business date (``--now`` / ``GRIDPAY_NOW``): the commands that judge, dispatch, send or
settle run as of the operator's instant, say so loudly, and ``gridpay run`` refuses it on a
production database. The city is ``credit_helpers``': BROKE has nothing left after settling
1 December; with a three-day notice its cut is due on Monday 7 December, in the 08:00 window."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.entrypoints.cli._common import run_app
from tests.helpers_accounts import cli, scalar
from tests.integration.credit_helpers import BROKE, commands, local, messages, state

NOTICE_AT = "2026-12-02T10:00"  # Wednesday, the morning after 1 December is settled
BEFORE_CUT = "2026-12-04T10:00"  # Friday: the pay-by date has not passed
IN_WINDOW = "2026-12-07T09:00"  # Monday, in the window: the second notice
CUT_AT = "2026-12-07T09:31"  # half an hour later: the cut
LOUD = "BUSINESS DATE: running as of"
NO_2027 = "no published holiday schedule for 2027"

OVERRIDE_2027 = """
[years.2027]
holidays = [2027-01-01, 2027-01-02, 2027-01-03]
makeup_workdays = []
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file (SMS into the test's folder); tests append settings to it."""
    path = tmp_path / "gridpay.toml"
    path.write_text(f'sms_file = "{tmp_path / "sms.jsonl"}"\n', encoding="utf-8")
    monkeypatch.setenv("GRIDPAY_CONFIG", str(path))
    monkeypatch.delenv("GRIDPAY_NOW", raising=False)
    return path


def gridpay(
    store: SqlStore, mp: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code, out, err = cli(store, mp, capsys, *args)
    return code, out, " ".join(err.split())


def credit_run(store, mp, capsys, now: str) -> dict[str, object]:
    code, out, err = gridpay(store, mp, capsys, "--now", now, "credit", "run", "--json")
    assert code == 0, err
    data: dict[str, object] = json.loads(out)
    return data


def send_notices(store, mp, capsys) -> None:
    """The outbox worker's pass right after the notice: a cut waits for a delivered notice."""
    code, _, err = gridpay(store, mp, capsys, "--now", NOTICE_AT, "messages", "send")
    assert code == 0, err


def test_a_cut_happens_only_as_of_an_instant_after_the_pay_by_date(
    store, city, config, monkeypatch, capsys
) -> None:
    first = credit_run(store, monkeypatch, capsys, NOTICE_AT)
    send_notices(store, monkeypatch, capsys)
    assert first["business_now"] == "2026-12-02T10:00:00+08:00"
    assert state(store, BROKE).pay_by.isoformat() == "2026-12-05"
    credit_run(store, monkeypatch, capsys, BEFORE_CUT)
    assert commands(store, BROKE).height == 0
    credit_run(store, monkeypatch, capsys, IN_WINDOW)
    assert commands(store, BROKE).height == 0  # the second notice goes first
    credit_run(store, monkeypatch, capsys, CUT_AT)
    assert commands(store, BROKE)["action"].to_list() == ["disconnect"]
    assert state(store, BROKE).state == "disconnecting"


def test_gridpay_now_does_the_same_and_the_option_wins_over_it(
    store, city, config, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("GRIDPAY_NOW", NOTICE_AT)
    code, _, err = gridpay(store, monkeypatch, capsys, "credit", "run")
    assert code == 0
    assert f"{LOUD} 2026-12-02 10:00 +08:00 (not the real time)" in err
    assert state(store, BROKE).state == "arrears"
    monkeypatch.setenv("GRIDPAY_NOW", CUT_AT)
    credit_run(store, monkeypatch, capsys, BEFORE_CUT)  # --now wins: still before the pay-by
    assert commands(store, BROKE).height == 0


def test_an_instant_with_an_offset_is_taken_as_written(
    store, city, config, monkeypatch, capsys
) -> None:
    data = credit_run(store, monkeypatch, capsys, "2026-12-02T02:00:00+00:00")
    assert data["business_now"] == "2026-12-02T10:00:00+08:00"


def test_an_instant_that_is_not_one_exits_3_naming_the_option(
    store, city, config, monkeypatch, capsys
) -> None:
    code, _, err = gridpay(store, monkeypatch, capsys, "--now", "next tuesday", "credit", "run")
    assert code == 3
    assert "--now (GRIDPAY_NOW) 'next tuesday' is not an instant like 2026-10-08T08:00" in err
    assert state(store, BROKE) is None


def test_settle_refuses_a_day_not_over_as_of_the_instant_and_settles_it_after(
    store, city, config, monkeypatch, capsys
) -> None:
    args = ("settle", "--date", "2026-12-02", "--json")
    code, _, err = gridpay(store, monkeypatch, capsys, "--now", "2026-12-02T23:59", *args)
    assert code == 3
    assert "the day has not ended yet (today is 2026-12-02)" in err
    code, out, err = gridpay(store, monkeypatch, capsys, "--now", "2026-12-03T02:00", *args)
    assert code == 0, err
    data = json.loads(out)
    assert data["business_now"] == "2026-12-03T02:00:00+08:00"
    assert data["settlement"]["day"] == "2026-12-02"
    assert f"{LOUD} 2026-12-03 02:00 +08:00" in err
    started = scalar(store, "SELECT started_at FROM settlement_runs WHERE day = '2026-12-02'")
    assert str(started).startswith("2026-12-02 18:00")  # stamped with the business date (UTC)


def test_commands_dispatch_sends_and_stamps_as_of_the_instant(
    store, city, config, monkeypatch, capsys
) -> None:
    for now in (NOTICE_AT, IN_WINDOW, CUT_AT):
        credit_run(store, monkeypatch, capsys, now)
        if now == NOTICE_AT:
            send_notices(store, monkeypatch, capsys)
    dispatch = ("commands", "dispatch", "--json")
    code, out, err = gridpay(store, monkeypatch, capsys, "--now", "2026-12-07T09:32", *dispatch)
    assert (code, json.loads(out)["sent"]) == (0, 1)
    assert f"{LOUD} 2026-12-07 09:32 +08:00" in err
    cut = commands(store, BROKE).row(0, named=True)
    assert cut["state"] == "acknowledged"
    assert cut["sent_at"] == local(dt.date(2026, 12, 7), 9, 32)


def test_messages_send_sends_and_stamps_as_of_the_instant(
    store, city, config, monkeypatch, capsys
) -> None:
    credit_run(store, monkeypatch, capsys, NOTICE_AT)
    send = ("messages", "send", "--json")
    code, out, err = gridpay(store, monkeypatch, capsys, "--now", "2026-12-02T10:01", *send)
    assert code == 0, err
    assert f"{LOUD} 2026-12-02 10:01 +08:00" in err
    data = json.loads(out)
    assert data["business_now"] == "2026-12-02T10:01:00+08:00"
    notices = messages(store, BROKE)
    assert data["sent"] >= notices.height > 0
    assert notices["sent_at"].to_list() == [local(dt.date(2026, 12, 2), 10, 1)] * notices.height


def test_explain_tells_the_story_as_of_the_instant(
    store, city, config, monkeypatch, capsys
) -> None:
    credit_run(store, monkeypatch, capsys, NOTICE_AT)
    args = ("explain", f"{BROKE:010d}", "--json")
    code, out, err = gridpay(store, monkeypatch, capsys, "--now", "2026-12-05T21:00", *args)
    assert code == 0, err
    data = json.loads(out)
    assert data["business_now"] == "2026-12-05T21:00:00+08:00"
    assert "2026-12-07 08:00" in data["now"]  # a Saturday night: the next window is Monday's
    code, out, _ = gridpay(store, monkeypatch, capsys, "--now", IN_WINDOW, *args)
    assert json.loads(out)["now"] == "cut allowed at 2026-12-07 09:00 (china-default)"


# --- gridpay run -------------------------------------------------------------------------------

NIGHT_AFTER_2_DECEMBER = "2026-12-03T02:00"


def run_once(store, monkeypatch, capsys, *extra: str) -> tuple[int, str, str]:
    args = ("--now", NIGHT_AFTER_2_DECEMBER, "run", "--once", *extra)
    return gridpay(store, monkeypatch, capsys, *args)


def written(store: SqlStore) -> tuple[int, int, int, int]:
    return (
        scalar(store, "SELECT count(*) FROM settlement_runs"),
        scalar(store, "SELECT count(*) FROM credit_decisions"),
        scalar(store, "SELECT count(*) FROM messages"),
        scalar(store, "SELECT count(*) FROM meter_commands"),
    )


def test_run_with_a_business_date_is_refused_on_production_and_writes_nothing(
    store, city, config, monkeypatch, capsys
) -> None:
    before = written(store)
    code, out, err = run_once(store, monkeypatch, capsys)
    assert code == 12
    assert "error (business_date_refused): the workers would run as of 2026-12-03 02:00" in err
    assert "--allow-business-date" in err
    assert "BUSINESS DATE: running" not in err
    assert out == ""
    assert written(store) == before


def test_run_allowed_explicitly_runs_the_night_as_of_the_instant(
    store, city, config, monkeypatch, capsys
) -> None:
    code, _, err = run_once(store, monkeypatch, capsys, "--allow-business-date")
    assert code == 0, err
    assert "BUSINESS DATE: running from 2026-12-03 02:00 +08:00, moving with real time" in err
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled().isoformat() == "2026-12-02"  # not real yesterday
    assert state(store, BROKE).state == "arrears"


@pytest.mark.parametrize("environment", ["test", "drill"])
def test_run_on_a_test_or_drill_database_takes_a_business_date_freely(
    store, city, config, monkeypatch, capsys, environment
) -> None:
    with config.open("a", encoding="utf-8") as f:
        f.write(f'environment = "{environment}"\n')
    code, _, err = run_once(store, monkeypatch, capsys)
    assert code == 0, err
    with store.unit_of_work() as uow:
        assert uow.settlement.last_settled().isoformat() == "2026-12-02"


def test_an_unknown_environment_is_a_config_error(store, city, config, monkeypatch, capsys) -> None:
    with config.open("a", encoding="utf-8") as f:
        f.write('environment = "staging"\n')
    code, _, err = gridpay(store, monkeypatch, capsys, "credit", "run")
    assert code == 8
    assert "environment = 'staging' in the config file: use one of production, test, drill" in err


# --- the holiday schedule warning --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("credit", "run"),
        ("settle", "--date", "2026-12-02"),
        ("run", "--once", "--allow-business-date", "--quiet"),
    ],
)
def test_commands_that_settle_or_judge_warn_of_a_year_without_a_schedule_within_60_days(
    store, city, config, monkeypatch, capsys, args
) -> None:
    code, _, err = gridpay(store, monkeypatch, capsys, "--now", NIGHT_AFTER_2_DECEMBER, *args)
    assert code == 0, err
    assert f"warning: {NO_2027}: no cuts will be made on those days until one is loaded" in err


def test_no_warning_when_the_next_60_days_are_all_scheduled(
    store, city, config, monkeypatch, capsys
) -> None:
    code, _, err = gridpay(store, monkeypatch, capsys, "--now", "2026-11-01T09:00", "credit", "run")
    assert code == 0
    assert NO_2027 not in err  # 31 December is the 60th day


def test_no_warning_once_the_override_file_lists_the_year(
    store, city, config, monkeypatch, capsys, tmp_path
) -> None:
    override = tmp_path / "holidays.toml"
    override.write_text(OVERRIDE_2027, encoding="utf-8")
    with config.open("a", encoding="utf-8") as f:
        f.write(f'holiday_override_file = "{override}"\n')
    code, _, err = gridpay(store, monkeypatch, capsys, "--now", "2026-12-20T09:00", "credit", "run")
    assert code == 0
    assert NO_2027 not in err


def test_a_command_on_its_own_clock_says_the_business_date_was_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRIDPAY_CONFIG", raising=False)
    monkeypatch.setenv("GRIDPAY_NOW", "2026-10-01")
    demo = ["demo", "--accounts", "10", "--days", "1", "--demo-db", str(tmp_path / "demo.db")]
    monkeypatch.setattr(sys, "argv", ["gridpay", *demo])
    assert run_app() == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: --now (GRIDPAY_NOW) was not used: this command runs on its own clock" in err
    assert "BUSINESS DATE" not in err
