"""Account changes at the counter: a tariff from a day on (the tier year continues), a phone."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gridpay import limits
from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.account_changes import ChangeOwner, ChangePhone, ChangeTariff, ConfirmPhone
from gridpay.domain.commands import COMMAND_SCHEMA
from gridpay.domain.enrolment import Enrol
from gridpay.domain.ledger import RECEIVABLES_ID
from gridpay.domain.money import fen_from_nyuan, format_fen
from gridpay.domain.payments import TakePayment
from gridpay.domain.tariff import day_cost_nyuan, parse_tariff, tariff_in_force
from gridpay.errors import Conflict, InvalidInput, NotFound, Refused
from gridpay.services.account_changes import (
    PhoneConfirmation,
    change_owner,
    change_tariff,
    confirm_phone_change,
    owner_changes,
    request_phone_change,
    tariff_changes,
)
from gridpay.services.audit import audit
from gridpay.services.credit import Policy, judge_all
from gridpay.services.enrolment import enrol, leave
from gridpay.services.leaving import handover_rows
from gridpay.services.payments import take_payment
from gridpay.services.queries import account_show
from gridpay.services.settlement import settle_range
from tests.fakes import FakeClock
from tests.integration.credit_helpers import local
from tests.integration.settle_helpers import METER_BASE, add_city, add_readings, register_wh

TIERED = "henan-residential-tiered"
# The same tiers at a higher base price: a change between the two shows the tier year going on.
TIERED_B = "test-residential-tiered-b"
SEEDED_ON = dt.date(2026, 11, 30)
YTD_SEEDED_WH = 3_050_000  # 70 kWh below tier 3 (3,120 kWh a year)
CHANGE_ON = dt.date(2026, 12, 5)
LAST = dt.date(2026, 12, 10)


def _rows(store: SqlStore, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


_TARIFF_B_TOML = f"""
code = "{TIERED_B}"
name = "test tiered, higher base"
effective_from = 2020-01-01

[prices]
all = "0.61"

[[bands]]
from_kwh = 2160
to_kwh = 3120
surcharge = "0.05"

