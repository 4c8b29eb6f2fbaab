"""A reader's transaction is read-only on PostgreSQL (BEGIN READ ONLY, one round trip) and the
setting leaves with the connection: the next unit of work on it writes as before."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts


def test_a_reader_cannot_write_on_postgresql_and_the_next_unit_of_work_can(
    store: SqlStore,
) -> None:
    add_accounts(store, [1])
    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with store.reader() as uow:
        assert uow.conn is not None
        assert uow.conn.execute(text("SELECT count(*) FROM accounts")).scalar_one() == 1
        if store.dialect == "postgresql":
            with pytest.raises(DBAPIError, match="read-only transaction"):
                uow.conn.execute(text("UPDATE accounts SET name = 'x' WHERE id = 1"))
    assert not any("SET TRANSACTION" in s for s in sent), sent
    for _ in range(3):  # the pool hands the same connection back
        with store.unit_of_work() as uow:
            assert uow.conn is not None
            uow.conn.execute(text("UPDATE accounts SET name = 'y' WHERE id = 1"))
            uow.commit()
    with store.reader() as uow:
        assert uow.conn is not None
        assert uow.conn.execute(text("SELECT name FROM accounts")).scalar_one() == "y"
