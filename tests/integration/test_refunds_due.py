"""The refunds still to pay out are read through the small partial index of rare transfers,
never by a scan of every transfer (a year's ledger holds 200 million charges)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, text

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.payments import Refund, Reverse, TakePayment
from gridpay.services import leaving
from gridpay.services.payments import refund, reverse, take_payment
from tests.fakes import FakeClock
from tests.helpers_accounts import CREATED_AT, account_no, add_accounts, charge_transfer

SETTINGS = Settings()


def test_refunds_due_are_every_refund_not_paid_out_or_reversed_and_read_by_the_partial_index(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = add_accounts(store, range(1, 7))
    with store.unit_of_work() as uow:  # a ledger of mostly daily charges, as a city's is
        for account_id in ids:
            for back in range(1, 101):
                day = clock.today() - dt.timedelta(days=back)
                uow.ledger.post(charge_transfer(account_id, day, 56), CREATED_AT)
        uow.commit()
    for account_id in ids:
        take_payment(
            store,
            clock,
            SETTINGS,
            TakePayment(account_no(account_id), "500", "app", f"P{account_id}"),
        )
    for account_id in (2, 3, 5):
        refund(store, clock, SETTINGS, Refund(account_no(account_id), "10", f"R{account_id}"))
    reverse(store, clock, Reverse("refund/R3"))
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, *args) -> None:  # type: ignore[no-untyped-def]  # noqa: ANN001
        if "kind = 'refund'" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    try:
        due = leaving.refunds_due(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)

    assert [(d.ref, d.account_no, d.amount_fen) for d in due] == [
        ("R2", account_no(2), 1_000),
        ("R5", account_no(5), 1_000),
    ]
    ((sql, parameters),) = statements
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.execute(text("ANALYZE transfers"))
        if store.dialect == "postgresql":
            uow.conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = uow.conn.exec_driver_sql("EXPLAIN " + sql, parameters).all()  # type: ignore[arg-type]
        else:
            plan = uow.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters).all()  # type: ignore[arg-type]
    text_plan = "\n".join(str(r[-1]) for r in plan)
    if store.dialect == "sqlite":
        assert "ix_transfers_rare_account_id_seq" in text_plan, text_plan
        assert "SCAN t\n" not in text_plan + "\n", text_plan
    else:
        assert "account_id_seq_idx" in text_plan, text_plan
