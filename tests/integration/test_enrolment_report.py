"""The enrolment progress report against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.enrolment import Enrol
from gridpay.errors import InvalidInput
from gridpay.services.enrolment import enrol, enrolment_report, leave
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, execute

SETTINGS = Settings()
JUNE_1 = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Luoyang


def _no(account_id: int) -> str:
    return f"{account_id:010d}"


@pytest.fixture
def drive(store: SqlStore, clock: FakeClock) -> SqlStore:
    """Office 1: accounts 1-4 (4 already prepaid before the drive), 5 non-direct supply.
    Office 2: accounts 11-12. Three days of the drive:

    - 1 June: 1 at office 1's counter, 2 online, 11 at office 1's counter;
    - 2 June: nothing;
    - 3 June: 1 leaves, 3 at office 2's counter, 12 online.
    """
    add_accounts(store, [1, 2, 3, 5], billing_mode="postpaid", office_id=1)
    add_accounts(store, [4], billing_mode="prepaid", office_id=1)
    add_accounts(store, [11, 12], billing_mode="postpaid", office_id=2)
    execute(store, "UPDATE accounts SET supply_type = 'non_direct' WHERE id = 5")
    clock.set(JUNE_1)
    enrol(store, clock, SETTINGS, Enrol(_no(1), office_id=1))
    enrol(store, clock, SETTINGS, Enrol(_no(2), online=True))
    enrol(store, clock, SETTINGS, Enrol(_no(11), office_id=1))
    clock.advance(days=2)
    leave(store, clock, SETTINGS, _no(1))
    enrol(store, clock, SETTINGS, Enrol(_no(3), office_id=2))
    enrol(store, clock, SETTINGS, Enrol(_no(12), online=True))
    return store


def _column(rows: pl.DataFrame, office_id: int | None, column: str) -> list[object]:
    chosen = rows.filter(
        pl.col("office_id").is_null() if office_id is None else pl.col("office_id") == office_id
    )
    return chosen[column].to_list()


def test_the_report_counts_each_office_and_day(drive: SqlStore, clock: FakeClock) -> None:
    report = enrolment_report(drive, clock, dt.date(2026, 6, 1), dt.date(2026, 6, 3))
    rows = report.rows
    assert rows.height == 3 * 7  # six offices and the overall row, for three days
    # Enrolments count for the account's own office, wherever they were signed.
    assert _column(rows, 1, "enrolled") == [2, 0, 1]
    assert _column(rows, 2, "enrolled") == [1, 0, 1]
    # Account 4 was prepaid before the drive: in from the start. Account 1 left on 3 June.
    assert _column(rows, 1, "enrolled_total") == [3, 3, 3]
    assert _column(rows, 2, "enrolled_total") == [1, 1, 2]
    assert _column(rows, 1, "eligible") == [4, 4, 4]  # account 5 is not direct supply
    assert _column(rows, 2, "share_pct") == [50.0, 50.0, 100.0]
    assert _column(rows, 1, "share_pct") == [75.0, 75.0, 75.0]
    # Counter signatures by the signing office: office 1 signed for 1 and 11, office 2 for 3.
    assert _column(rows, 1, "signed_here") == [2, 0, 0]
    assert _column(rows, 2, "signed_here") == [0, 0, 1]
    assert _column(rows, 3, "eligible") == [0, 0, 0]
    assert _column(rows, 3, "share_pct") == [None, None, None]
    assert _column(rows, None, "enrolled") == [3, 0, 2]
    assert _column(rows, None, "enrolled_total") == [4, 4, 5]
    assert _column(rows, None, "eligible") == [6, 6, 6]


def test_a_report_starting_later_carries_the_earlier_enrolments(
    drive: SqlStore, clock: FakeClock
) -> None:
    report = enrolment_report(drive, clock, dt.date(2026, 6, 3), dt.date(2026, 6, 3))
    assert _column(report.rows, 1, "enrolled_total") == [3]
    assert _column(report.rows, None, "enrolled_total") == [5]


def test_the_report_runs_by_default_from_the_first_agreement_to_today(
    drive: SqlStore, clock: FakeClock
) -> None:
    report = enrolment_report(drive, clock)
    assert (report.first_day, report.last_day) == (dt.date(2026, 6, 1), dt.date(2026, 6, 3))


def test_a_report_range_must_be_in_order_and_not_too_long(
    drive: SqlStore, clock: FakeClock
) -> None:
    with pytest.raises(InvalidInput, match="is after"):
        enrolment_report(drive, clock, dt.date(2026, 6, 3), dt.date(2026, 6, 1))
    with pytest.raises(InvalidInput, match="at most 366"):
        enrolment_report(drive, clock, dt.date(2025, 1, 1), dt.date(2026, 6, 1))
