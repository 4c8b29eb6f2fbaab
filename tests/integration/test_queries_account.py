"""Account summary and monthly statement, and the indexes they read through."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select, text

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import Settings
from gridpay.domain.payments import Refund, Reverse, TakePayment
from gridpay.errors import InvalidInput, NotFound
from gridpay.services.household_view import activity
from gridpay.services.payments import refund, reverse, take_payment
from gridpay.services.queries import account_show, account_statement, parse_month, tier_position
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, settle_day_by_hand

SETTINGS = Settings()
A = "0000000001"
KWH = 1_000  # Wh


def _tariff(code: str):  # noqa: ANN202
    return next(t for t, _ in shipped_tariffs() if t.code == code)


# --- tier position (pure) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ytd_kwh", "tier", "to_next_kwh"),
    [
        (0, 1, 2_160),
        (2_100, 1, 60),
        (2_160, 2, 960),
        (3_119, 2, 1),
        (3_120, 3, None),
        (9_000, 3, None),
    ],
)
def test_the_tier_position_of_the_henan_tiered_tariff(
    ytd_kwh: int, tier: int, to_next_kwh: int | None
) -> None:
    position = tier_position(_tariff("henan-residential-tiered"), ytd_kwh * KWH)
    assert (position.tier, position.tiers) == (tier, 3)
    expected = None if to_next_kwh is None else to_next_kwh * KWH
    assert position.wh_to_next_tier == expected


def test_a_flat_tariff_has_one_tier() -> None:
    position = tier_position(_tariff("henan-residential-shared"), 5_000 * KWH)
    assert (position.tier, position.tiers, position.next_tier_from_wh) == (1, 1, None)


@pytest.mark.parametrize(
    ("month", "first", "last"),
    [
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2028-02", "2028-02-01", "2028-02-29"),
        ("2026-12", "2026-12-01", "2026-12-31"),
    ],
)
def test_a_month_is_read_as_its_first_and_last_day(month: str, first: str, last: str) -> None:
    assert parse_month(month) == (dt.date.fromisoformat(first), dt.date.fromisoformat(last))


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "11-2026", "2026-1", "", "2026-11-01"])
def test_a_month_must_be_yyyy_mm(month: str) -> None:
    with pytest.raises(InvalidInput, match="write it as YYYY-MM"):
        parse_month(month)


# --- account show -------------------------------------------------------------------------


def _settle(
    store: SqlStore, day: str, energy_kwh: int, charge_fen: int, ytd_kwh: int, ytd_fen: int
) -> None:
    settle_day_by_hand(
        store,
        1,
        dt.date.fromisoformat(day),
        energy_wh=energy_kwh * KWH,
        charge_fen=charge_fen,
        ytd_wh=ytd_kwh * KWH,
        ytd_charged_fen=ytd_fen,
    )


@pytest.fixture
def history(store: SqlStore) -> SqlStore:
    """Account 1 at 2,100 kWh for 2026 (the domain-facts worked example's position)."""
    add_accounts(store, [1, 2], office_id=3)
    _settle(store, "2025-12-31", 9, 504, 4_000, 250_000)  # last year: not year-to-date
    _settle(store, "2026-10-01", 10, 560, 2_000, 112_000)  # outside the last 30 days
    _settle(store, "2026-11-26", 50, 2_800, 2_050, 114_800)
    _settle(store, "2026-11-27", 50, 2_800, 2_100, 117_600)
    return store


def test_account_show_gives_balance_year_to_date_tier_and_the_last_30_days(
    history: SqlStore, clock: FakeClock
) -> None:
    take_payment(history, clock, SETTINGS, TakePayment(A, "200", "app", "P1"))
    view = account_show(history, clock, A)
    assert view.account_no == A
    assert view.name == "Household 1"
    assert view.office_id == 3
    assert view.office_name.startswith("Office 3")
    assert view.balance_fen == 20_000 - 504 - 560 - 2_800 - 2_800
    assert view.ytd_year == 2026
    assert view.ytd_wh == 2_100 * KWH
    assert view.ytd_charged_fen == 117_600
    assert view.last_settled_day == dt.date(2026, 11, 27)
    assert view.tier is not None
    assert (view.tier.tier, view.tier.wh_to_next_tier) == (1, 60 * KWH)
    assert [u.day for u in view.usage] == [dt.date(2026, 11, 26), dt.date(2026, 11, 27)]
    assert view.usage_energy_wh == 100 * KWH
    assert view.usage_charge_fen == 5_600
    assert [t.id for t in view.recent_transfers][:2] == [
        "pay/app/P1",
        "charge/2026-11-27/0000000001",
    ]
    assert [t.amount_fen for t in view.recent_transfers][:2] == [20_000, -2_800]


def test_a_new_year_starts_year_to_date_from_zero(history: SqlStore, clock: FakeClock) -> None:
    clock.set(dt.datetime(2027, 1, 5, 2, 0, tzinfo=dt.UTC))
    view = account_show(history, clock, A)
    assert (view.ytd_year, view.ytd_wh, view.last_settled_day) == (2027, 0, None)
    assert view.tier is not None and view.tier.tier == 1
    assert view.usage == ()


def test_recent_transfers_are_the_newest_few(history: SqlStore, clock: FakeClock) -> None:
    for i in range(25):
        take_payment(history, clock, SETTINGS, TakePayment(A, "1", "bank", f"T{i:02d}"))
    view = account_show(history, clock, A)
    assert len(view.recent_transfers) == 20
    assert view.recent_transfers[0].id == "pay/bank/T24"
    assert view.recent_transfers[-1].id == "pay/bank/T05"


# Each pattern: a day's own charge in fen (0: no transfer that day, negative: a credit), for
# the 45 days to 27 November, the newest last; payments on some days between them.
_CHARGE_PATTERNS = {
    "every day": [100 + d for d in range(45)],
    "every third day, some credits": [
        (-30 if d % 9 == 0 else 70) if d % 3 == 0 else 0 for d in range(45)
    ],
    "quiet for the last three weeks": [90] * 24 + [0] * 21,
    "nothing at all": [0] * 45,
}


@pytest.mark.parametrize("pattern", list(_CHARGE_PATTERNS))
def test_recent_transfers_are_the_newest_by_seq_whatever_days_hold_a_charge(
    store: SqlStore, clock: FakeClock, pattern: str
) -> None:
    """The newest few transfers are the newest by ``seq`` of every transfer of the account,
    its own charges of the look-back's days included, however sparse those are: the charges
    are looked up a few days at a time, newest first (``queries_repo._newest_charges``)."""
    add_accounts(store, [1])
    newest = dt.date(2026, 11, 27)
    clock.set(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC))
    ytd_fen = 0
    for back, charge_fen in enumerate(reversed(_CHARGE_PATTERNS[pattern])):
        day = newest - dt.timedelta(days=44 - back)
        ytd_fen += charge_fen
        settle_day_by_hand(
            store, 1, day, energy_wh=KWH, charge_fen=charge_fen, ytd_wh=KWH, ytd_charged_fen=ytd_fen
        )
        if back % 7 == 3:
            take_payment(store, clock, SETTINGS, TakePayment(A, "1", "bank", f"B{back}"))
    with store.reader() as uow:
        t = schema.transfers
        every = uow.conn.execute(
            select(t.c.id, t.c.seq, t.c.day).where(t.c.account_id == 1).order_by(t.c.seq.desc())
        ).all()
    look_back = newest - dt.timedelta(days=limits.account_recent_charge_days_max - 1)
    expected = [
        i for i, _, day in every if not i.startswith(("charge/", "credit/")) or day >= look_back
    ][: limits.account_recent_transfers_max]
    assert [t.id for t in account_show(store, clock, A).recent_transfers] == expected


