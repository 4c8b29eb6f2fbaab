"""``SqlLedgerRepo.post``: one transfer's row and both balances, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.ledger_repo import TRANSFER_FIELDS
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.ledger import CLEARING_IDS, Channel, Transfer, TransferKind
from gridpay.errors import NotFound
from tests.helpers_accounts import add_accounts

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)


def payment(ref: str, account_id: int = 1, amount_fen: int = 12_345) -> Transfer:
    return Transfer(
        id=f"pay/bank/{ref}",
        debit_account_id=CLEARING_IDS[Channel.BANK],
        credit_account_id=account_id,
        amount_fen=amount_fen,
        kind=TransferKind.PAYMENT,
        account_id=account_id,
        day=dt.date(2026, 12, 1),
        channel="bank",
        ref=ref,
        note="a note",
    )


def sums(store: SqlStore) -> dict[int, tuple[int, int]]:
    with store.reader() as uow:
        rows = uow.conn.execute(
            text("SELECT id, debits_posted_fen, credits_posted_fen FROM ledger_accounts")
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_posted_transfer_is_stored_as_a_core_insert_stores_it(store: SqlStore) -> None:
    add_accounts(store, [1])
    posted, inserted = payment("P-1"), payment("P-2")
    with store.unit_of_work() as uow:
        assert uow.ledger.post(posted, AT)
        values = {f: getattr(inserted, f) for f in TRANSFER_FIELDS}
        uow.conn.execute(schema.transfers.insert(), {**values, "kind": "payment", "created_at": AT})
        uow.commit()
    with store.reader() as uow:
        assert uow.ledger.get_transfer(posted.id) == posted
        stored = uow.conn.execute(
            text(
                "SELECT debit_account_id, credit_account_id, amount_fen, kind, account_id, "
                "CAST(day AS TEXT), channel, office_id, reverses_id, note, "
                "CAST(created_at AS TEXT) FROM transfers ORDER BY ref"
            )
        ).all()
    assert stored[0] == stored[1]


def test_a_transfer_moves_its_two_balances_and_no_other(store: SqlStore) -> None:
    add_accounts(store, [1, 2])
    before = sums(store)
    with store.unit_of_work() as uow:
        assert uow.ledger.post(payment("P-1", account_id=1, amount_fen=500), AT)
        uow.commit()
    after = sums(store)
    clearing = CLEARING_IDS[Channel.BANK]
    assert after[clearing] == (before[clearing][0] + 500, before[clearing][1])
    assert after[1] == (before[1][0], before[1][1] + 500)
    assert {k: v for k, v in after.items() if k not in (1, clearing)} == {
        k: v for k, v in before.items() if k not in (1, clearing)
    }


def test_a_transfer_to_a_ledger_account_that_does_not_exist_is_not_found(
    store: SqlStore,
) -> None:
    with store.unit_of_work() as uow, pytest.raises(NotFound, match="ledger account 7 does"):
        uow.ledger.post(payment("P-1", account_id=7), AT)
