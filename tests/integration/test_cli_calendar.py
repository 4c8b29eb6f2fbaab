"""`gridpay calendar` as staff use it: day kinds, cut windows, warnings, JSON and refusals.

The command reads no database (only the settings), so it runs once, not per database engine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gridpay.entrypoints.cli._common import run_app

Run = Callable[..., tuple[int, str, str]]  # gridpay ARGS -> (exit code, stdout, stderr)

OVERRIDE_2027 = """
[years.2027]
holidays = [2027-01-01, 2027-01-02, 2027-01-03]
makeup_workdays = []
"""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.delenv("GRIDPAY_CONFIG", raising=False)
    monkeypatch.delenv("GRIDPAY_DATABASE_URL", raising=False)

    def _run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["gridpay", "--db", str(tmp_path / "g.db"), *args])
        code = run_app()
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())

    return _run


def rows(out: str) -> dict[str, str]:
    """Table rows by day: the rest of the line, cells joined by single spaces."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 4 and cells[0][:4].isdigit():
            found[cells[0]] = " | ".join(cells[1:])
    return found


def calendar_json(run: Run, *args: str) -> dict[str, Any]:
    code, out, _ = run("calendar", *args, "--json")
    assert code == 0
    data: dict[str, Any] = json.loads(out)
    return data


def test_national_day_2026_shows_holidays_and_makeup_working_days(run: Run) -> None:
    code, out, err = run("calendar", "--from", "2026-09-19", "--to", "2026-10-12")
    assert code == 0
    assert err == ""
    days = rows(out)
    assert len(days) == 24
    assert days["2026-09-20"] == "Sun | makeup workday | 08:00-18:00"
    assert days["2026-09-25"] == "Fri | holiday | none: public holiday"
    assert days["2026-10-01"] == "Thu | holiday | none: public holiday"
    assert days["2026-10-07"] == "Wed | holiday | none: public holiday"
    assert days["2026-10-08"] == "Thu | workday | 08:00-18:00"
    assert days["2026-10-10"] == "Sat | makeup workday | 08:00-18:00"
    assert days["2026-10-11"] == "Sun | weekend | none: weekend"
    assert "Rule set china-default" in out


def test_sunday_rule_set_cuts_on_saturdays_but_not_sundays(run: Run) -> None:
    args = (
        "calendar",
        "--from",
        "2026-10-16",
        "--to",
        "2026-10-18",
        "--rules",
        "no-evening-sunday",
    )
    code, out, _ = run(*args)
    assert code == 0
    days = rows(out)
    assert days["2026-10-17"] == "Sat | weekend | 08:00-18:00"
    assert days["2026-10-18"] == "Sun | weekend | none: no cuts on Sundays"


def test_json_lists_each_day_with_its_window_and_reason(run: Run) -> None:
    data = calendar_json(run, "--from", "2026-09-30", "--to", "2026-10-01")
    assert data["rules"] == "china-default"
    assert data["unknown_years"] == []
    assert data["days"] == [
        {
            "day": "2026-09-30",
            "weekday": "wednesday",
            "kind": "workday",
            "cut_window": {"start": "08:00", "end": "18:00"},
            "reason_code": "allowed",
            "reason": "cuts allowed 08:00-18:00",
        },
        {
            "day": "2026-10-01",
            "weekday": "thursday",
            "kind": "holiday",
            "cut_window": None,
            "reason_code": "holiday",
            "reason": "public holiday",
        },
    ]


def test_a_year_without_a_schedule_is_warned_about_and_never_cut(run: Run) -> None:
    code, out, err = run("calendar", "--from", "2026-12-31", "--to", "2027-01-04")
    assert code == 0
    assert "warning: no published holiday schedule for 2027" in err
    assert "no cuts will be made on those days" in err
    days = rows(out)
    # (the reason wraps onto a second line in an 80-column table)
    assert days["2027-01-04"].startswith("Mon | unknown | none: no published holiday schedule")
    assert days["2026-12-31"] == "Thu | workday | 08:00-18:00"
    code, out, err = run("calendar", "--from", "2027-01-04", "--to", "2027-01-04", "--json")
    assert json.loads(out)["unknown_years"] == [2027]
    assert "warning" in err


def test_override_option_makes_2027_known(run: Run, tmp_path: Path) -> None:
    override = tmp_path / "holidays.toml"
    override.write_text(OVERRIDE_2027, encoding="utf-8")
    args = ("calendar", "--from", "2027-01-01", "--to", "2027-01-04", "--override", str(override))
    code, out, err = run(*args)
    assert code == 0
    assert err == ""
    days = rows(out)
    assert days["2027-01-01"] == "Fri | holiday | none: public holiday"
    assert days["2027-01-04"] == "Mon | workday | 08:00-18:00"


def test_override_file_from_the_config_setting(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    override = tmp_path / "holidays.toml"
    override.write_text(OVERRIDE_2027, encoding="utf-8")
    config = tmp_path / "gridpay.toml"
    config.write_text(f'holiday_override_file = "{override}"\n', encoding="utf-8")
    monkeypatch.setenv("GRIDPAY_CONFIG", str(config))
    data = calendar_json(run, "--from", "2027-01-04", "--to", "2027-01-04")
    assert data["override_file"] == str(override)
    assert data["unknown_years"] == []
    assert data["days"][0]["kind"] == "workday"


def test_default_range_is_two_weeks_from_today(run: Run) -> None:
    code, out, err = run("--now", "2026-09-30T23:59", "calendar", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["from"], data["to"], len(data["days"])) == ("2026-09-30", "2026-10-13", 14)
    assert data["business_now"] == "2026-09-30T23:59:00+08:00"
    assert "BUSINESS DATE: running as of 2026-09-30 23:59 +08:00 (not the real time)" in err


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("--from", "2026-13-01"), 3, "--from '2026-13-01' is not a date like 2026-10-01"),
        (("--from", "2026-10-02", "--to", "2026-10-01"), 3, "is before --from"),
        (("--from", "2026-01-01", "--to", "2027-01-02"), 3, "367 days asked for; show at most 366"),
        (("--rules", "nights-only"), 3, "use one of china-default, no-evening-sunday"),
        (("--override", "/nonexistent/holidays.toml"), 8, "cannot read holiday override file"),
    ],
)
def test_bad_options_are_refused_with_their_code_and_reason(
    run: Run, args: tuple[str, ...], exit_code: int, message: str
) -> None:
    code, _, err = run("calendar", *args)
    assert code == exit_code
    assert message in err