def test_the_activity_page_lists_the_newest_payments_without_reading_the_days_charges(
    store: SqlStore, clock: FakeClock
) -> None:
    add_accounts(store, [1])
    clock.set(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC))
    for back in range(30):
        day = dt.date(2026, 10, 29) + dt.timedelta(days=back)
        settle_day_by_hand(
            store, 1, day, energy_wh=KWH, charge_fen=56, ytd_wh=KWH, ytd_charged_fen=56 * back
        )
        take_payment(store, clock, SETTINGS, TakePayment(A, "1", "bank", f"B{back:02d}"))
    refund(store, clock, SETTINGS, Refund(A, "0.5", "R-1"))
    seen: list[object] = []

    def remember(_c: object, _cur: object, _stmt: str, params: object, *_: object) -> None:
        seen.append(params)

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        lines = activity(store, 1).payments
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    assert [x.id for x in lines] == ["refund/R-1"] + [
        f"pay/bank/B{i:02d}" for i in range(29, 10, -1)
    ]
    assert "charge/" not in repr(seen)


def test_an_account_with_no_history_shows_zeros(history: SqlStore, clock: FakeClock) -> None:
    view = account_show(history, clock, "0000000002")
    assert (view.balance_fen, view.ytd_wh, view.usage, view.recent_transfers) == (0, 0, (), ())


def test_account_show_refuses_unknown_and_malformed_numbers(
    history: SqlStore, clock: FakeClock
) -> None:
    with pytest.raises(NotFound, match="account 0000000404 does not exist"):
        account_show(history, clock, "0000000404")
    with pytest.raises(InvalidInput, match="10 digits"):
        account_show(history, clock, "1")


