"""The meter commands table through SqlCommandsRepo (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.commands import CommandAction
from tests.fakes import FakeClock
from tests.integration.commands_helpers import command, command_frame, enqueue

CUT = CommandAction.DISCONNECT
RESTORE = CommandAction.RECONNECT


def _id(uow: Any, cid: str) -> int:
    row = uow.commands.get(cid)
    assert row is not None
    return row.id


def test_enqueueing_the_same_commands_twice_stores_each_once(
    store: SqlStore, clock: FakeClock
) -> None:
    frame = command_frame([1, 2, 3], CUT, clock.now())
    assert enqueue(store, frame) == 3
    assert enqueue(store, frame) == 0
    assert enqueue(store, command_frame([3, 4], CUT, clock.now())) == 1
    with store.unit_of_work() as uow:
        listed = uow.commands.list(None, None, 100)
    assert sorted(listed["account_id"].to_list()) == [1, 2, 3, 4]
    assert set(listed["state"]) == {"queued"}
    assert set(listed["attempts"]) == {0}
    assert listed["created_at"][0] == clock.now()


def test_due_puts_reconnects_first_then_the_oldest(store: SqlStore, clock: FakeClock) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    enqueue(store, command_frame([2], CUT, clock.now() + dt.timedelta(seconds=1)))
    enqueue(store, command_frame([3], RESTORE, clock.now() + dt.timedelta(seconds=2)))
    with store.unit_of_work() as uow:
        due = uow.commands.due(clock.now() + dt.timedelta(seconds=3), 10)
    assert [row.correlation_id for row in due] == [
        "reconnect/0000000003/0",
        "disconnect/0000000001/0",
        "disconnect/0000000002/0",
    ]


def test_a_command_waiting_for_its_retry_is_not_due_before_its_time(
    store: SqlStore, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    cid = "disconnect/0000000001/0"
    retry_at = clock.now() + dt.timedelta(minutes=1)
    with store.unit_of_work() as uow:
        uow.commands.mark_sent(_id(uow, cid), clock.now(), "sim")
        uow.commands.retry_later(_id(uow, cid), retry_at, "relay did not switch")
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.commands.due(retry_at - dt.timedelta(seconds=1), 10) == []
        assert [row.attempts for row in uow.commands.due(retry_at, 10)] == [1]


def test_cancel_queued_leaves_sent_commands_alone(store: SqlStore, clock: FakeClock) -> None:
    enqueue(store, command_frame([1, 2], CUT, clock.now()))
    enqueue(store, command_frame([1], RESTORE, clock.now()))
    with store.unit_of_work() as uow:
        uow.commands.mark_sent(_id(uow, "disconnect/0000000002/0"), clock.now(), "sim")
        assert uow.commands.cancel_queued(1, "disconnect", clock.now()) == 1
        assert uow.commands.cancel_queued(2, "disconnect", clock.now()) == 0
        uow.commit()
    assert command(store, "disconnect/0000000001/0").state == "cancelled"
    assert command(store, "disconnect/0000000002/0").state == "sent"
    assert command(store, "reconnect/0000000001/0").state == "queued"  # other action kept


def test_finish_takes_a_result_once_and_ignores_it_after(store: SqlStore, clock: FakeClock) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    cid = "disconnect/0000000001/0"
    at = clock.now() + dt.timedelta(seconds=3)
    with store.unit_of_work() as uow:
        assert uow.commands.finish(cid, "acknowledged", at, None) is None  # never sent
        uow.commands.mark_sent(_id(uow, cid), clock.now(), "sim")
        row = uow.commands.finish(cid, "acknowledged", at, None)
        assert row is not None
        assert (row.state, row.finished_at, row.attempts) == ("acknowledged", at, 1)
        assert uow.commands.finish(cid, "failed", at, "late failure") is None
        assert uow.commands.finish("disconnect/0000000099/0", "acknowledged", at, None) is None
        uow.commit()
    assert command(store, cid).last_error is None


def test_sent_before_finds_only_unanswered_commands_sent_before_the_deadline(
    store: SqlStore, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1, 2, 3], CUT, clock.now()))
    with store.unit_of_work() as uow:
        for account_id, sent_s in ((1, 0), (2, 100)):
            cid = f"disconnect/{account_id:010d}/0"
            sent_at = clock.now() + dt.timedelta(seconds=sent_s)
            uow.commands.mark_sent(_id(uow, cid), sent_at, "sim")
        uow.commit()
    with store.unit_of_work() as uow:
        late = uow.commands.sent_before(clock.now() + dt.timedelta(seconds=50), 10)
    assert [(row.account_id, row.head_end) for row in late] == [(1, "sim")]
    assert late[0].sent_at == clock.now()


def test_anything_to_do_sees_due_and_silent_commands_and_nothing_else(
    store: SqlStore, clock: FakeClock
) -> None:
    start = clock.now()
    later = start + dt.timedelta(minutes=1)
    with store.unit_of_work() as uow:
        assert not uow.commands.anything_to_do(later, start)  # an empty table
    enqueue(store, command_frame([1], CUT, start))
    with store.unit_of_work() as uow:
        assert uow.commands.anything_to_do(start, start)  # queued, never tried: due at once
        uow.commands.mark_sent(_id(uow, "disconnect/0000000001/0"), start, "sim")
        assert not uow.commands.anything_to_do(later, start)  # sent, not yet silent too long
        assert uow.commands.anything_to_do(later, later)  # sent before the deadline
        cid = "disconnect/0000000001/0"
        uow.commands.retry_later(_id(uow, cid), later, "relay did not switch")
        assert not uow.commands.anything_to_do(later - dt.timedelta(seconds=1), later)
        assert uow.commands.anything_to_do(later, later)  # its retry is due
        uow.commands.finish(cid, "acknowledged", later, None)
        assert not uow.commands.anything_to_do(later + dt.timedelta(days=1), later)  # final


def test_acknowledging_many_takes_each_sent_command_once_and_leaves_the_rest(
    store: SqlStore, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1, 2, 3, 4], CUT, clock.now()))
    later = clock.now() + dt.timedelta(seconds=2)
    cids = [f"disconnect/{a:010d}/0" for a in (1, 2, 3, 4)]
    with store.unit_of_work() as uow:
        uow.commands.mark_sent_many([_id(uow, c) for c in cids[:3]], clock.now(), "sim")
        # the third waits for a retry: an earlier attempt's confirmation is still taken
        uow.commands.retry_later(_id(uow, cids[2]), later, "no answer")
        uow.commit()
    confirmations = [(cids[0], later), (cids[0], later + dt.timedelta(seconds=1))]
    confirmations += [(cids[2], later), (cids[3], later), ("disconnect/0000000099/0", later)]
    with store.unit_of_work() as uow:
        taken = uow.commands.acknowledge_many(confirmations)
        uow.commit()
    assert sorted(taken) == [cids[0], cids[2]]  # the unsent and the unknown are not taken
    assert taken[cids[0]].state.value == "sent"  # as it was before
    assert command(store, cids[0]).state.value == "acknowledged"
    assert command(store, cids[0]).finished_at == later  # the first instant of a repeat
    assert command(store, cids[1]).state.value == "sent"
    assert command(store, cids[2]).state.value == "acknowledged"
    assert command(store, cids[3]).state.value == "queued"
    with store.unit_of_work() as uow:
        assert uow.commands.acknowledge_many([(cids[0], later)]) == {}  # already final


def test_marking_many_sent_moves_only_queued_commands_in_one_statement(
    store: SqlStore, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1, 2], CUT, clock.now()))
    cids = ["disconnect/0000000001/0", "disconnect/0000000002/0"]
    with store.unit_of_work() as uow:
        uow.commands.mark_sent_many([_id(uow, c) for c in cids], clock.now(), "dlt645:x")
        uow.commit()
    for cid in cids:
        sent = command(store, cid)
        assert (sent.state.value, sent.attempts, sent.head_end) == ("sent", 1, "dlt645:x")
        assert sent.sent_at == clock.now()
