"""ManyRows binds each row through the driver and stores exactly what SQLAlchemy's own
executemany of the same statement stores (SQLite's instants as the same text), on both
engines, with the statement's constants and each row's values in their places."""

from __future__ import annotations

import datetime as dt

from gridpay.adapters.sql.commands_repo import _ACKNOWLEDGE
from gridpay.adapters.sql.driver_many import ManyRows
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.commands import CommandAction
from tests.fakes import FakeClock
from tests.integration.commands_helpers import command_frame, enqueue


def test_many_rows_store_what_sqlalchemys_executemany_stores(
    store: SqlStore, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1, 2, 3, 4, 5], CommandAction.DISCONNECT, clock.now()))
    confirmed_at = [
        clock.now() + dt.timedelta(seconds=1.5),
        clock.now() + dt.timedelta(minutes=2),  # a whole second: no fraction to print
    ]
    with store.unit_of_work() as uow:
        ids = {c.account_id: c.id for c in uow.commands.due(clock.now(), 10)}
        uow.commands.mark_sent_many(list(ids.values()), clock.now(), "sim")
        rows = [
            {"b_id": ids[account], "b_finished_at": at, "b_state": "sent"}
            for account, at in zip((1, 2), confirmed_at, strict=True)
        ]
        uow.conn.execute(_ACKNOWLEDGE.statement, rows)  # type: ignore[attr-defined]
        rows = [
            {"b_id": ids[account], "b_finished_at": at, "b_state": "sent"}
            for account, at in zip((3, 4), confirmed_at, strict=True)
        ]
        _ACKNOWLEDGE.execute(uow.conn, rows)  # type: ignore[attr-defined]
        ManyRows(_ACKNOWLEDGE.statement).execute(uow.conn, [])  # nothing to do, no statement
        stored = {
            account: row
            for account, *row in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
                "SELECT account_id, state, finished_at, next_attempt_at FROM meter_commands"
            )
        }
        uow.commit()
    assert stored[1] == stored[3] and stored[2] == stored[4]
    assert stored[1][0] == "acknowledged" and stored[1][2] is None
    assert stored[1] != stored[2]
    assert stored[5][0] == "sent"  # not in either batch