# --- statement ----------------------------------------------------------------------------


def test_a_statement_adds_up_from_opening_to_closing(history: SqlStore, clock: FakeClock) -> None:
    clock.set(dt.datetime(2026, 10, 20, 2, tzinfo=dt.UTC))
    take_payment(history, clock, SETTINGS, TakePayment(A, "100", "bank", "OCT"))
    clock.set(dt.datetime(2026, 11, 10, 2, tzinfo=dt.UTC))
    take_payment(history, clock, SETTINGS, TakePayment(A, "300", "counter", "NOV", 2))
    take_payment(history, clock, SETTINGS, TakePayment(A, "5", "app", "NOV-2"))
    clock.set(dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC))
    refund(history, clock, SETTINGS, Refund(A, "20", "R-NOV"))
    clock.set(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))
    reverse(history, clock, Reverse("pay/app/NOV-2", note="duplicate"))

    november = account_statement(history, A, "2026-11")
    assert november.opening_balance_fen == -504 - 560 + 10_000
    assert [(line.day.isoformat(), line.kind, line.amount_fen) for line in november.lines] == [
        ("2026-11-10", "payment", 30_000),
        ("2026-11-10", "payment", 500),
        ("2026-11-20", "refund", -2_000),
        ("2026-11-26", "charge", -2_800),
        ("2026-11-27", "charge", -2_800),
    ]
    assert november.lines[-1].energy_wh == 50 * KWH
    assert november.lines[0].energy_wh is None
    assert november.closing_balance_fen == november.lines[-1].balance_fen
    assert november.closing_balance_fen == november.opening_balance_fen + 30_500 - 2_000 - 5_600
    assert november.totals_fen["payment"] == 30_500
    assert november.totals_fen["charge"] == -5_600
    assert november.totals_fen["reversal"] == 0
    assert november.energy_wh == 100 * KWH

    # The reversal is on December's statement: November, once issued, never changes.
    december = account_statement(history, A, "2026-12")
    assert december.opening_balance_fen == november.closing_balance_fen
    assert [(line.kind, line.amount_fen, line.note) for line in december.lines] == [
        ("reversal", -500, "duplicate")
    ]
    with history.unit_of_work() as uow:
        assert uow.ledger.balance_fen(1) == december.closing_balance_fen


def test_a_statement_of_a_quiet_month_has_equal_opening_and_closing(history: SqlStore) -> None:
    statement = account_statement(history, A, "2026-09")
    assert statement.lines == ()
    assert statement.opening_balance_fen == statement.closing_balance_fen == -504
    assert set(statement.totals_fen.values()) == {0}


# --- index use ----------------------------------------------------------------------------


def _plan(store: SqlStore, stmt) -> str:  # noqa: ANN001
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        sql = str(stmt.compile(dialect=uow.conn.dialect, compile_kwargs={"literal_binds": True}))
        if store.dialect == "postgresql":
            uow.conn.execute(text("ANALYZE daily_usage"))
            uow.conn.execute(text("ANALYZE transfers"))
            uow.conn.execute(text("SET LOCAL enable_seqscan = off"))
            rows = uow.conn.exec_driver_sql("EXPLAIN " + sql).all()
        else:
            rows = uow.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_per_account_reads_seek_indexes(history: SqlStore) -> None:
    with history.unit_of_work() as uow:
        usage = uow.queries._usage_select(1, dt.date(2026, 10, 29), dt.date(2026, 11, 27))
        transfers = uow.queries._rare_select(1).order_by(text("seq DESC")).limit(20)
        charges = uow.queries._charges_select(1, dt.date(2026, 10, 29), dt.date(2026, 11, 27))
    usage_plan = _plan(history, usage)
    transfers_plan = _plan(history, transfers)
    charges_plan = _plan(history, charges)
    # Usage: a seek of the primary key (day, account_id) per day, never a range of everyone's.
    # Transfers: the day's own charges by their ids, the rest by the small partial index.
    if history.dialect == "sqlite":
        assert "ix_transfers_rare_account_id_seq" in transfers_plan, transfers_plan
        assert "PRIMARY KEY (day=? AND account_id=?)" in usage_plan, usage_plan
        assert "sqlite_autoindex_transfers" in charges_plan, charges_plan
        assert "SCAN" not in usage_plan and "SCAN" not in transfers_plan
        assert "SCAN" not in charges_plan
    else:
        assert "daily_usage_pkey" in usage_plan, usage_plan
        # Each month partition's copy of the partial index, and of the unique (id, day).
        assert "_account_id_seq_idx" in transfers_plan, transfers_plan
        assert "_id_day_idx" in charges_plan, charges_plan
        assert "account_id = 1" in usage_plan, usage_plan
