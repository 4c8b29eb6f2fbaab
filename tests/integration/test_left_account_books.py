"""An account that left smart payment keeps the books of its agreement's days: a late reading
still trues them up, and the audit still proves them."""

from __future__ import annotations

import csv
import datetime as dt

from sqlalchemy import text

from gridpay.config import Settings
from gridpay.domain.enrolment import Enrol
from gridpay.domain.ledger import ADJUSTMENTS_ID, Transfer, TransferKind, customer_ledger_id
from gridpay.domain.money import format_kwh
from gridpay.domain.payments import TakePayment
from gridpay.services.audit import audit
from gridpay.services.enrolment import enrol, leave
from gridpay.services.leaving import close_out_leavings, handover_rows
from gridpay.services.payments import take_payment
from gridpay.services.settlement import process_trueups, settle_day
from tests.helpers_accounts import cli
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import (
    add_city,
    add_readings,
    queue_late_readings,
    register_wh,
)

D0 = dt.date(2026, 11, 2)
ACCOUNT = 1


def _usage_and_charge(store, day: dt.date) -> tuple[int | None, int]:
    with store.engine.connect() as conn:
        usage = conn.execute(
            text("SELECT charge_fen FROM daily_usage WHERE account_id = :a AND day = :d"),
            {"a": ACCOUNT, "d": day},
        ).scalar()
        charged = conn.execute(
            text(
                "SELECT COALESCE(SUM(CASE WHEN debit_account_id = :a THEN amount_fen "
                "ELSE -amount_fen END), 0) FROM transfers WHERE account_id = :a AND day = :d "
                "AND kind IN ('charge', 'credit', 'trueup')"
            ),
            {"a": ACCOUNT, "d": day},
        ).scalar()
    return usage, int(charged)


def test_a_late_reading_after_leaving_trues_up_the_agreements_day_and_the_audit_holds(store, clock):
    add_city(store, 1)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid'"))
    clock.set(local(D0, 10))
    enrol(store, clock, Settings(), Enrol(f"{ACCOUNT:010d}", office_id=1))
    add_readings(store, [ACCOUNT], D0 - dt.timedelta(days=1))
    add_readings(store, [ACCOUNT], D0)
    add_readings(store, [ACCOUNT], D0 + dt.timedelta(days=2))  # D0 + 1 arrives late
    for offset in range(2):
        clock.set(local(D0 + dt.timedelta(days=offset + 1), 2))
        settle_day(store, clock, D0 + dt.timedelta(days=offset))
    estimated_day = D0 + dt.timedelta(days=1)
    clock.set(local(D0 + dt.timedelta(days=2), 10))
    leave(store, clock, Settings(), f"{ACCOUNT:010d}")

    queue_late_readings(store, {ACCOUNT: register_wh(ACCOUNT, estimated_day)}, estimated_day)
    assert process_trueups(store, clock) == 1

    usage, charged = _usage_and_charge(store, estimated_day)
    assert usage is not None and usage == charged  # trued up, not dropped
    report = audit(store)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_a_late_reading_after_the_close_out_is_settled_up_and_the_account_keeps_no_balance(
    store, clock
):
    leaving_day = _leave_on_an_estimated_day(store, clock)
    assert len(close_out_leavings(store, clock)) == 1
    assert _balance(store) == 0

    # The meter's real reading of the leaving day comes after the close-out: the true-up moves
    # the closed account's balance, and the next close-out pass settles that up too.
    queue_late_readings(store, {ACCOUNT: register_wh(ACCOUNT, leaving_day)}, leaving_day)
    assert process_trueups(store, clock) == 1
    assert _balance(store) != 0
    assert close_out_leavings(store, clock) == []
    assert _balance(store) == 0
    with store.engine.connect() as conn:
        ids = [
            r[0] for r in conn.execute(text("SELECT id FROM transfers WHERE id LIKE '%leave-%'"))
        ]
        closing = conn.execute(text("SELECT balance_fen FROM leavings")).scalar()
    assert len(ids) == 2 and any(i.endswith("-1") for i in ids), ids
    assert close_out_leavings(store, clock) == []  # nothing left to settle up: nothing posted
    with store.engine.connect() as conn:
        again = conn.execute(text("SELECT count(*) FROM transfers WHERE id LIKE '%leave-%'"))
        assert again.scalar() == 2
    assert closing is not None
    report = audit(store)
    assert report.ok, [c for c in report.checks if not c.ok]


