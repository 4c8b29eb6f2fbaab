"""`audit --days N`: re-pricing reaches back N settled days, and no further."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.errors import InvalidInput
from gridpay.services.audit import AuditReport, CheckResult, audit
from gridpay.services.settlement import settle_range
from tests.fakes import FakeClock
from tests.helpers_accounts import cli, execute
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings

DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(5)]
OLDER = DAYS[1]  # the day tampered with: the 4th-last settled day
REPRICING = "charges_match_readings_and_tariff"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, description: str, total: int | None) -> None:
        self.calls.append(("start", total))

    def advance(self, steps: int) -> None:
        self.calls.append(("advance", steps))

    def finish(self) -> None:
        self.calls.append(("finish", None))


@pytest.fixture
def settled(store: SqlStore, clock: FakeClock) -> SqlStore:
    """Eight accounts, five days settled from real readings."""
    ids = add_city(store, 8)
    for day in DAYS:
        add_readings(store, ids, day)
    settle_range(store, clock, DAYS[0], DAYS[-1])
    return store


def repricing(report: AuditReport) -> CheckResult:
    return {c.name: c for c in report.checks}[REPRICING]


def test_sound_books_pass_over_any_number_of_days(settled: SqlStore) -> None:
    for days in (1, 3, 5, 50, None):
        report = audit(settled, days=days)
        assert report.ok, [c for c in report.checks if not c.ok]
    check = repricing(audit(settled, days=3))
    assert check.checked == 3 * 8
    assert check.checked_what == f"usage rows of 3 days, {DAYS[2]} to {DAYS[4]}"
    assert repricing(audit(settled)).checked_what == f"usage rows of {DAYS[4]}"
    assert repricing(audit(settled, days=None)).checked == 5 * 8


def test_a_wrong_charge_on_an_older_day_is_caught_only_when_days_reach_it(
    settled: SqlStore,
) -> None:
    execute(
        settled,
        "UPDATE daily_usage SET charge_fen = charge_fen + 1 WHERE account_id = 5 AND day = :d",
        d=OLDER,
    )
    for days in (1, 3):
        assert repricing(audit(settled, days=days)).ok
    for days in (4, 5, None):
        check = repricing(audit(settled, days=days))
        assert not check.ok
        assert check.accounts == ("0000000005",)
        assert check.detail == f"on {OLDER}"


def test_progress_moves_once_per_day(settled: SqlStore) -> None:
    recorder = Recorder()
    audit(settled, days=3, progress=recorder)
    assert recorder.calls == [("start", 3), *[("advance", 1)] * 3, ("finish", None)]


def test_days_must_be_positive(settled: SqlStore) -> None:
    with pytest.raises(InvalidInput, match="days must be 1 or more"):
        audit(settled, days=0)


def test_no_settled_day_checks_nothing(store: SqlStore) -> None:
    check = repricing(audit(store, days=3))
    assert check.ok
    assert (check.checked, check.checked_what) == (0, "usage rows (none settled)")


def test_cli_days_and_all(
    settled: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A raw reading that no longer gives the stored usage row: only re-pricing can see it.
    execute(
        settled,
        "UPDATE readings SET total_wh = total_wh + 5000 WHERE meter_id = :m AND day = :d",
        m=METER_BASE + 3,
        d=OLDER,
    )
    assert cli(settled, monkeypatch, capsys, "audit")[0] == 0
    assert cli(settled, monkeypatch, capsys, "audit", "--days", "3")[0] == 0
    code, out, err = cli(settled, monkeypatch, capsys, "audit", "--days", "4")
    assert code == 7
    assert f"{REPRICING} — 1 failing: 0000000003" in " ".join(err.split())
    assert f"on {OLDER}" in out
    code, out, _ = cli(settled, monkeypatch, capsys, "audit", "--all", "--json")
    assert code == 7
    check = {c["name"]: c for c in json.loads(out)["checks"]}[REPRICING]
    assert (check["accounts"], check["checked"]) == (["0000000003"], 5 * 8)
    code, _, err = cli(settled, monkeypatch, capsys, "audit", "--days", "0")
    assert code == 3
    assert "days must be 1 or more" in err
