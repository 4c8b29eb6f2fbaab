"""A clean way out: the leaving day settled by the night, the balance refunded and paid out once,
or handed to monthly billing as owed; nothing charged or sent after the leaving day; the audit
still proves the charges of accounts that left. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.payout_files import read_payout_csv
from gridpay.adapters.policy_files import shipped_policies
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.enrolment import Enrol
from gridpay.domain.leaving import PayoutLine
from gridpay.domain.ledger import (
    ADJUSTMENTS_ID,
    PAYOUT_IDS,
    RECEIVABLES_ID,
    REFUNDS_ID,
    PayoutChannel,
    Transfer,
    TransferKind,
)
from gridpay.domain.money import format_kwh
from gridpay.domain.payments import Reverse, TakePayment
from gridpay.errors import Refused
from gridpay.services import leaving
from gridpay.services.audit import LEDGER_CHECKS, CheckResult, audit
from gridpay.services.credit import Policy, judge_all
from gridpay.services.enrolment import enrol, leave
from gridpay.services.night import run_night
from gridpay.services.payments import reverse, take_payment
from tests.fakes import FakeClock
from tests.helpers_accounts import balance_fen, cli
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import add_city, add_readings

SETTINGS = Settings()
ENROLLED_ON = dt.date(2026, 12, 7)
LEFT_ON = ENROLLED_ON + dt.timedelta(days=2)
REFUNDED, OWING, STAYING = 1, 2, 3


def _rows(store: SqlStore, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _day(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def _sent(store: SqlStore) -> dict[int, list[str]]:
    """Each account's messages, oldest first."""
    sent: dict[int, list[str]] = {}
    for account_id, kind in _rows(store, "SELECT account_id, kind FROM messages ORDER BY id"):
        sent.setdefault(account_id, []).append(kind)
    return sent


def _policy() -> Policy:
    return Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), SETTINGS)


def _night(store: SqlStore, clock: FakeClock, day: dt.date) -> None:
    """The night after ``day``: settle it, close out, judge."""
    clock.set(local(day + dt.timedelta(days=1), 2))
    report = run_night(store, clock, _policy())
    assert report.refused is None, report.refused


@pytest.fixture
def city(store: SqlStore, clock: FakeClock) -> SqlStore:
    """Three households enrolled on 7 December: 1 pays 100 yuan and leaves on the 9th, 2 pays
    0.50 yuan and leaves the same day owing, 3 stays. Readings every day into next week."""
    ids = add_city(store, 3)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid'"))
    for day in [ENROLLED_ON + dt.timedelta(days=i) for i in range(-1, 8)]:
        add_readings(store, ids, day)
    clock.set(local(ENROLLED_ON, 10))
    for account_id in ids:
        enrol(store, clock, SETTINGS, Enrol(f"{account_id:010d}", office_id=1))
    take_payment(store, clock, SETTINGS, TakePayment(f"{REFUNDED:010d}", "100", "bank", "P-1"))
    take_payment(store, clock, SETTINGS, TakePayment(f"{OWING:010d}", "0.50", "bank", "P-2"))
    _night(store, clock, ENROLLED_ON)
    _night(store, clock, ENROLLED_ON + dt.timedelta(days=1))
    return store


def _leave_both(store: SqlStore, clock: FakeClock) -> None:
    clock.set(local(LEFT_ON, 15))
    for account_id in (REFUNDED, OWING):
        receipt = leave(store, clock, SETTINGS, f"{account_id:010d}", "moving away")
        assert receipt.left_on == LEFT_ON and not receipt.closed_out


def test_the_audit_is_clean_after_leavings_and_still_proves_their_charges(
    city: SqlStore, clock: FakeClock
) -> None:
    _leave_both(city, clock)
    assert audit(city, days=None).ok, audit(city, days=None).failed_checks

    _night(city, clock, LEFT_ON)
    _night(city, clock, LEFT_ON + dt.timedelta(days=1))

    # Both are postpaid now, yet every day they were charged is re-priced and proved.
    modes = _rows(city, "SELECT id, billing_mode FROM accounts ORDER BY id")
    assert modes == [(1, "postpaid"), (2, "postpaid"), (3, "prepaid")]
    report = audit(city, days=None)
    assert report.ok, report.failed_checks
    repriced = {c.name: c for c in report.checks}["charges_match_readings_and_tariff"]
    assert repriced.checked == 3 * 3 + 1  # three days of all three, then the one who stayed


