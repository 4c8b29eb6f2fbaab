"""Enrolling, leaving, contacts and protection against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.enrolment import AddContact, Enrol, OpeningPayment, Protect
from gridpay.domain.ledger import RECEIVABLES_ID, REFUNDS_ID
from gridpay.domain.payments import TakePayment
from gridpay.errors import InvalidInput, NotFound, Refused
from gridpay.services.audit import LEDGER_CHECKS, audit
from gridpay.services.enrolment import (
    add_contact,
    enrol,
    leave,
    list_contacts,
    protect,
)
from gridpay.services.payments import take_payment
from tests.concurrency import race
from tests.fakes import FakeClock
from tests.helpers_accounts import (
    add_accounts,
    balance_fen,
    execute,
    rows,
    scalar,
    settle_day_by_hand,
)
from tests.integration.settle_helpers import add_city

SETTINGS = Settings()
A = "0000000001"


@pytest.fixture
def postpaid(store: SqlStore) -> list[int]:
    """Accounts 1 and 2 (direct supply, postpaid, office 1) and 3 (non-direct supply)."""
    add_accounts(store, [1, 2, 3], billing_mode="postpaid")
    execute(store, "UPDATE accounts SET supply_type = 'non_direct' WHERE id = 3")
    return [1, 2, 3]


def messages(store: SqlStore) -> list[tuple[object, ...]]:
    found = rows(
        store,
        "SELECT kind, account_id, phone, language, dedupe_key, body FROM messages ORDER BY id",
    )
    return [tuple(r) for r in found]


def enrolments(store: SqlStore) -> list[tuple[object, ...]]:
    found = rows(
        store,
        "SELECT account_id, channel, office_id, enrolled_on, left_on FROM enrolments ORDER BY id",
    )
    return [tuple(str(v) if isinstance(v, dt.date) else v for v in r) for r in found]


def billing_mode(store: SqlStore, account_id: int) -> str:
    return str(scalar(store, "SELECT billing_mode FROM accounts WHERE id = :id", id=account_id))


def assert_books_balance(store: SqlStore) -> None:
    # The ledger checks of ``gridpay audit``; the re-pricing check needs meter readings, which
    # these hand-settled days do not have.
    report = audit(store, LEDGER_CHECKS)
    assert report.ok, report.failed_checks


# --- enrolling ----------------------------------------------------------------------------


def test_enrolling_at_an_office_makes_the_account_prepaid_and_queues_the_agreement_sms(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    receipt = enrol(store, clock, SETTINGS, Enrol(A, office_id=3))
    assert not receipt.already_recorded
    assert receipt.sms_queued
    assert (receipt.channel, receipt.office_id, receipt.enrolled_on) == ("office", 3, clock.today())
    assert receipt.opening_payment is None
    assert billing_mode(store, 1) == "prepaid"
    assert enrolments(store) == [(1, "office", 3, str(clock.today()), None)]
    ((kind, account_id, phone, language, key, body),) = messages(store)
    assert (kind, account_id, phone, language) == ("agreement", 1, "13900000001", "zh")
    assert key == f"agreement/0000000001/{receipt.enrolment_id}/13900000001"
    assert "0000000001" in body and "国网河南省电力公司" in body
    assert [(c.phone, c.role, c.language) for c in receipt.contacts] == [
        ("13900000001", "customer", "zh")
    ]


def test_enrolling_online_records_no_office_and_speaks_the_chosen_language(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    receipt = enrol(
        store, clock, SETTINGS, Enrol(A, online=True, phone="13811112222", language="en")
    )
    assert (receipt.channel, receipt.office_id) == ("online", None)
    ((kind, _, phone, language, _, body),) = messages(store)
    assert (kind, phone, language) == ("agreement", "13811112222", "en")
    assert "State Grid Henan Electric Power Company" in body
    assert "0000000001" in body


def test_a_non_direct_supply_account_is_refused_with_the_reason_and_nothing_is_written(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    with pytest.raises(Refused, match="meter in the home is not the company's"):
        enrol(store, clock, SETTINGS, Enrol("0000000003", office_id=1))
    assert enrolments(store) == []
    assert messages(store) == []
    assert billing_mode(store, 3) == "postpaid"


@pytest.mark.parametrize(
    ("cmd", "error", "message"),
    [
        (Enrol("0000000099", office_id=1), NotFound, "account 0000000099 does not exist"),
        (Enrol(A, office_id=7), InvalidInput, "unknown office 7"),
        (
            Enrol(A, office_id=1, opening=OpeningPayment("-5", "counter", "C-1")),
            InvalidInput,
            "amount must be positive",
        ),
    ],
)
def test_a_wrong_enrolment_writes_nothing(
    store: SqlStore,
    clock: FakeClock,
    postpaid: list[int],
    cmd: Enrol,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        enrol(store, clock, SETTINGS, cmd)
    assert enrolments(store) == []
    assert messages(store) == []


def test_enrolling_again_returns_the_agreement_in_force_and_writes_nothing(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    first = enrol(store, clock, SETTINGS, Enrol(A, office_id=2))
    clock.advance(days=1)
    again = enrol(store, clock, SETTINGS, Enrol(A, online=True, phone="13700000000"))
    assert again.already_recorded
    assert not again.sms_queued
    assert (again.enrolment_id, again.channel, again.office_id) == (first.enrolment_id, "office", 2)
    assert again.enrolled_on == first.enrolled_on
    assert len(enrolments(store)) == 1
    assert len(messages(store)) == 1
    assert scalar(store, "SELECT COUNT(*) FROM contacts") == 1


def test_trusted_contact_and_protection_are_recorded_with_the_agreement(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    cmd = Enrol(
        A,
        office_id=1,
        trusted_phone="13600000001",
        trusted_name="Li Na",
        trusted_language="en",
        protected="medical",
    )
    receipt = enrol(store, clock, SETTINGS, cmd)
    assert receipt.protection == "medical"
    assert [(c.phone, c.role, c.language, c.name) for c in receipt.contacts] == [
        ("13900000001", "customer", "zh", None),
        ("13600000001", "trusted", "en", "Li Na"),
    ]
    assert scalar(store, "SELECT reason FROM protections WHERE account_id = 1") == "medical"
    assert len(messages(store)) == 1  # SMS 1 goes to the customer only


def test_an_opening_payment_is_taken_after_the_enrolment(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    cmd = Enrol(A, office_id=4, opening=OpeningPayment("50", "counter", "OPEN-1"))
    receipt = enrol(store, clock, SETTINGS, cmd)
    assert receipt.opening_payment is not None
    assert receipt.opening_payment.transfer.id == "pay/counter/OPEN-1"
    assert receipt.opening_payment.transfer.office_id == 4
    assert receipt.opening_payment.balance_fen == 5_000
    retry = enrol(store, clock, SETTINGS, cmd)
    assert retry.already_recorded
    assert retry.opening_payment is not None and retry.opening_payment.already_recorded
    assert balance_fen(store, 1) == 5_000


def test_an_account_without_a_phone_must_be_given_one(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    execute(store, "UPDATE accounts SET phone = NULL WHERE id = 1")
    with pytest.raises(InvalidInput, match="has no phone"):
        enrol(store, clock, SETTINGS, Enrol(A, office_id=1))
    assert enrol(store, clock, SETTINGS, Enrol(A, office_id=1, phone="13500000000")).sms_queued


# --- leaving ------------------------------------------------------------------------------


def _settle_without_charge(store: SqlStore, day: dt.date) -> None:
    """Account 1's day settled with nothing used (so a leave that day closes out at once)."""
    settle_day_by_hand(store, 1, day, energy_wh=0, charge_fen=0, ytd_wh=0, ytd_charged_fen=0)


