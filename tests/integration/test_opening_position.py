"""Switching from monthly billing: the agreement's opening position (register, tier year)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gridpay.adapters.account_files import read_accounts_csv
from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.enrolment import Enrol
from gridpay.domain.money import format_kwh
from gridpay.errors import Conflict, InvalidInput
from gridpay.services import credit
from gridpay.services.audit import audit
from gridpay.services.enrolment import enrol, leave
from gridpay.services.enrolment_drive import enrol_drive_file
from gridpay.services.leaving import close_out_leavings
from gridpay.services.settlement import settle_day
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, cli
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import add_city, add_readings, register_wh
from tests.integration.test_registry_import import HEADER, account_line, import_file, write_csv

MID_DECEMBER = dt.date(2026, 12, 15)
DAY_WH = 20_000  # 20 kWh on the agreement's first day


def _rows(store: SqlStore, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _postpaid_household(store: SqlStore) -> int:
    [account_id] = add_city(store, 1)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid' WHERE id = :a"), {"a": 1})
    return account_id


def _enrol_on(store: SqlStore, clock: FakeClock, day: dt.date, **kw: Any) -> Any:
    clock.set(local(day, 10))
    return enrol(store, clock, Settings(), Enrol("0000000001", office_id=1, **kw))


def _settle(store: SqlStore, clock: FakeClock, day: dt.date) -> None:
    clock.set(local(day + dt.timedelta(days=1), 2))
    settle_day(store, clock, day)


def _usage(store: SqlStore, day: dt.date) -> tuple[int, int, int]:
    [row] = _rows(
        store,
        "SELECT energy_wh, charge_fen, ytd_wh FROM daily_usage WHERE account_id = 1 AND day = :d",
        d=day,
    )
    return int(row[0]), int(row[1]), int(row[2])


def _explain(store: SqlStore, clock: FakeClock) -> credit.Explanation:
    p = credit.Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings())
    return credit.explain(store, clock, p, "0000000001", 10)


@pytest.mark.parametrize(
    ("ytd_kwh", "charge_fen"),
    [("6700", 1720), ("0", 1120), ("2150", 1170)],  # tier 3; tier 1; 10 kWh in 1, 10 in 2
)
def test_a_mid_december_enrolment_is_priced_from_the_year_to_date_monthly_billing_billed(
    store: SqlStore, clock: FakeClock, ytd_kwh: str, charge_fen: int
) -> None:
    _postpaid_household(store)
    closing_wh = 5_432_100  # monthly billing's closing reading at the start of the day
    add_readings(store, [1], MID_DECEMBER, **{"1": closing_wh + DAY_WH})
    receipt = _enrol_on(
        store, clock, MID_DECEMBER, opening_kwh=format_kwh(closing_wh), opening_ytd_kwh=ytd_kwh
    )
    assert not receipt.position_missing

    _settle(store, clock, MID_DECEMBER)

    ytd_wh = int(ytd_kwh) * 1000 + DAY_WH
    assert _usage(store, MID_DECEMBER) == (DAY_WH, charge_fen, ytd_wh)
    charged = _rows(store, "SELECT amount_fen FROM transfers WHERE kind = 'charge'")
    assert charged == [(charge_fen,)]
    assert audit(store).ok


def test_the_tier_position_carries_on_through_the_year_and_restarts_on_1_january(
    store: SqlStore, clock: FakeClock
) -> None:
    _postpaid_household(store)
    start_wh = 1_000_000
    days = [MID_DECEMBER + dt.timedelta(days=i) for i in range(19)]  # to 2 January
    for i, day in enumerate(days):
        add_readings(store, [1], day, **{"1": start_wh + (i + 1) * DAY_WH})
    _enrol_on(store, clock, MID_DECEMBER, opening_kwh=format_kwh(start_wh), opening_ytd_kwh="3110")
    for day in days:
        _settle(store, clock, day)

    charges = [_usage(store, d)[1] for d in days]
    assert charges[0] == 10 * 61 + 10 * 86  # 3,110 -> 3,130 kWh crosses into tier 3
    assert set(charges[1:17]) == {1720}  # tier 3 to 31 December
    assert charges[17:] == [1120, 1120]  # a new tier year
    assert _usage(store, dt.date(2027, 1, 2))[2] == 2 * DAY_WH
    assert audit(store).ok


def test_an_enrolment_without_the_position_is_flagged_tasked_and_explained(
    store: SqlStore, clock: FakeClock
) -> None:
    _postpaid_household(store)
    add_readings(store, [1], MID_DECEMBER - dt.timedelta(days=1))
    add_readings(store, [1], MID_DECEMBER)

    receipt = _enrol_on(store, clock, MID_DECEMBER)
    again = _enrol_on(store, clock, MID_DECEMBER)

    assert receipt.position_missing and again.already_recorded
    assert "no opening position" in receipt.position
    tasks = _rows(store, "SELECT account_id, kind, reason, closed_at FROM staff_tasks")
    assert len(tasks) == 1  # one per agreement, however often the enrolment is retried
    assert tasks[0][:2] == (1, "opening_position") and tasks[0][3] is None
    assert "closing reading" in tasks[0][2]
    assert _rows(store, "SELECT position_source, opening_wh FROM enrolments") == [("missing", None)]
    _settle(store, clock, MID_DECEMBER)  # priced from the day before's reading, tier 1
    expected_wh = register_wh(1, MID_DECEMBER) - register_wh(1, MID_DECEMBER - dt.timedelta(1))
    assert _usage(store, MID_DECEMBER)[0] == expected_wh
    explained = _explain(store, clock)
    assert "no opening position" in explained.position_line
    assert "0 kWh this tier year" in explained.position_line


def test_explain_names_the_opening_position_that_was_used(
    store: SqlStore, clock: FakeClock
) -> None:
    _postpaid_household(store)
    _enrol_on(store, clock, MID_DECEMBER, opening_kwh="5432.1", opening_ytd_kwh="6700")

    line = _explain(store, clock).position_line

    assert "5432.10 kWh" in line and "6700.00 kWh already billed" in line
    assert "entered" in line and "2026-12-15" in line
    assert _rows(store, "SELECT count(*) FROM staff_tasks") == [(0,)]


@pytest.mark.parametrize(
    ("register", "ytd"), [("100", None), (None, "100"), ("-1", "5"), ("1.2345", "1")]
)
def test_a_half_or_bad_opening_position_is_refused_before_anything_is_written(
    store: SqlStore, clock: FakeClock, register: str | None, ytd: str | None
) -> None:
    _postpaid_household(store)
    with pytest.raises(InvalidInput):
        _enrol_on(store, clock, MID_DECEMBER, opening_kwh=register, opening_ytd_kwh=ytd)
    assert _rows(store, "SELECT count(*) FROM enrolments") == [(0,)]


@pytest.mark.parametrize("with_position", [True, False])
def test_the_first_day_back_after_leaving_is_not_billed_the_days_away(
    store: SqlStore, clock: FakeClock, with_position: bool
) -> None:
    # The days away were billed monthly: the new agreement starts from its own opening register
    # (or, without one, the reading of the day before), never the old agreement's last row.
    _postpaid_household(store)
    first = dt.date(2026, 12, 1)
    for i in range(15):
        add_readings(store, [1], first + dt.timedelta(days=i))
    _enrol_on(store, clock, dt.date(2026, 12, 2), opening_kwh="0", opening_ytd_kwh="0")
    with store.engine.begin() as conn:  # set it right: the register at the start of 2 December
        conn.execute(text("UPDATE enrolments SET opening_wh = :w"), {"w": register_wh(1, first)})
    for day in (dt.date(2026, 12, 2), dt.date(2026, 12, 3), dt.date(2026, 12, 4)):
        _settle(store, clock, day)
    clock.set(local(dt.date(2026, 12, 5), 10))
    leave(store, clock, Settings(), "0000000001")
    _settle(store, clock, dt.date(2026, 12, 5))
    close_out_leavings(store, clock)  # as the night does after settling the leaving day

    back = dt.date(2026, 12, 10)
    before_back = back - dt.timedelta(days=1)
    position: dict[str, str] = {}
    if with_position:
        ytd_wh = register_wh(1, before_back) - register_wh(1, dt.date(2025, 12, 31))
        position = {
            "opening_kwh": format_kwh(register_wh(1, before_back)),
            "opening_ytd_kwh": str(ytd_wh / 1000),
        }
    _enrol_on(store, clock, back, **position)
    _settle(store, clock, back)

    energy_wh, charge_fen, ytd_after_wh = _usage(store, back)
    assert energy_wh == register_wh(1, back) - register_wh(1, before_back)
    assert 0 < charge_fen <= energy_wh * 86 // 1000 + 1
    if with_position:
        assert ytd_after_wh == register_wh(1, back) - register_wh(1, dt.date(2025, 12, 31))
    days_away = _rows(
        store, "SELECT count(*) FROM daily_usage WHERE day > '2026-12-05' AND day < '2026-12-10'"
    )
    assert days_away == [(0,)]
    assert audit(store).ok


# --- the accounts file: a prepaid row carries its opening position ------------------------------

OPENING_HEADER = HEADER + ",opening_kwh,opening_ytd_kwh"


def test_an_accounts_file_lands_the_opening_positions_and_names_bad_ones(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    lines = [
        account_line(1) + ",5432.1,6700",  # prepaid with its position
        account_line(2) + ",,",  # prepaid without: flagged and tasked
        account_line(3) + ",100,",  # half a position
        account_line(4, billing_mode="postpaid") + ",100,10",  # postpaid: stays on monthly bill
        account_line(5) + ",12x,3",
        account_line(6, billing_mode="postpaid") + ",,",
    ]
    path = write_csv(tmp_path / "district.csv", lines, header=OPENING_HEADER)
    clock.set(local(MID_DECEMBER, 9))

    report = import_file(store, clock, path)

    assert report.added == 3
    assert report.prepaid_without_position == 1  # row 2: counted for staff to follow up
    named = {p.row_no: p.problem for p in report.problems}
    assert sorted(named) == [4, 5, 6]  # file rows 3, 4, 5 (the header is row 1)
    assert "both opening_kwh" in named[4]
    assert "postpaid account stays on monthly billing" in named[5]
    assert "opening_kwh '12x' is not a number of kWh" in named[6]
    agreements = _rows(
        store,
        "SELECT account_id, opening_wh, opening_ytd_wh, position_source FROM enrolments "
        "ORDER BY account_id",
    )
    assert agreements == [(1, 5_432_100, 6_700_000, "accounts_file"), (2, None, None, "missing")]
    # Flagged on the agreement, without a task each: a district's file would flood the queue.
    assert _rows(store, "SELECT count(*) FROM staff_tasks") == [(0,)]
    again = import_file(store, clock, path)  # the same file again changes nothing
    assert (again.added, again.prepaid_without_position) == (0, 0)

    # The first day is priced from the file's position: 20 kWh in tier 3.
    meter_id = 202208310000 + 1
    _add_reading(store, meter_id, MID_DECEMBER, 5_432_100 + DAY_WH)
    _settle(store, clock, MID_DECEMBER)
    assert _usage(store, MID_DECEMBER) == (DAY_WH, 1720, 6_700_000 + DAY_WH)


def test_the_import_report_counts_prepaid_rows_without_a_position(
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lines = [
        account_line(1) + ",5432.1,6700",
        account_line(2) + ",,",
        account_line(3) + ",,",
        account_line(4, billing_mode="postpaid") + ",,",  # postpaid: no position to ask for
    ]
    path = write_csv(tmp_path / "district.csv", lines, header=OPENING_HEADER)

    code, out, err = cli(store, monkeypatch, capsys, "accounts", "import", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["prepaid_without_position"] == 2

    code, out, err = cli(store, monkeypatch, capsys, "accounts", "import", str(path))
    assert code == 0, err
    assert "prepaid row(s) have no opening position" not in out  # nothing new this time
    path = write_csv(tmp_path / "more.csv", [account_line(5) + ",,"], header=OPENING_HEADER)
    code, out, err = cli(store, monkeypatch, capsys, "accounts", "import", str(path))
    assert code == 0, err
    assert "1 prepaid row(s) have no opening position" in " ".join(out.split())


def _add_reading(store: SqlStore, meter_id: int, day: dt.date, total_wh: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO readings (day, meter_id, total_wh, source, received_at) "
                "VALUES (:d, :m, :w, 'test', :r)"
            ),
            {"d": day, "m": meter_id, "w": total_wh, "r": dt.datetime(2026, 12, 1)},
        )


# --- the enrolment drive's bulk file -----------------------------------------------------------


def test_the_drive_file_lands_good_rows_and_names_bad_ones(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add_city(store, 5)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid'"))
        conn.execute(text("UPDATE accounts SET supply_type = 'non_direct' WHERE id = 4"))
    path = tmp_path / "drive.csv"
    path.write_text(
        "account_no,office,opening_kwh,opening_ytd_kwh\n"
        "0000000001,1,5432.1,6700\n"  # row 2: lands, tier 3 from the first day
        "0000000002,online,,\n"  # row 3: lands, flagged without a position
        "0000000003,1,100,\n"  # row 4: half a position
        "0000000004,2,100,10\n"  # row 5: not direct supply
        "0000000009,1,100,10\n"  # row 6: no such account
        "0000000005,99,100,10\n",  # row 7: no such office
        encoding="utf-8",
    )
    clock.set(local(MID_DECEMBER, 9))

    report = enrol_drive_file(store, clock, Settings(), read_accounts_csv(path), path.name)

    assert (report.rows, report.enrolled, report.without_position) == (6, 2, 1)
    named = {p.row_no: (p.account_no, p.problem) for p in report.problems}
    assert sorted(named) == [4, 5, 6, 7]
    assert "both the closing reading" in named[4][1]
    assert named[5][0] == "0000000004" and "direct-supply" in named[5][1]
    assert "0000000009" in named[6][1]
    assert "unknown office 99" in named[7][1]
    assert _rows(
        store,
        "SELECT account_id, channel, opening_wh, opening_ytd_wh, position_source FROM enrolments "
        "ORDER BY account_id",
    ) == [(1, "office", 5_432_100, 6_700_000, "drive_file"), (2, "online", None, None, "missing")]
    assert _rows(store, "SELECT account_id, kind FROM staff_tasks") == [(2, "opening_position")]

    again = enrol_drive_file(store, clock, Settings(), read_accounts_csv(path), path.name)
    assert (again.enrolled, again.already_enrolled, len(again.problems)) == (0, 2, 4)
    assert _rows(store, "SELECT count(*) FROM enrolments") == [(2,)]

    add_readings(store, [1], MID_DECEMBER, **{"1": 5_432_100 + DAY_WH})
    _settle(store, clock, MID_DECEMBER)
    assert _usage(store, MID_DECEMBER) == (DAY_WH, 1720, 6_700_000 + DAY_WH)


def test_the_drive_file_from_the_command_line(
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    add_accounts(store, [1, 2], billing_mode="postpaid")
    path = tmp_path / "drive.csv"
    path.write_text(
        "account_no,office,opening_kwh,opening_ytd_kwh\n0000000001,1,10,6700\n0000000002,1,x,1\n",
        encoding="utf-8",
    )
    code, out, err = cli(store, monkeypatch, capsys, "enrol-drive", str(path), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["enrolled"], report["problems"][0]["row_no"]) == (1, 3)

    code, out, err = cli(store, monkeypatch, capsys, "explain", "0000000001")
    assert code == 0, err
    assert "6700.00 kWh already billed" in out


def test_staff_enter_a_missing_position_before_the_first_day_is_settled_and_the_task_closes(
    store: SqlStore, clock: FakeClock
) -> None:
    _postpaid_household(store)
    _enrol_on(store, clock, MID_DECEMBER)  # signed without the position: a task
    add_readings(store, [1], MID_DECEMBER, **{"1": 5_432_100 + DAY_WH})

    receipt = _enrol_on(store, clock, MID_DECEMBER, opening_kwh="5432.1", opening_ytd_kwh="6700")

    assert not receipt.position_missing and "6700.00 kWh" in receipt.position
    [(closed_at, code)] = _rows(store, "SELECT closed_at, close_code FROM staff_tasks")
    assert closed_at is not None and code == "position_entered"
    _settle(store, clock, MID_DECEMBER)
    assert _usage(store, MID_DECEMBER) == (DAY_WH, 1720, 6_700_000 + DAY_WH)
    same = _enrol_on(store, clock, MID_DECEMBER, opening_kwh="5432.1", opening_ytd_kwh="6700")
    assert same.already_recorded  # the same figures again: nothing changes
    with pytest.raises(Conflict, match="already has its opening position"):
        _enrol_on(store, clock, MID_DECEMBER, opening_kwh="1", opening_ytd_kwh="1")


def _transfers(store: SqlStore, account_id: int) -> list[tuple[str, int]]:
    return [
        (str(i), int(f))
        for i, f in _rows(
            store,
            "SELECT id, CASE WHEN debit_account_id = :a THEN amount_fen ELSE -amount_fen END "
            "FROM transfers WHERE account_id = :a AND kind IN ('charge', 'credit') ORDER BY seq",
            a=account_id,
        )
    ]


def test_a_position_entered_after_days_were_settled_re_prices_them_with_corrections(
    store: SqlStore, clock: FakeClock
) -> None:
    # Two households with the same meter readings: 1 signs without its position and staff
    # enter it two settled days later; 2 signs with it. They must end with the same books.
    add_city(store, 2)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid'"))
    closing_wh = 5_432_100
    days = [MID_DECEMBER + dt.timedelta(days=i) for i in range(3)]
    before = MID_DECEMBER - dt.timedelta(days=1)
    add_readings(store, [1, 2], before, **{"1": closing_wh, "2": closing_wh})
    for i, day in enumerate(days):
        wh = closing_wh + (i + 1) * DAY_WH
        add_readings(store, [1, 2], day, **{"1": wh, "2": wh})
    position = {"opening_kwh": format_kwh(closing_wh), "opening_ytd_kwh": "6700"}
    _enrol_on(store, clock, MID_DECEMBER)
    enrol(store, clock, Settings(), Enrol("0000000002", office_id=1, **position))
    _settle(store, clock, days[0])
    _settle(store, clock, days[1])
    assert _usage(store, days[0])[1] == 1120  # priced at tier 1: no position yet
    clock.set(local(days[2], 9))

    receipt = _enrol_on(store, clock, MID_DECEMBER, **position)

    assert not receipt.position_missing and not receipt.already_recorded
    assert receipt.position_corrected_fen == 2 * (1720 - 1120)  # both days now in tier 3
    assert [_usage(store, d) for d in days[:2]] == [
        (DAY_WH, 1720, 6_700_000 + DAY_WH),
        (DAY_WH, 1720, 6_700_000 + 2 * DAY_WH),
    ]
    corrections = [t for t in _transfers(store, 1) if t[0].startswith("trueup/")]
    assert corrections == [(f"trueup/0000000001/{d.isoformat()}/position-1", 600) for d in days[:2]]
    [(code,)] = _rows(store, "SELECT close_code FROM staff_tasks")
    assert code == "position_entered"
    assert "6700.00 kWh already billed" in _explain(store, clock).position_line

    again = _enrol_on(store, clock, MID_DECEMBER, **position)  # idempotent
    assert again.already_recorded and again.position_corrected_fen == 0
    with pytest.raises(Conflict, match="already has its opening position"):
        _enrol_on(store, clock, MID_DECEMBER, opening_kwh="5432.1", opening_ytd_kwh="100")
    assert len(_transfers(store, 1)) == 4

    _settle(store, clock, days[2])
    books = [
        _rows(
            store,
            "SELECT day, energy_wh, charge_fen, ytd_wh, ytd_charged_fen FROM daily_usage "
            "WHERE account_id = :a ORDER BY day",
            a=a,
        )
        for a in (1, 2)
    ]
    assert books[0] == books[1]
    balances = _rows(
        store,
        "SELECT id, debits_posted_fen - credits_posted_fen FROM ledger_accounts "
        "WHERE id IN (1, 2) ORDER BY id",
    )
    assert balances[0][1] == balances[1][1]
    assert audit(store).ok
