"""An account that left smart payment keeps the books of its agreement's days: a late reading
still trues them up, and the audit still proves them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from gridpay.config import Settings
from gridpay.domain.enrolment import Enrol
from gridpay.services.audit import audit
from gridpay.services.enrolment import enrol, leave
from gridpay.services.leaving import close_out_leavings
from gridpay.services.settlement import process_trueups, settle_day
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
    add_city(store, 1)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid'"))
    clock.set(local(D0, 10))
    enrol(store, clock, Settings(), Enrol(f"{ACCOUNT:010d}", office_id=1))
    add_readings(store, [ACCOUNT], D0 - dt.timedelta(days=1))
    add_readings(store, [ACCOUNT], D0)
    clock.set(local(D0 + dt.timedelta(days=1), 2))
    settle_day(store, clock, D0)
    leaving_day = D0 + dt.timedelta(days=1)
    clock.set(local(leaving_day, 10))
    leave(store, clock, Settings(), f"{ACCOUNT:010d}")
    clock.set(local(leaving_day + dt.timedelta(days=1), 2))
    settle_day(store, clock, leaving_day)  # no reading yet: the leaving day is estimated
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


def _balance(store) -> int:
    with store.unit_of_work() as uow:
        return uow.ledger.balance_fen(ACCOUNT)