def _enrol_and_pay(store: SqlStore, clock: FakeClock, amount: str) -> None:
    enrol(store, clock, SETTINGS, Enrol(A, office_id=1))
    take_payment(store, clock, SETTINGS, TakePayment(A, amount, "bank", "TX-1"))


def test_leaving_refunds_the_balance_by_a_transfer_and_the_books_still_balance(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    _enrol_and_pay(store, clock, "80")
    settle_day_by_hand(
        store,
        1,
        clock.today(),
        energy_wh=10_000,
        charge_fen=560,
        ytd_wh=10_000,
        ytd_charged_fen=560,
    )
    # The leaving day is settled already: the agreement is closed out at once.
    receipt = leave(store, clock, SETTINGS, A, "moving away")
    assert receipt.closed_out
    assert receipt.refund is not None
    assert receipt.refund.amount_fen == 8_000 - 560
    assert receipt.refund.id == f"refund/leave-0000000001-{receipt.enrolment_id}"
    assert (receipt.balance_fen, receipt.debt_fen) == (0, 0)
    assert receipt.left_on == clock.today()
    assert not receipt.reconnect_queued
    assert balance_fen(store, 1) == 0
    assert balance_fen(store, REFUNDS_ID) == 8_000 - 560
    assert billing_mode(store, 1) == "postpaid"
    assert enrolments(store)[0][-1] == str(clock.today())
    left = [m for m in messages(store) if m[0] == "left"]
    assert len(left) == 1 and receipt.sms_queued == 1
    assert "74.40" in str(left[0][5])
    assert_books_balance(store)


def test_leaving_with_a_negative_balance_hands_the_debt_to_monthly_billing(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    _enrol_and_pay(store, clock, "5")
    settle_day_by_hand(
        store,
        1,
        clock.today(),
        energy_wh=20_000,
        charge_fen=1_120,
        ytd_wh=20_000,
        ytd_charged_fen=1_120,
    )
    receipt = leave(store, clock, SETTINGS, A)
    assert receipt.refund is None and receipt.closed_out
    assert (receipt.balance_fen, receipt.debt_fen) == (0, 620)
    assert balance_fen(store, 1) == 0
    assert balance_fen(store, RECEIVABLES_ID) == -620  # an asset: owed to the company
    assert scalar(store, "SELECT COUNT(*) FROM transfers WHERE kind = 'refund'") == 0
    assert scalar(store, "SELECT id FROM transfers WHERE kind = 'handover'") == (
        f"handover/leave-0000000001-{receipt.enrolment_id}"
    )
    assert_books_balance(store)


def test_leaving_an_account_that_is_not_enrolled_is_refused(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    with pytest.raises(Refused, match="not enrolled in smart payment: there is nothing to leave"):
        leave(store, clock, SETTINGS, A)
    enrol(store, clock, SETTINGS, Enrol(A, office_id=1))
    leave(store, clock, SETTINGS, A)
    with pytest.raises(Refused, match=f"it left on {clock.today().isoformat()}"):
        leave(store, clock, SETTINGS, A)
    # Prepaid to the end of the leaving day: the night settles it, then closes it out.
    assert billing_mode(store, 1) == "prepaid"
    with pytest.raises(Refused, match="that day is not settled yet"):
        enrol(store, clock, SETTINGS, Enrol(A, office_id=1))


def test_leaving_then_enrolling_again_sends_the_agreement_sms_again(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    first = enrol(store, clock, SETTINGS, Enrol(A, office_id=1))
    _settle_without_charge(store, clock.today())
    leave(store, clock, SETTINGS, A)
    clock.advance(days=2)
    second = enrol(store, clock, SETTINGS, Enrol(A, online=True))
    assert not second.already_recorded and second.sms_queued
    assert second.enrolment_id != first.enrolment_id
    assert [m[0] for m in messages(store)] == ["agreement", "left", "agreement"]
    assert len(enrolments(store)) == 2
    assert billing_mode(store, 1) == "prepaid"


def test_leaving_while_cut_off_queues_a_reconnect_and_cancels_a_queued_cut(
    store: SqlStore, clock: FakeClock
) -> None:
    (account_id,) = add_city(store, 1, first_id=5)
    account_no = f"{account_id:010d}"
    enrol(store, clock, SETTINGS, Enrol(account_no, office_id=1))
    now = clock.now()
    execute(
        store,
        "INSERT INTO credit_state (account_id, state, cycle, supply, updated_at) "
        "VALUES (:id, 'disconnected', 2, 'off', :at)",
        id=account_id,
        at=now,
    )
    execute(
        store,
        "INSERT INTO meter_commands (correlation_id, account_id, meter_id, action, priority, "
        "state, created_at) VALUES ('disconnect/x/3', :id, 1, 'disconnect', 5, 'queued', :at)",
        id=account_id,
        at=now,
    )
    receipt = leave(store, clock, SETTINGS, account_no)
    assert receipt.reconnect_queued
    found = rows(
        store, "SELECT correlation_id, meter_id, action, priority, state FROM meter_commands"
    )
    assert sorted(tuple(r) for r in found) == [
        ("disconnect/x/3", 1, "disconnect", 5, "cancelled"),
        (f"reconnect/{account_no}/2", 100_000_000_005, "reconnect", 0, "queued"),
    ]


# --- contacts and protection --------------------------------------------------------------


def test_a_trusted_contact_is_added_once(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    added = add_contact(store, clock, AddContact(A, "13600000009", "trusted", "en", "Wang"))
    assert added.added
    again = add_contact(store, clock, AddContact(A, "13600000009", "trusted", "zh"))
    assert again.added is False
    listed = list_contacts(store, A)
    assert [(c.phone, c.role, c.language) for c in listed.contacts] == [
        ("13600000009", "trusted", "en")
    ]


def test_a_protection_is_set_changed_and_cleared(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    assert protect(store, clock, Protect(A, "elderly_alone", "lives alone")).changed
    assert not protect(store, clock, Protect(A, "elderly_alone", "lives alone")).changed
    assert protect(store, clock, Protect(A, "medical")).changed
    assert scalar(store, "SELECT reason FROM protections WHERE account_id = 1") == "medical"
    cleared = protect(store, clock, Protect(A, None))
    assert cleared.changed and cleared.reason is None
    assert scalar(store, "SELECT COUNT(*) FROM protections") == 0
    assert not protect(store, clock, Protect(A, None)).changed


# --- at the same moment -------------------------------------------------------------------


def test_two_clerks_enrolling_one_account_at_once_leave_one_agreement_and_one_sms(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    receipts, errors = race(
        6, lambda i: enrol(store, clock, SETTINGS, Enrol(A, office_id=1 + i % 6))
    )
    assert errors == []
    assert sum(not r.already_recorded for r in receipts) == 1
    assert len({r.enrolment_id for r in receipts}) == 1
    assert len(enrolments(store)) == 1
    assert len(messages(store)) == 1


def test_two_leaves_at_once_refund_the_balance_once(
    store: SqlStore, clock: FakeClock, postpaid: list[int]
) -> None:
    _enrol_and_pay(store, clock, "40")
    _settle_without_charge(store, clock.today())
    receipts, errors = race(4, lambda i: leave(store, clock, SETTINGS, A))
    assert len(receipts) == 1
    assert len(errors) == 3 and all(isinstance(e, Refused) for e in errors)
    assert balance_fen(store, 1) == 0
    assert balance_fen(store, REFUNDS_ID) == 4_000
    assert_books_balance(store)
