"""Staff roles enforced in the services, the audit log written with every write (and never
changed), shift closes, holds: each refusal leaves nothing written. Both engines."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.account_changes import ChangePhone
from gridpay.domain.actors import Actor, ActorKind, Role, cli_actor
from gridpay.domain.enrolment import Enrol
from gridpay.domain.payments import Reverse, TakePayment
from gridpay.errors import Conflict, Forbidden, InvalidInput, NotSignedIn, RateLimited, Refused
from gridpay.services import audit_trail, staff
from gridpay.services.account_changes import request_phone_change
from gridpay.services.enrolment import enrol, leave
from gridpay.services.payments import reverse, take_payment
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, execute, rows, scalar

SETTINGS = Settings()
ADMIN = cli_actor("root")
PASSWORD = "correct horse battery"
CLERK = Actor(ActorKind.STAFF, "li", Role.CLERK, 1)
CLERK_2 = Actor(ActorKind.STAFF, "wang", Role.CLERK, 2)
SUPERVISOR = Actor(ActorKind.STAFF, "zhao", Role.SUPERVISOR, 1)
SUPERVISOR_2 = Actor(ActorKind.STAFF, "sun", Role.SUPERVISOR, 2)
FINANCE = Actor(ActorKind.STAFF, "qian", Role.FINANCE, None)


@pytest.fixture
def people(store: SqlStore, clock: FakeClock) -> None:
    """Accounts 1 (office 1, prepaid), 2 (office 2, prepaid), 3 (office 1, postpaid); staff."""
    add_accounts(store, [1], office_id=1)
    add_accounts(store, [2], office_id=2)
    add_accounts(store, [3], office_id=1, billing_mode="postpaid")
    for who in (CLERK, CLERK_2, SUPERVISOR, SUPERVISOR_2, FINANCE):
        assert who.role is not None
        staff.add_staff(
            store,
            clock,
            username=who.id,
            display_name=who.id.title(),
            password=PASSWORD,
            role=who.role.value,
            office_id=who.office_id,
            actor=ADMIN,
        )


def audit_rows(store: SqlStore) -> list[tuple[object, ...]]:
    found = rows(
        store,
        "SELECT actor_kind, actor_id, action, account_id, subject, amount_fen FROM audit_log "
        "WHERE action NOT LIKE 'staff.%' ORDER BY id",
    )
    return [tuple(r) for r in found]


def transfers(store: SqlStore) -> int:
    return int(scalar(store, "SELECT count(*) FROM transfers"))


def pay(account_no: str, amount: str, ref: str, office: int = 1) -> TakePayment:
    return TakePayment(account_no, amount_yuan=amount, channel="counter", ref=ref, office_id=office)


# --- the audit log ---------------------------------------------------------------------


def test_a_payment_records_who_took_it_in_the_same_transaction(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    receipt = take_payment(store, clock, SETTINGS, pay("0000000001", "50", "C-1"), actor=CLERK)
    again = take_payment(store, clock, SETTINGS, pay("0000000001", "50", "C-1"), actor=CLERK)
    assert again.already_recorded
    # The retry wrote nothing, so it recorded nothing.
    assert audit_rows(store) == [
        ("staff", "li", "payment.take", 1, receipt.transfer.id, 5000),
    ]


def test_writes_without_an_actor_are_recorded_as_the_system(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    take_payment(store, clock, SETTINGS, pay("0000000001", "5", "C-9"))
    assert audit_rows(store)[0][:3] == ("system", "system", "payment.take")


def test_the_audit_log_cannot_be_updated_or_deleted_in_the_database(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    take_payment(store, clock, SETTINGS, pay("0000000001", "5", "C-2"), actor=CLERK)
    before = audit_rows(store)
    for sql in (
        "UPDATE audit_log SET actor_id = 'nobody'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            execute(store, sql)
    assert audit_rows(store) == before


def test_the_audit_log_is_searched_by_account_actor_and_action(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    take_payment(store, clock, SETTINGS, pay("0000000001", "5", "C-3"), actor=CLERK)
    take_payment(store, clock, SETTINGS, pay("0000000002", "6", "C-4", 2), actor=CLERK_2)
    by_account = audit_trail.search(store, account_no="0000000002")
    assert [(e.actor_label, e.amount_fen) for e in by_account] == [("staff:wang", 600)]
    by_actor = audit_trail.search(store, actor="staff:li", action="payment.")
    assert [e.subject for e in by_actor] == ["pay/counter/C-3"]
    since = audit_trail.search(store, since=clock.now() + dt.timedelta(seconds=1))
    assert since == []


def test_a_phone_in_the_audit_detail_is_masked(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    request_phone_change(
        store,
        clock,
        SETTINGS,
        ChangePhone("0000000001", "13712345678", "li", "new phone"),
        actor=CLERK,
    )
    (detail,) = [e.detail for e in audit_trail.search(store, action="account.request_phone")]
    assert detail is not None and "137****5678" in detail and "13712345678" not in detail


# --- roles, refused with nothing written ------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "account_no", "office", "message"),
    [
        (CLERK, "0000000002", 2, "belongs to office 2"),  # another office's household
        (CLERK, "0000000001", 2, "the counter of office 2"),  # another office's counter
        (FINANCE, "0000000001", 1, "needs a clerk or a supervisor"),
    ],
)
def test_staff_outside_their_office_or_role_cannot_take_a_payment(
    store: SqlStore,
    clock: FakeClock,
    people: None,
    actor: Actor,
    account_no: str,
    office: int,
    message: str,
) -> None:
    with pytest.raises(Forbidden, match=message):
        take_payment(store, clock, SETTINGS, pay(account_no, "5", "C-5", office), actor=actor)
    assert transfers(store) == 0
    assert audit_rows(store) == []


def test_a_clerk_cannot_enrol_leave_or_change_another_offices_household(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    add_accounts(store, [4], office_id=2, billing_mode="postpaid")
    with pytest.raises(Forbidden):
        enrol(store, clock, SETTINGS, Enrol("0000000004", office_id=2), actor=CLERK)
    with pytest.raises(Forbidden):
        leave(store, clock, SETTINGS, "0000000002", actor=CLERK)
    with pytest.raises(Forbidden):
        request_phone_change(
            store,
            clock,
            SETTINGS,
            ChangePhone("0000000002", "13712345678", "li", "x"),
            actor=CLERK,
        )
    assert scalar(store, "SELECT count(*) FROM enrolments") == 0
    assert scalar(store, "SELECT count(*) FROM phone_changes") == 0
    assert audit_rows(store) == []


def test_a_clerk_enrols_their_own_office_household_and_it_is_recorded(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    receipt = enrol(store, clock, SETTINGS, Enrol("0000000003", office_id=1), actor=CLERK)
    assert audit_rows(store) == [
        ("staff", "li", "enrolment.enrol", 3, f"enrolment/{receipt.enrolment_id}", None)
    ]


def test_a_hold_on_a_cut_needs_a_supervisor_of_the_office_and_a_reason(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    with pytest.raises(Forbidden, match="needs a supervisor"):
        staff.hold_cut(store, clock, "0000000001", "hardship", actor=CLERK)
    with pytest.raises(Forbidden, match="belongs to office 1"):
        staff.hold_cut(store, clock, "0000000001", "hardship", actor=SUPERVISOR_2)
    with pytest.raises(InvalidInput, match="reason is required"):
        staff.hold_cut(store, clock, "0000000001", "  ", actor=SUPERVISOR)
    assert scalar(store, "SELECT count(*) FROM protections") == 0
    assert audit_rows(store) == []
    staff.hold_cut(store, clock, "0000000001", "promised to pay Friday", actor=SUPERVISOR)
    assert rows(store, "SELECT reason, note FROM protections") == [
        ("held", "promised to pay Friday")
    ]
    assert audit_rows(store) == [("staff", "zhao", "credit.hold_cut", 1, None, None)]
    with pytest.raises(Refused, match="never cut already"):
        staff.hold_cut(store, clock, "0000000001", "again", actor=SUPERVISOR)


# --- the shift ---------------------------------------------------------------------------


def test_a_shift_close_counts_the_clerks_own_counter_cash_since_the_last_close(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    take_payment(store, clock, SETTINGS, pay("0000000001", "100", "C-10"), actor=CLERK)
    take_payment(store, clock, SETTINGS, pay("0000000001", "20.50", "C-11"), actor=CLERK)
    take_payment(store, clock, SETTINGS, pay("0000000001", "7", "C-12"), actor=SUPERVISOR)
    take_payment(store, clock, SETTINGS, pay("0000000001", "9", "B-1"))  # not at a counter
    reverse(store, clock, Reverse("pay/counter/C-11"), actor=CLERK)
    so_far = staff.shift_so_far(store, CLERK)
    assert (so_far.taken.payments, so_far.taken.amount_fen) == (2, 10000)
    closed = staff.close_shift(store, clock, "100", None, actor=CLERK)
    assert (closed.ledger_fen, closed.counted_fen, closed.difference_fen) == (10000, 10000, 0)
    assert not closed.needs_supervisor
    # The next shift starts after the close.
    take_payment(store, clock, SETTINGS, pay("0000000001", "30", "C-13"), actor=CLERK)
    short = staff.close_shift(store, clock, "25", "a note fell", actor=CLERK)
    assert (short.ledger_fen, short.difference_fen, short.needs_supervisor) == (3000, -500, True)


def test_a_shift_difference_is_explained_by_a_supervisor_of_that_office_only(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    take_payment(store, clock, SETTINGS, pay("0000000001", "30", "C-20"), actor=CLERK)
    short = staff.close_shift(store, clock, "25", None, actor=CLERK)
    for who, error in ((CLERK, Forbidden), (SUPERVISOR_2, Forbidden), (FINANCE, Forbidden)):
        with pytest.raises(error):
            staff.explain_shift(store, clock, short.id, "counted again", actor=who)
    assert scalar(store, "SELECT count(*) FROM audit_log WHERE action = 'shift.explain'") == 0
    explained = staff.explain_shift(store, clock, short.id, "5 yuan change given", actor=SUPERVISOR)
    assert (explained.explained_by, explained.needs_supervisor) == ("zhao", False)
    with pytest.raises(Conflict):
        staff.explain_shift(store, clock, short.id, "again", actor=SUPERVISOR)


def test_finance_cannot_close_a_shift(store: SqlStore, clock: FakeClock, people: None) -> None:
    with pytest.raises(Forbidden):
        staff.close_shift(store, clock, "0", None, actor=FINANCE)
    assert scalar(store, "SELECT count(*) FROM shift_closes") == 0


# --- signing in ------------------------------------------------------------------------


def test_signing_in_gives_a_session_whose_token_is_stored_hashed(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    signed = staff.sign_in(store, clock, "li", PASSWORD, "127.0.0.1")
    assert staff.signed_in(store, clock, signed.token) == signed.member
    assert (
        scalar(store, "SELECT count(*) FROM staff_sessions WHERE token_hash = :t", t=signed.token)
        == 0
    )
    staff.sign_out(store, clock, signed.token)
    assert staff.signed_in(store, clock, signed.token) is None


def test_failed_sign_ins_are_rate_limited_even_with_the_right_password(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    for _ in range(5):
        with pytest.raises(NotSignedIn, match="wrong username or password"):
            staff.sign_in(store, clock, "li", "wrong password!", "10.0.0.1")
    with pytest.raises(RateLimited):
        staff.sign_in(store, clock, "li", PASSWORD, "10.0.0.2")
    clock.advance(minutes=16)
    assert staff.sign_in(store, clock, "li", PASSWORD, "10.0.0.2").member.username == "li"


def test_a_disabled_member_is_signed_out_and_cannot_sign_in(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    signed = staff.sign_in(store, clock, "li", PASSWORD, "127.0.0.1")
    staff.disable_staff(store, clock, "li", actor=ADMIN)
    assert staff.signed_in(store, clock, signed.token) is None
    with pytest.raises(NotSignedIn):
        staff.sign_in(store, clock, "li", PASSWORD, "127.0.0.1")


def test_a_clerk_needs_an_office_and_finance_has_none(store: SqlStore, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="give --office"):
        staff.add_staff(
            store,
            clock,
            username="a",
            display_name="A",
            password=PASSWORD,
            role="clerk",
            office_id=None,
            actor=ADMIN,
        )
    with pytest.raises(InvalidInput, match="has no office"):
        staff.add_staff(
            store,
            clock,
            username="b",
            display_name="B",
            password=PASSWORD,
            role="finance",
            office_id=1,
            actor=ADMIN,
        )
    assert scalar(store, "SELECT count(*) FROM staff") == 0


def test_an_admin_without_an_office_has_no_shift_to_close(
    store: SqlStore, clock: FakeClock, people: None
) -> None:
    staff.add_staff(
        store, clock, username="boss", display_name="Boss", password=PASSWORD, role="admin",
        office_id=None, actor=ADMIN,
    )  # fmt: skip
    boss = Actor(ActorKind.STAFF, "boss", Role.ADMIN, None)
    with pytest.raises(Forbidden, match="has no office"):
        staff.close_shift(store, clock, "0", None, actor=boss)
    assert scalar(store, "SELECT count(*) FROM shift_closes") == 0


_refs = iter(range(1_000_000))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["li", "zhao"]),
            st.sampled_from(["pay", "reverse", "close"]),
            st.integers(min_value=1, max_value=500_000),
        ),
        max_size=12,
    )
)
def test_a_shift_close_always_counts_exactly_the_clerks_net_counter_cash_since_the_last(
    store: SqlStore, clock: FakeClock, people: None, steps: list[tuple[str, str, int]]
) -> None:
    actors = {"li": CLERK, "zhao": SUPERVISOR}
    for actor in actors.values():  # each example starts from a closed shift
        staff.close_shift(store, clock, "0", None, actor=actor)
    expected = dict.fromkeys(actors, 0)
    taken: dict[str, list[tuple[str, int]]] = {name: [] for name in actors}
    for name, step, amount_fen in steps:
        actor = actors[name]
        if step == "pay":
            ref = f"P-{next(_refs)}"
            yuan = f"{amount_fen // 100}.{amount_fen % 100:02d}"
            take_payment(store, clock, SETTINGS, pay("0000000001", yuan, ref), actor=actor)
            taken[name].append((f"pay/counter/{ref}", amount_fen))
            expected[name] += amount_fen
        elif step == "reverse" and taken[name]:
            transfer_id, reversed_fen = taken[name].pop()
            reverse(store, clock, Reverse(transfer_id), actor=actor)
            expected[name] -= reversed_fen
        elif step == "close":
            closed = staff.close_shift(store, clock, "0", None, actor=actor)
            assert closed.ledger_fen == expected[name]
            expected[name] = 0
            taken[name] = []
    for name, actor in actors.items():
        assert staff.shift_so_far(store, actor).taken.amount_fen == expected[name]