def test_nothing_is_charged_or_sent_after_the_leaving_day(city: SqlStore, clock: FakeClock) -> None:
    _leave_both(city, clock)
    sent_by_leaving_day = _sent(city)
    assert sent_by_leaving_day[REFUNDED][-1] == sent_by_leaving_day[OWING][-1] == "left"
    for n in range(4):
        _night(city, clock, LEFT_ON + dt.timedelta(days=n))

    after = _sent(city)
    assert (after[REFUNDED], after[OWING]) == (
        sent_by_leaving_day[REFUNDED],
        sent_by_leaving_day[OWING],
    )

    for account_id in (REFUNDED, OWING):
        charged = _rows(
            city,
            "SELECT day FROM transfers WHERE account_id = :a AND kind IN ('charge', 'credit')",
            a=account_id,
        )
        assert sorted(_day(r[0]) for r in charged) == [
            ENROLLED_ON,
            ENROLLED_ON + dt.timedelta(days=1),
            LEFT_ON,
        ]
        assert balance_fen(city, account_id) == 0
    staying = _rows(city, "SELECT max(day) FROM transfers WHERE account_id = :a", a=STAYING)
    assert _day(staying[0][0]) == LEFT_ON + dt.timedelta(days=3)


def test_a_positive_balance_is_refunded_and_a_debt_handed_over_with_the_closing_position(
    city: SqlStore,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _leave_both(city, clock)
    before = {a: balance_fen(city, a) for a in (REFUNDED, OWING)}
    _night(city, clock, LEFT_ON)

    usage = dict(
        (r[0], r[1:])
        for r in _rows(
            city,
            "SELECT account_id, reading_wh, ytd_wh, charge_fen FROM daily_usage WHERE day = :d",
            d=LEFT_ON,
        )
    )
    refund_fen = before[REFUNDED] - usage[REFUNDED][2]
    owed_fen = usage[OWING][2] - before[OWING]
    assert refund_fen > 0 and owed_fen > 0
    assert balance_fen(city, REFUNDS_ID) == refund_fen
    assert balance_fen(city, RECEIVABLES_ID) == -owed_fen  # owed to the company
    rows = leaving.handover_rows(city, LEFT_ON, LEFT_ON)
    assert [
        (r.account_no, r.closing_wh, r.ytd_wh, r.refunded_fen, r.owed_fen, r.refund_ref)
        for r in rows
    ] == [
        ("0000000001", usage[1][0], usage[1][1], refund_fen, 0, "leave-0000000001-1"),
        ("0000000002", usage[2][0], usage[2][1], 0, owed_fen, None),
    ]

    out = tmp_path / "handover.csv"
    code, _, err = cli(
        city, monkeypatch, capsys, "payouts", "handover",
        "--from", str(LEFT_ON), "--to", str(LEFT_ON), "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    with out.open(encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert [(r["account_no"], r["refunded_yuan"], r["owed_yuan"]) for r in lines] == [
        ("0000000001", f"{refund_fen / 100:.2f}", "0.00"),
        ("0000000002", "0.00", f"{owed_fen / 100:.2f}"),
    ]
    assert lines[0]["ytd_kwh"] == format_kwh(usage[1][1])
    assert audit(city, days=None).ok


def test_a_refund_is_paid_once_through_a_batch_file_uploaded_twice(
    city: SqlStore,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _leave_both(city, clock)
    _night(city, clock, LEFT_ON)
    refund_fen = balance_fen(city, REFUNDS_ID)
    batch = tmp_path / "batch.csv"

    code, said, err = cli(city, monkeypatch, capsys, "payouts", "batch", "--out", str(batch))
    assert code == 0, err
    with batch.open(encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert [(r["ref"], r["account_no"]) for r in lines] == [("leave-0000000001-1", "0000000001")]
    assert oct(batch.stat().st_mode & 0o777) == oct(0o600)

    first = cli(city, monkeypatch, capsys, "payouts", "upload", str(batch), "--json")
    second = cli(city, monkeypatch, capsys, "payouts", "upload", str(batch), "--json")

    assert (first[0], second[0]) == (0, 0)
    assert (json.loads(first[1])["paid"], json.loads(first[1])["paid_fen"]) == (1, refund_fen)
    assert (json.loads(second[1])["paid"], json.loads(second[1])["already_paid"]) == (0, 1)
    assert balance_fen(city, REFUNDS_ID) == 0
    assert balance_fen(city, PAYOUT_IDS[PayoutChannel.BANK]) == refund_fen
    payouts = _rows(city, "SELECT id FROM transfers WHERE kind = 'payout'")
    assert payouts == [("payout/leave-0000000001-1",)]
    # Recorded once, as the CLI's operator's (the retry paid nothing).
    assert _rows(
        city, "SELECT actor_kind, action, subject FROM audit_log WHERE action = 'payment.payout'"
    ) == [("cli", "payment.payout", "refund/leave-0000000001-1")]
    assert leaving.refunds_due(city) == []
    # Paid by the bank, it cannot be paid again in cash.
    cash = leaving.pay_out(
        city,
        clock,
        [PayoutLine(1, "leave-0000000001-1", refund_fen)],
        PayoutChannel.COUNTER,
        office_id=1,
    )
    assert [r.status for r in cash.results] == ["already_paid"]
    assert audit(city, days=None).ok


def test_a_payout_line_that_matches_no_refund_is_refused_by_line_and_the_rest_lands(
    city: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    _leave_both(city, clock)
    _night(city, clock, LEFT_ON)
    refund_fen = balance_fen(city, REFUNDS_ID)
    batch = tmp_path / "paid.csv"
    batch.write_text(
        "ref,account_no,name,amount_yuan\n"
        "leave-0000000002-2,0000000002,x,1.00\n"  # owed, not refunded: no refund to pay
        f"leave-0000000001-1,0000000001,x,{refund_fen / 100:.2f}\n"
        "leave-0000000001-1,0000000001,x,12.345\n",
        encoding="utf-8",
    )

    report = leaving.pay_out(city, clock, read_payout_csv(batch), PayoutChannel.BANK)

    assert [(r.line_no, r.status) for r in report.results] == [
        (2, "refused"),
        (3, "paid"),
        (4, "refused"),
    ]
    assert "no refund with reference leave-0000000002-2" in str(report.results[0].reason)
    assert balance_fen(city, REFUNDS_ID) == 0


def test_a_refund_paid_out_cannot_be_reversed(city: SqlStore, clock: FakeClock) -> None:
    _leave_both(city, clock)
    _night(city, clock, LEFT_ON)
    (due,) = leaving.refunds_due(city)
    leaving.pay_out(
        city, clock, [PayoutLine(1, due.ref, due.amount_fen)], PayoutChannel.COUNTER, office_id=3
    )

    with pytest.raises(Refused, match="was paid out already"):
        reverse(city, clock, Reverse(f"refund/{due.ref}"))
    assert balance_fen(city, PAYOUT_IDS[PayoutChannel.COUNTER]) == due.amount_fen


def test_the_audit_names_an_account_that_left_with_money_still_on_its_balance(
    city: SqlStore, clock: FakeClock
) -> None:
    _leave_both(city, clock)
    _night(city, clock, LEFT_ON)
    assert _settled_up_check(city).ok

    stray = Transfer(
        id="adjustment/after-leaving",
        debit_account_id=ADJUSTMENTS_ID,
        credit_account_id=REFUNDED,
        amount_fen=100,
        kind=TransferKind.ADJUSTMENT,
        account_id=REFUNDED,
        day=LEFT_ON + dt.timedelta(days=1),
    )
    with city.unit_of_work() as uow:
        uow.ledger.post(stray, clock.now())
        uow.commit()

    check = _settled_up_check(city)
    assert (check.ok, check.accounts) == (False, ("0000000001",))


def _settled_up_check(store: SqlStore) -> CheckResult:
    checks = {c.name: c for c in audit(store, LEDGER_CHECKS).checks}
    return checks["accounts_that_left_are_settled_up"]


def test_the_policy_leaves_alone_an_account_waiting_for_its_close_out(
    city: SqlStore, clock: FakeClock
) -> None:
    # Its grace long over and its balance below zero, household 2 would be sent the arrears
    # notice by any policy run; it left, so the rest of its leaving day brings nothing.
    with city.engine.begin() as conn:
        conn.execute(text("UPDATE enrolments SET enrolled_on = '2026-10-01'"))
    assert balance_fen(city, OWING) < 0
    _leave_both(city, clock)
    sent = _sent(city)

    clock.set(local(LEFT_ON, 16))
    judge_all(city, clock, _policy())

    assert _sent(city)[OWING] == sent[OWING]