[[bands]]
from_kwh = 3120
surcharge = "0.30"
"""


def _save_tariff_b(store: SqlStore, clock: FakeClock) -> None:
    with store.unit_of_work() as uow:
        tariff = parse_tariff(tomllib.loads(_TARIFF_B_TOML))
        uow.registry.save_tariff(tariff, _TARIFF_B_TOML, clock.now())
        uow.commit()


def _seed_year_so_far(store: SqlStore, account_id: int) -> None:
    """A settled day with the household 3,050 kWh into its year (as if settled all year)."""
    reading_wh = register_wh(account_id, SEEDED_ON)
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.execute(
            schema.daily_usage.insert().values(
                day=SEEDED_ON,
                account_id=account_id,
                meter_id=METER_BASE + account_id,
                tariff_code=TIERED,
                estimated=False,
                reading_wh=reading_wh,
                last_real_day=SEEDED_ON,
                last_real_wh=reading_wh,
                energy_wh=10_000,
                charge_fen=0,
                ytd_wh=YTD_SEEDED_WH,
                ytd_cost_nyuan=0,
                ytd_charged_fen=0,
                window_energy_wh=0,
                window_charge_fen=0,
                window_days=0,
                starts_run=True,
            )
        )
        uow.commit()


def _change(account_no: str = "0000000001", **kw: Any) -> ChangeTariff:
    values: dict[str, Any] = {
        "account_no": account_no,
        "tariff_code": TIERED_B,
        "from_day": CHANGE_ON,
        "changed_by": "clerk-17",
        "reason": "household asked for the other tariff (form 2026-118)",
        **kw,
    }
    return ChangeTariff(**values)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def test_a_settle_across_a_tariff_change_charges_each_day_at_its_tariff_the_tier_year_going_on(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_city(store, 2)
    _save_tariff_b(store, clock)
    for account_id in ids:
        _seed_year_so_far(store, account_id)
    for day in _days(SEEDED_ON + dt.timedelta(days=1), LAST):
        add_readings(store, ids, day)
    clock.set(local(dt.date(2026, 12, 1), 10))
    receipt = change_tariff(store, clock, _change())
    assert (receipt.old_tariff_code, receipt.already_recorded) == (TIERED, False)

    clock.set(local(LAST + dt.timedelta(days=1), 2))
    settle_range(store, clock, SEEDED_ON + dt.timedelta(days=1), LAST)

    with store.unit_of_work() as uow:
        tariffs = uow.registry.tariffs()
    for account_id in ids:
        rows = _rows(
            store,
            "SELECT day, tariff_code, energy_wh, charge_fen, ytd_wh FROM daily_usage "
            "WHERE account_id = :a AND day > :s ORDER BY day",
            a=account_id,
            s=SEEDED_ON,
        )
        # The reference: each day at the tariff in force for it, the year-to-date going on.
        ytd_wh, cost_nyuan, charged_fen = YTD_SEEDED_WH, 0, 0
        for day, code, energy_wh, charge_fen, stored_ytd_wh in rows:
            expected_code = TIERED_B if account_id == 1 and str(day) >= str(CHANGE_ON) else TIERED
            assert code == expected_code, day
            assert energy_wh == register_wh(account_id, _date(day)) - register_wh(
                account_id, _date(day) - dt.timedelta(days=1)
            )
            tariff = tariff_in_force(tariffs, code, _date(day))
            cost_nyuan += day_cost_nyuan(tariff, ytd_wh, energy_wh)
            ytd_wh += energy_wh
            assert stored_ytd_wh == ytd_wh  # the tier year never restarts
            assert charge_fen == fen_from_nyuan(cost_nyuan) - charged_fen, day
            charged_fen = fen_from_nyuan(cost_nyuan)
        assert len(rows) == (LAST - SEEDED_ON).days
        assert ytd_wh > 3_120_000  # the range crosses into tier 3
    # After the change, account 1 pays the new base price with the tier 3 surcharge.
    day_after = _rows(
        store,
        "SELECT energy_wh, charge_fen FROM daily_usage WHERE account_id = 1 AND day = :d",
        d=LAST,
    )[0]
    assert abs(day_after[1] - day_after[0] * (61 + 30) / 1000) <= 1
    assert audit(store).ok


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def test_a_change_of_tariff_is_recorded_with_who_and_why_and_a_retry_is_a_no_op(
    store: SqlStore, clock: FakeClock
) -> None:
    add_city(store, 1)
    _save_tariff_b(store, clock)

    first = change_tariff(store, clock, _change())
    again = change_tariff(store, clock, _change(reason="typed twice"))

    assert again.already_recorded and again.change == first.change
    (change,) = tariff_changes(store, "0000000001")
    assert (change.tariff_code, change.from_day, change.changed_by) == (
        TIERED_B,
        CHANGE_ON,
        "clerk-17",
    )
    assert change.reason == "household asked for the other tariff (form 2026-118)"
    assert change.changed_at == clock.now()
    with pytest.raises(Conflict, match="already changes to tariff"):
        change_tariff(store, clock, _change(tariff_code="henan-residential-shared"))


def test_a_change_of_tariff_cannot_reach_back_into_settled_days(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_city(store, 1)
    _save_tariff_b(store, clock)
    _seed_year_so_far(store, 1)
    for day in _days(SEEDED_ON + dt.timedelta(days=1), CHANGE_ON):
        add_readings(store, ids, day)
    clock.set(local(CHANGE_ON + dt.timedelta(days=1), 2))
    settle_range(store, clock, SEEDED_ON + dt.timedelta(days=1), CHANGE_ON)

    with pytest.raises(Refused, match="settled up to 2026-12-05"):
        change_tariff(store, clock, _change())
    receipt = change_tariff(store, clock, _change(from_day=CHANGE_ON + dt.timedelta(days=1)))
    assert receipt.change.from_day == dt.date(2026, 12, 6)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"changed_by": " "}, InvalidInput, "who makes the change"),
        ({"reason": ""}, InvalidInput, "why the account changes"),
        ({"tariff_code": "no-such-tariff"}, InvalidInput, "no version of tariff"),
        ({"tariff_code": TIERED}, Refused, "already on tariff"),
        ({"account_no": "0000000009"}, NotFound, "does not exist"),
    ],
)
def test_a_change_of_tariff_names_what_is_wrong(
    store: SqlStore, clock: FakeClock, kw: dict[str, Any], error: type[Exception], match: str
) -> None:
    add_city(store, 1)
    _save_tariff_b(store, clock)
    with pytest.raises(error, match=match):
        change_tariff(store, clock, _change(**kw))
    assert tariff_changes(store, "0000000001") == []


# --- change of phone ---------------------------------------------------------------------------

OLD_PHONE = "13800000001"  # add_city's phone of account 1
NEW_PHONE = "13912345678"


def _enrolled(store: SqlStore, clock: FakeClock) -> None:
    add_city(store, 1)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid' WHERE id = 1"))
    enrol(store, clock, Settings(), Enrol("0000000001", office_id=1))


def _ask(store: SqlStore, clock: FakeClock, phone: str = NEW_PHONE) -> str:
    """Ask for the change; the code as the new phone receives it."""
    receipt = request_phone_change(
        store, clock, Settings(), ChangePhone("0000000001", phone, "clerk-17", "lost her phone")
    )
    assert receipt.code_sent and receipt.new_phone == phone
    bodies = _rows(
        store,
        "SELECT body FROM messages WHERE kind = 'phone_code' AND phone = :p ORDER BY id DESC",
        p=phone,
    )
    match = re.search(r"验证码(\d{6})", bodies[0][0])
    assert match is not None
    return match.group(1)


def _confirm(store: SqlStore, clock: FakeClock, code: str) -> PhoneConfirmation:
    return confirm_phone_change(store, clock, ConfirmPhone("0000000001", code))


def _customer_phone(store: SqlStore) -> str:
    with store.reader() as uow:
        contacts = uow.enrolment.contacts(1)
        account = uow.registry.account(1)
    assert account is not None
    (customer,) = [c.phone for c in contacts if c.role.value == "customer"]
    assert account.phone == customer
    return customer


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_new_phone_gets_a_code_and_nothing_else_until_it_is_confirmed(
    store: SqlStore, clock: FakeClock
) -> None:
    _enrolled(store, clock)
    code = _ask(store, clock)

    # The code went to the new number only, and is not kept in the clear.
    assert _rows(store, "SELECT phone FROM messages WHERE kind = 'phone_code'") == [(NEW_PHONE,)]
    (stored,) = _rows(store, "SELECT code_hash, status, requested_by, reason FROM phone_changes")
    assert code not in stored[0] and stored[1:] == ("pending", "clerk-17", "lost her phone")
    # Until confirmed, the account's messages still go to the old number.
    assert _customer_phone(store) == OLD_PHONE
    clock.advance(minutes=1)
    leave(store, clock, Settings(), "0000000001")
    left = _rows(store, "SELECT phone FROM messages WHERE kind = 'left'")
    assert left == [(OLD_PHONE,)]

    confirmed = _confirm(store, clock, code)

    assert (confirmed.old_phone, confirmed.new_phone) == (OLD_PHONE, NEW_PHONE)
    assert _customer_phone(store) == NEW_PHONE
    with pytest.raises(NotFound, match="no change of phone waiting"):
        _confirm(store, clock, code)  # used once
    (done,) = _rows(store, "SELECT status, confirmed_at FROM phone_changes")
    assert done[0] == "confirmed" and done[1] is not None


def test_a_phone_code_expires(store: SqlStore, clock: FakeClock) -> None:
    _enrolled(store, clock)
    code = _ask(store, clock)
    clock.advance(seconds=limits.phone_code_valid_s)
    with pytest.raises(Refused, match="expired"):
        _confirm(store, clock, code)
    assert _customer_phone(store) == OLD_PHONE


def test_wrong_codes_lock_the_change_after_the_attempts_allowed(
    store: SqlStore, clock: FakeClock
) -> None:
    _enrolled(store, clock)
    code = _ask(store, clock)
    for left in range(limits.phone_code_attempts_max - 1, 0, -1):
        with pytest.raises(Refused, match=f"wrong code; {left} tries left"):
            _confirm(store, clock, _wrong(code))
    with pytest.raises(Refused, match="too many tries"):
        _confirm(store, clock, _wrong(code))
    with pytest.raises(NotFound):
        _confirm(store, clock, code)  # even the right code: the change is locked
    assert _customer_phone(store) == OLD_PHONE
    assert _rows(store, "SELECT status, attempts FROM phone_changes") == [
        ("locked", limits.phone_code_attempts_max)
    ]


def test_a_new_request_makes_the_earlier_code_useless(store: SqlStore, clock: FakeClock) -> None:
    _enrolled(store, clock)
    first = _ask(store, clock)
    second = _ask(store, clock, "13700000000")
    if first != second:
        with pytest.raises(Refused, match="wrong code"):
            _confirm(store, clock, first)
    _confirm(store, clock, second)
    assert _customer_phone(store) == "13700000000"
    statuses = _rows(store, "SELECT new_phone, status FROM phone_changes ORDER BY id")
    assert statuses == [(NEW_PHONE, "superseded"), ("13700000000", "confirmed")]


@pytest.mark.parametrize(
    ("phone", "by", "error", "match"),
    [
        (OLD_PHONE, "clerk-17", Refused, "already the phone"),
        ("not a phone", "clerk-17", InvalidInput, "not a phone number"),
        (NEW_PHONE, "", InvalidInput, "who makes the change"),
    ],
)
def test_a_change_of_phone_names_what_is_wrong(
    store: SqlStore, clock: FakeClock, phone: str, by: str, error: type[Exception], match: str
) -> None:
    _enrolled(store, clock)
    with pytest.raises(error, match=match):
        request_phone_change(
            store, clock, Settings(), ChangePhone("0000000001", phone, by, "lost her phone")
        )
    assert _rows(store, "SELECT count(*) FROM phone_changes") == [(0,)]


# --- change of owner (过户) ----------------------------------------------------------------------

AGREED_ON = dt.date(2026, 12, 1)
OWNER_FROM = dt.date(2026, 12, 5)
NEW_OWNER_PHONE = "13655556666"


def _owner(**kw: Any) -> ChangeOwner:
    values: dict[str, Any] = {
        "account_no": "0000000001",
        "from_day": OWNER_FROM,
        "new_name": "李娜",
        "new_phone": NEW_OWNER_PHONE,
        "changed_by": "clerk-17",
        "reason": "house sold (deed 2026-4471)",
        **kw,
    }
    return ChangeOwner(**values)


def _enrolled_and_settled(
    store: SqlStore,
    clock: FakeClock,
    paid_yuan: str,
    settled_to: dt.date,
    unread: dt.date | None = None,
) -> None:
    """Account 1 on an agreement from AGREED_ON with a payment, settled up to ``settled_to``."""
    ids = add_city(store, 1)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET billing_mode = 'postpaid' WHERE id = 1"))
    clock.set(local(AGREED_ON, 10))
    enrol(
        store,
        clock,
        Settings(),
        Enrol("0000000001", office_id=1, trusted_phone="13711112222", protected="medical"),
    )
    take_payment(store, clock, Settings(), TakePayment("0000000001", paid_yuan, "bank", "P1"))
    for day in _days(AGREED_ON - dt.timedelta(days=1), OWNER_FROM + dt.timedelta(days=3)):
        if day != unread:
            add_readings(store, ids, day)
    clock.set(local(settled_to + dt.timedelta(days=1), 2))
    settle_range(store, clock, AGREED_ON, settled_to)


def _balance(store: SqlStore) -> int:
    with store.reader() as uow:
        return uow.ledger.balance_fen(1)


def test_a_change_of_owner_closes_the_old_owners_books_and_the_new_one_continues_the_tier_year(
    store: SqlStore, clock: FakeClock
) -> None:
    last_day = OWNER_FROM - dt.timedelta(days=1)
    _enrolled_and_settled(store, clock, "100", last_day)
    final_fen = _balance(store)
    assert 0 < final_fen < 10_000
    clock.set(local(OWNER_FROM, 9))

    receipt = change_owner(store, clock, Settings(), _owner())

    change = receipt.change
    assert (change.old_name, change.new_name) == ("Household 1", "李娜")
    assert (change.final_balance_fen, change.changed_by) == (final_fen, "clerk-17")
    assert receipt.refund is not None and receipt.refund.amount_fen == final_fen
    assert _balance(store) == 0  # the old owner's money went back to the old owner
    agreements = _rows(
        store, "SELECT enrolled_on, left_on FROM enrolments WHERE account_id = 1 ORDER BY id"
    )
    assert [(str(a), str(b) if b else None) for a, b in agreements] == [
        (str(AGREED_ON), str(last_day)),
        (str(OWNER_FROM), None),
    ]
    # The old owner's phones and protection flag went with them.
    assert _rows(store, "SELECT phone, role FROM contacts WHERE account_id = 1") == [
        (NEW_OWNER_PHONE, "customer")
    ]
    assert _rows(store, "SELECT count(*) FROM protections WHERE account_id = 1") == [(0,)]
    assert _rows(store, "SELECT phone FROM messages WHERE kind = 'agreement' ORDER BY id") == [
        (OLD_PHONE,),
        (NEW_OWNER_PHONE,),
    ]
    assert owner_changes(store, "0000000001") == [change]

    # The new owner's days: charged to the new owner, the year-to-date going on.
    clock.set(local(OWNER_FROM + dt.timedelta(days=2), 2))
    settle_range(store, clock, OWNER_FROM, OWNER_FROM + dt.timedelta(days=1))
    (before,) = _rows(store, "SELECT ytd_wh FROM daily_usage WHERE day = :d", d=last_day)
    (first,) = _rows(
        store, "SELECT ytd_wh, energy_wh, charge_fen FROM daily_usage WHERE day = :d", d=OWNER_FROM
    )
    assert first[0] == before[0] + first[1]  # the tier year continues
    assert _balance(store) == -sum(
        r[0]
        for r in _rows(store, "SELECT charge_fen FROM daily_usage WHERE day >= :d", d=OWNER_FROM)
    )
    assert audit(store).ok


def test_a_change_of_owner_waits_for_the_old_owners_last_day(
    store: SqlStore, clock: FakeClock
) -> None:
    last_day = OWNER_FROM - dt.timedelta(days=1)
    _enrolled_and_settled(store, clock, "0.01", last_day - dt.timedelta(days=1))
    clock.set(local(OWNER_FROM, 9))
    with pytest.raises(Refused, match="settle account 0000000001 up to 2026-12-04 first"):
        change_owner(store, clock, Settings(), _owner())
    clock.set(local(OWNER_FROM, 2))
    settle_range(store, clock, last_day, last_day)
    clock.set(local(OWNER_FROM, 9))
    with pytest.raises(Refused, match="can start on 2026-12-05 at the earliest"):
        change_owner(store, clock, Settings(), _owner(from_day=last_day))
    assert owner_changes(store, "0000000001") == []
    assert _rows(store, "SELECT count(*) FROM enrolments WHERE left_on IS NULL") == [(1,)]


def test_a_change_of_owner_hands_the_old_owners_debt_over_and_the_new_owner_starts_fresh(
    store: SqlStore, clock: FakeClock
) -> None:
    last_day = OWNER_FROM - dt.timedelta(days=1)
    _enrolled_and_settled(store, clock, "0.01", last_day)
    debt_fen = -_balance(store)
    assert debt_fen > 0
    # The old owner's credit cycle as the policy left it: in arrears, noticed, a cut queued.
    with store.unit_of_work() as uow:
        uow.credit.ensure_states([1], clock.now())
        uow.commands.enqueue(
            pl.DataFrame(
                {
                    "correlation_id": ["disconnect/0000000001/3"],
                    "account_id": [1],
                    "meter_id": [METER_BASE + 1],
                    "action": ["disconnect"],
                    "priority": [5],
                    "created_at": [clock.now()],
                },
                schema=COMMAND_SCHEMA,
            )
        )
        uow.commit()
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE credit_state SET state = 'arrears', cycle = 3, notice_at = :n, "
                "warned_at = :n, pay_by = :p WHERE account_id = 1"
            ),
            {"n": clock.now(), "p": OWNER_FROM + dt.timedelta(days=2)},
        )
    clock.set(local(OWNER_FROM, 9))

    receipt = change_owner(store, clock, Settings(), _owner())

    assert receipt.refund is None and receipt.change.final_balance_fen == -debt_fen
    assert receipt.handed_over is not None and receipt.handed_over.amount_fen == debt_fen
    assert _balance(store) == 0  # none of the debt passes to the new owner
    [(kind, amount)] = _rows(
        store,
        "SELECT kind, amount_fen FROM transfers WHERE debit_account_id = :r",
        r=RECEIVABLES_ID,
    )
    assert (kind, amount) == ("handover", debt_fen)
    [row] = handover_rows(store, last_day, last_day)
    assert (row.owed_fen, row.refunded_fen, row.left_on) == (debt_fen, 0, last_day)
    assert row.reason.value == "owner_change"
    assert row.closing_wh == register_wh(1, last_day)
    # A fresh credit state: nothing of the old owner's cycle, no cut waiting.
    with store.reader() as uow:
        fresh = uow.credit.state_of(1)
    assert fresh is not None
    assert (fresh.state.value, fresh.cycle, fresh.notice_at, fresh.pay_by, fresh.warned_at) == (
        "normal",
        4,
        None,
        None,
        None,
    )
    assert _rows(store, "SELECT state FROM meter_commands WHERE action = 'disconnect'") != [
        ("queued",)
    ]
    # The old owner's final statement went to the old phone, in the old owner's language.
    [(phone, body)] = _rows(store, "SELECT phone, body FROM messages WHERE kind = 'owner_final'")
    assert phone == OLD_PHONE and f"欠费{format_fen(debt_fen)}元" in body
    again = _rows(store, "SELECT count(*) FROM messages WHERE phone = :p", p=NEW_OWNER_PHONE)
    assert again == [(1,)]  # the new owner's agreement SMS only

    # The new owner's first days run into debt from zero: inside the grace, no notice.
    clock.set(local(OWNER_FROM + dt.timedelta(days=2), 2))
    settle_range(store, clock, OWNER_FROM, OWNER_FROM + dt.timedelta(days=1))
    assert _balance(store) < 0
    judge_all(
        store,
        clock,
        Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings()),
    )
    kinds = _rows(store, "SELECT kind FROM messages WHERE phone = :p", p=NEW_OWNER_PHONE)
    assert kinds == [("agreement",)]
    assert audit(store).ok


def test_the_account_view_shows_the_tariff_in_force_today(
    store: SqlStore, clock: FakeClock
) -> None:
    add_city(store, 1)
    _save_tariff_b(store, clock)
    clock.set(local(dt.date(2026, 12, 1), 10))
    change_tariff(store, clock, _change())
    assert account_show(store, clock, "0000000001").tariff_code == TIERED
    clock.set(local(CHANGE_ON, 10))
    assert account_show(store, clock, "0000000001").tariff_code == TIERED_B


def _seed_usage(store: SqlStore, account_id: int, ytd_wh: int) -> None:
    reading_wh = register_wh(account_id, SEEDED_ON)
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.execute(
            schema.daily_usage.insert().values(
                day=SEEDED_ON, account_id=account_id, meter_id=METER_BASE + account_id,
                tariff_code=TIERED, estimated=False, reading_wh=reading_wh,
                last_real_day=SEEDED_ON, last_real_wh=reading_wh, energy_wh=10_000,
                charge_fen=0, ytd_wh=ytd_wh, ytd_cost_nyuan=0, ytd_charged_fen=0,
                window_energy_wh=0, window_charge_fen=0, window_days=0, starts_run=True,
            )
        )  # fmt: skip
        uow.commit()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_changes_of_tariff_price_every_day_at_its_tariff_whatever_the_settle_ranges(
    store: SqlStore, clock: FakeClock, data: st.DataObject
) -> None:
    """Random changes (up to two per account), random year-to-date near the tier edges, the
    range settled in random consecutive pieces: each day's charge is the reference's."""
    if not _rows(store, "SELECT 1 FROM tariffs WHERE code = :c", c=TIERED_B):
        _save_tariff_b(store, clock)
    first_id = int(_rows(store, "SELECT COALESCE(MAX(id), 0) FROM accounts")[0][0]) + 1
    ids = add_city(store, 2, first_id=first_id)
    span = _days(SEEDED_ON + dt.timedelta(days=1), LAST)
    for day in span:
        add_readings(store, ids, day)
    codes = (TIERED, TIERED_B, "henan-residential-shared")
    plan: dict[int, dict[dt.date, str]] = {}
    for account_id in ids:
        _seed_usage(store, account_id, data.draw(st.integers(2_000_000, 3_200_000), "ytd"))
        days = data.draw(st.lists(st.sampled_from(span), max_size=2, unique=True), "days")
        plan[account_id] = {}
        current = TIERED
        for day in sorted(days):
            code = data.draw(st.sampled_from([c for c in codes if c != current]), "code")
            change_tariff(
                store, clock, _change(f"{account_id:010d}", tariff_code=code, from_day=day)
            )
            plan[account_id][day] = current = code
    cuts = sorted(data.draw(st.sets(st.integers(1, len(span) - 1), max_size=3), "cuts"))
    bounds = [0, *cuts, len(span)]
    clock.set(local(LAST + dt.timedelta(days=1), 2))
    for a, b in zip(bounds, bounds[1:], strict=False):
        settle_range(store, clock, span[a], span[b - 1])

    with store.unit_of_work() as uow:
        tariffs = uow.registry.tariffs()
    for account_id in ids:
        rows = _rows(
            store,
            "SELECT day, tariff_code, energy_wh, charge_fen, ytd_wh FROM daily_usage "
            "WHERE account_id = :a ORDER BY day",
            a=account_id,
        )
        ytd_wh, cost_nyuan, charged_fen, code = rows[0][4], 0, 0, TIERED
        for day, stored_code, energy_wh, charge_fen, stored_ytd_wh in rows[1:]:
            code = plan[account_id].get(_date(day), code)
            assert stored_code == code
            cost_nyuan += day_cost_nyuan(
                tariff_in_force(tariffs, code, _date(day)), ytd_wh, energy_wh
            )
            ytd_wh += energy_wh
            assert stored_ytd_wh == ytd_wh
            assert charge_fen == fen_from_nyuan(cost_nyuan) - charged_fen
            charged_fen = fen_from_nyuan(cost_nyuan)
        assert len(rows) == len(span) + 1
    assert audit(store).ok


def test_a_change_of_owner_needs_a_real_closing_reading(store: SqlStore, clock: FakeClock) -> None:
    last_day = OWNER_FROM - dt.timedelta(days=1)
    _enrolled_and_settled(store, clock, "100", last_day, unread=last_day)
    clock.set(local(OWNER_FROM, 9))
    with pytest.raises(Refused, match="settled on 2026-12-04 on an estimate"):
        change_owner(store, clock, Settings(), _owner())
    assert owner_changes(store, "0000000001") == []