def _leave_on_an_estimated_day(store, clock, paid_yuan: str | None = None) -> dt.date:
    """The account enrols on D0 (paying ``paid_yuan`` first if given), leaves the next day, and
    that leaving day is settled with no reading yet: its closing register is estimated."""
    add_city(store, 1)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid'"))
    clock.set(local(D0, 10))
    enrol(store, clock, Settings(), Enrol(f"{ACCOUNT:010d}", office_id=1))
    if paid_yuan is not None:
        payment = TakePayment(f"{ACCOUNT:010d}", paid_yuan, "bank", "P1")
        take_payment(store, clock, Settings(), payment)
    add_readings(store, [ACCOUNT], D0 - dt.timedelta(days=1))
    add_readings(store, [ACCOUNT], D0)
    clock.set(local(D0 + dt.timedelta(days=1), 2))
    settle_day(store, clock, D0)
    leaving_day = D0 + dt.timedelta(days=1)
    clock.set(local(leaving_day, 10))
    leave(store, clock, Settings(), f"{ACCOUNT:010d}")
    clock.set(local(leaving_day + dt.timedelta(days=1), 2))
    settle_day(store, clock, leaving_day)
    return leaving_day


def _balance(store) -> int:
    with store.unit_of_work() as uow:
        return uow.ledger.balance_fen(ACCOUNT)


def test_the_hand_over_file_lists_the_close_out_and_each_settle_up_after_it(
    store, clock, tmp_path, monkeypatch, capsys
):
    leaving_day = _leave_on_an_estimated_day(store, clock, paid_yuan="50")
    close_out_leavings(store, clock)
    [first] = handover_rows(store, leaving_day, leaving_day)
    assert (first.entry.value, first.entry_no, first.closing_estimated) == ("close_out", 0, True)
    refunded_fen = first.refunded_fen
    assert refunded_fen > 0

    # The real closing reading comes two days later, higher than the estimate: a settle-up.
    late_day = leaving_day + dt.timedelta(days=3)
    clock.set(local(late_day, 2))
    real_wh = register_wh(ACCOUNT, leaving_day) + 5_000
    queue_late_readings(store, {ACCOUNT: real_wh}, leaving_day)
    assert process_trueups(store, clock) == 1
    close_out_leavings(store, clock)

    # The same file again (the leaving day's range) now shows the close-out and the settle-up.
    rows = handover_rows(store, leaving_day, leaving_day)
    assert [(r.entry.value, r.entry_no) for r in rows] == [("close_out", 0), ("settle_up", 1)]
    assert rows[0] == first  # the close-out line as it was first handed over
    settle_up = rows[1]
    assert (settle_up.closing_wh, settle_up.closing_estimated) == (real_wh, False)
    assert settle_up.entry_day == late_day and settle_up.left_on == leaving_day
    moved_fen = settle_up.refunded_fen - settle_up.owed_fen
    with store.engine.connect() as conn:
        closing = conn.execute(text("SELECT balance_fen FROM leavings")).scalar()
    assert closing == refunded_fen + moved_fen and moved_fen != 0
    # The month's file of the day it was posted lists the settle-up alone.
    assert [r.entry_no for r in handover_rows(store, late_day, late_day)] == [1]
    assert handover_rows(store, late_day + dt.timedelta(days=1), late_day + dt.timedelta(30)) == []

    out = tmp_path / "handover.csv"
    code, said, err = cli(
        store, monkeypatch, capsys, "payouts", "handover",
        "--from", str(leaving_day), "--to", str(late_day), "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    with out.open(encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert [(r["entry"], r["entry_no"], r["entry_day"], r["reason"]) for r in lines] == [
        ("close_out", "0", str(leaving_day), "left"),
        ("settle_up", "1", str(late_day), "left"),
    ]
    assert lines[1]["closing_reading_kwh"] == format_kwh(real_wh)
    assert "1 settle-up" in " ".join(said.split())
    report = audit(store)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_a_refund_settle_up_after_a_hand_over_one_takes_the_next_number(store, clock):
    # Settle-up 1 hands over what a late reading added; a second correction then gives some
    # back: settle-up 2 refunds it (a refund's id "-1" was free, the number 1 was not).
    leaving_day = _leave_on_an_estimated_day(store, clock)
    close_out_leavings(store, clock)
    real_wh = register_wh(ACCOUNT, leaving_day) + 5_000  # more than estimated: owed
    queue_late_readings(store, {ACCOUNT: real_wh}, leaving_day)
    assert process_trueups(store, clock) == 1
    close_out_leavings(store, clock)
    credit = Transfer(
        id=f"adjust/{ACCOUNT}/{leaving_day}/test",
        debit_account_id=ADJUSTMENTS_ID,
        credit_account_id=customer_ledger_id(ACCOUNT),
        amount_fen=300,
        kind=TransferKind.ADJUSTMENT,
        account_id=ACCOUNT,
        day=leaving_day,
        ref="test",
        note="a later correction gives some back",
    )
    with store.unit_of_work() as uow:
        assert uow.ledger.post(credit, clock.now())
        uow.commit()
    assert close_out_leavings(store, clock) == []
    assert _balance(store) == 0
    rows = handover_rows(store, leaving_day, leaving_day)
    assert [(r.entry.value, r.entry_no) for r in rows] == [
        ("close_out", 0),
        ("settle_up", 1),
        ("settle_up", 2),
    ]
    assert rows[2].refunded_fen == 300 and rows[2].owed_fen == 0
    report = audit(store)
    assert report.ok, [c for c in report.checks if not c.ok]
