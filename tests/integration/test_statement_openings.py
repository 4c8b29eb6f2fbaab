"""A statement's opening and closing balances come from a few rows whatever the ledger's age:
the cached balance, the year-to-date charged of two usage rows per calendar year, and the
account's few other transfers. These tests compare them with the walk over every transfer."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.ledger import CLEARING_IDS, Channel, Transfer, TransferKind
from gridpay.services.queries import account_statement
from tests.fakes import FakeClock
from tests.helpers_accounts import (
    CREATED_AT,
    METER_BASE,
    account_no,
    add_accounts,
    charge_transfer,
)

FIRST = dt.date(2025, 11, 20)
SPAN_DAYS = 100  # across a new year: year-to-date starts again on 1 January
_ids = itertools.count(1)


def _usage_row(account_id: int, day: dt.date, charge_fen: int, ytd_fen: int, starts: bool) -> dict:  # type: ignore[type-arg]
    return {
        "day": day, "account_id": account_id, "meter_id": METER_BASE + account_id,
        "tariff_code": "henan-residential-tiered", "estimated": False, "reading_wh": 0,
        "last_real_day": day, "last_real_wh": 0, "energy_wh": 1_000, "charge_fen": charge_fen,
        "ytd_wh": 0, "ytd_cost_nyuan": ytd_fen * 10_000_000, "ytd_charged_fen": ytd_fen,
        "window_energy_wh": 0, "window_charge_fen": 0, "window_days": 0, "starts_run": starts,
    }  # fmt: skip


def _settle_days(store: SqlStore, account_id: int, days: dict[dt.date, tuple[int, int]]) -> None:
    """Usage rows as settlement leaves them (year-to-date charged cumulative within a year, a
    run started after each gap) and each day's charge-kind transfers: its own charge or credit,
    and a true-up for part of it when one is drawn."""
    ytd_fen, previous = 0, None
    with store.unit_of_work() as uow:
        for day in sorted(days):
            charge_fen, trueup_fen = days[day]
            same_year = previous is not None and previous.year == day.year
            ytd_fen = (ytd_fen if same_year else 0) + charge_fen
            starts = previous is None or (day - previous).days > 1
            uow.conn.execute(
                schema.daily_usage.insert().values(
                    _usage_row(account_id, day, charge_fen, ytd_fen, starts)
                )
            )
            own_fen = charge_fen - trueup_fen
            if own_fen:
                uow.ledger.post(charge_transfer(account_id, day, own_fen), CREATED_AT)
            if trueup_fen:
                trueup = charge_transfer(account_id, day, trueup_fen)
                trueup_id = f"trueup/{account_no(account_id)}/{day.isoformat()}/t"
                uow.ledger.post(
                    Transfer(**{**trueup.__dict__, "id": trueup_id}),  # type: ignore[arg-type]
                    CREATED_AT,
                )
            previous = day
        uow.commit()


def _pay(store: SqlStore, account_id: int, day: dt.date, amount_fen: int) -> None:
    with store.unit_of_work() as uow:
        uow.ledger.post(
            Transfer(
                id=f"pay/bank/{account_id}-{day.isoformat()}-{amount_fen}",
                debit_account_id=CLEARING_IDS[Channel.BANK],
                credit_account_id=account_id,
                amount_fen=amount_fen,
                kind=TransferKind.PAYMENT,
                account_id=account_id,
                day=day,
                channel="bank",
            ),
            CREATED_AT,
        )
        uow.commit()


def _walked_balance_before(store: SqlStore, account_id: int, day: dt.date) -> int:
    """Every transfer of the account dated before ``day``, summed: the reference."""
    with store.unit_of_work() as uow:
        return int(
            uow.conn.execute(
                text(
                    "SELECT COALESCE(SUM(CASE WHEN credit_account_id = :a THEN amount_fen "
                    "ELSE -amount_fen END), 0) FROM transfers WHERE day < :d "
                    "AND (credit_account_id = :a OR debit_account_id = :a)"
                ),
                {"a": account_id, "d": day},
            ).scalar_one()
        )


_day_charges = st.dictionaries(
    st.integers(0, SPAN_DAYS - 1),
    st.tuples(st.integers(-300, 3_000), st.integers(-200, 200)),
    max_size=SPAN_DAYS,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    charges=_day_charges,
    payments=st.lists(st.tuples(st.integers(0, SPAN_DAYS + 30), st.integers(1, 50_000))),
)
def test_statement_balances_equal_the_walk_over_every_transfer(
    store: SqlStore,
    charges: dict[int, tuple[int, int]],
    payments: list[tuple[int, int]],
) -> None:
    """Random settled days (gaps, credits, true-ups, a new year) and payments: every month's
    opening and closing balance equals the sum of the transfers dated before it."""
    account_id = next(_ids)
    add_accounts(store, [account_id])
    days = {
        FIRST + dt.timedelta(days=offset): (charge, trueup if charge and trueup != charge else 0)
        for offset, (charge, trueup) in charges.items()
        if charge
    }
    _settle_days(store, account_id, days)
    for offset, amount_fen in payments:
        _pay(store, account_id, FIRST + dt.timedelta(days=offset), amount_fen)
    for month in ("2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"):
        statement = account_statement(store, account_no(account_id), month)
        assert statement.opening_balance_fen == _walked_balance_before(
            store, account_id, statement.first_day
        )
        assert statement.closing_balance_fen == _walked_balance_before(
            store, account_id, statement.last_day + dt.timedelta(days=1)
        )


def test_an_old_months_statement_reads_a_few_rows_not_a_seek_per_day(
    store: SqlStore, clock: FakeClock
) -> None:
    """A year of settled days: January's statement costs the same statements as last month's."""
    add_accounts(store, [1])
    year = {dt.date(2025, 12, 1) + dt.timedelta(days=i): (100 + i % 7, 0) for i in range(365)}
    _settle_days(store, 1, year)
    counted: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]  # noqa: ANN001
        counted.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        account_statement(store, account_no(1), "2026-01")
        old = len(counted)
        counted.clear()
        account_statement(store, account_no(1), "2026-10")
        recent = len(counted)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert old == recent, (old, recent)
    assert old <= 16, counted
