"""The SQL outbox on SQLite and PostgreSQL: dedupe on add, what is due, sent, failed, listed."""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.messages import MessageKind, dedupe_key

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


def outbox_rows(
    account_ids: list[int],
    *,
    kind: MessageKind = MessageKind.WARNING,
    cycle: int = 0,
    created_at: dt.datetime = T0,
) -> pl.DataFrame:
    phones = [f"139{a:08d}" for a in account_ids]
    return pl.DataFrame(
        {
            "dedupe_key": [
                dedupe_key(kind, a, cycle, p) for a, p in zip(account_ids, phones, strict=True)
            ],
            "account_id": account_ids,
            "phone": phones,
            "language": ["zh"] * len(account_ids),
            "kind": [kind.value] * len(account_ids),
            "body": [f"message for {a}" for a in account_ids],
            "created_at": [created_at] * len(account_ids),
        },
        schema_overrides={"account_id": pl.Int64},
    )


def add(store: SqlStore, frame: pl.DataFrame) -> int:
    with store.unit_of_work() as uow:
        added = uow.outbox.add(frame)
        uow.commit()
    return added


def listed(store: SqlStore, **filters: object) -> pl.DataFrame:
    args: dict[str, object] = {"account_id": None, "status": None, "kind": None, "limit": 100}
    args.update(filters)
    with store.unit_of_work() as uow:
        return uow.outbox.list(**args)  # type: ignore[arg-type]


def test_adding_the_same_dedupe_key_twice_stores_one_message(store: SqlStore) -> None:
    assert add(store, outbox_rows([1, 2])) == 2
    assert add(store, outbox_rows([2, 3])) == 1
    assert sorted(listed(store)["account_id"].to_list()) == [1, 2, 3]


def test_a_key_repeated_within_one_batch_is_stored_once(store: SqlStore) -> None:
    assert add(store, outbox_rows([7, 7, 7])) == 1
    assert listed(store).height == 1


def test_the_next_cycle_of_the_same_notice_is_a_new_message(store: SqlStore) -> None:
    add(store, outbox_rows([1], cycle=0))
    assert add(store, outbox_rows([1], cycle=1)) == 1


def test_a_batch_larger_than_one_insert_chunk_is_added_whole(store: SqlStore) -> None:
    ids = list(range(1, 12_002))
    assert add(store, outbox_rows(ids)) == len(ids)
    assert add(store, outbox_rows(ids)) == 0


def test_a_new_message_is_due_at_once_oldest_first(store: SqlStore) -> None:
    add(store, outbox_rows([2], created_at=T0 + dt.timedelta(minutes=1)))
    add(store, outbox_rows([1], created_at=T0))
    with store.unit_of_work() as uow:
        due = uow.outbox.due(T0 + dt.timedelta(minutes=1), limit=10)
        not_yet = uow.outbox.due(T0 - dt.timedelta(seconds=1), limit=10)
    assert [m.account_id for m in due] == [1, 2]
    row = due[0]
    assert row.status == "pending"
    assert row.attempts == 0
    assert row.phone == "13900000001"
    assert row.created_at == T0
    assert row.next_attempt_at == T0
    assert not_yet == []


def test_a_sent_message_is_no_longer_due(store: SqlStore) -> None:
    add(store, outbox_rows([1, 2]))
    with store.unit_of_work() as uow:
        first = uow.outbox.due(T0, limit=1)[0].id
        assert uow.outbox.mark_sent([first], T0 + dt.timedelta(seconds=3)) == 1
        uow.commit()
    with store.unit_of_work() as uow:
        assert [m.account_id for m in uow.outbox.due(T0 + dt.timedelta(days=1), 10)] == [2]
    (sent,) = listed(store, status="sent").iter_rows(named=True)
    assert sent["id"] == first
    assert sent["attempts"] == 1
    assert sent["sent_at"] == T0 + dt.timedelta(seconds=3)


def test_a_failed_attempt_waits_for_its_next_attempt(store: SqlStore) -> None:
    add(store, outbox_rows([1]))
    retry_at = T0 + dt.timedelta(minutes=5)
    with store.unit_of_work() as uow:
        message_id = uow.outbox.due(T0, limit=1)[0].id
        uow.outbox.mark_attempt_failed(message_id, "gateway said 503", retry_at)
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.outbox.due(retry_at - dt.timedelta(seconds=1), limit=10) == []
        (row,) = uow.outbox.due(retry_at, limit=10)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "gateway said 503")


def test_giving_up_marks_the_message_failed_and_never_due_again(store: SqlStore) -> None:
    add(store, outbox_rows([1]))
    with store.unit_of_work() as uow:
        message_id = uow.outbox.due(T0, limit=1)[0].id
        uow.outbox.mark_attempt_failed(message_id, "x" * 1_000, None)
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.outbox.due(T0 + dt.timedelta(days=365), limit=10) == []
    (row,) = listed(store, status="failed").iter_rows(named=True)
    assert row["attempts"] == 1
    assert row["next_attempt_at"] is None
    assert row["last_error"] == "x" * 300


def test_list_filters_by_account_status_and_kind_newest_first(store: SqlStore) -> None:
    add(store, outbox_rows([1, 2]))
    add(store, outbox_rows([1], kind=MessageKind.ARREARS))
    assert listed(store, account_id=1)["kind"].to_list() == ["arrears", "warning"]
    assert listed(store, kind="warning")["account_id"].to_list() == [2, 1]
    assert listed(store, status="sent").height == 0
    assert listed(store, limit=1)["kind"].to_list() == ["arrears"]


def test_recording_a_message_twice_keeps_the_first_outcome(store: SqlStore) -> None:
    add(store, outbox_rows([1]))
    with store.unit_of_work() as uow:
        message_id = uow.outbox.due(T0, limit=1)[0].id
        assert uow.outbox.mark_sent([message_id], T0) == 1
        assert uow.outbox.mark_sent([message_id], T0 + dt.timedelta(hours=1)) == 0
        uow.outbox.mark_attempt_failed(message_id, "late error", None)
        uow.commit()
    (row,) = listed(store).iter_rows(named=True)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, T0)
    assert row["last_error"] is None


def test_marking_a_batch_sent_marks_exactly_those_still_pending(store: SqlStore) -> None:
    add(store, outbox_rows([1, 2, 3, 4]))
    with store.unit_of_work() as uow:
        first, second, third, _ = (m.id for m in uow.outbox.due(T0, limit=10))
        uow.outbox.mark_attempt_failed(third, "gave up", None)
        assert uow.outbox.mark_sent([], T0) == 0
        assert uow.outbox.mark_sent([first, second, third], T0 + dt.timedelta(seconds=5)) == 2
        uow.commit()
    by_account = {m["account_id"]: m for m in listed(store).iter_rows(named=True)}
    assert [by_account[a]["status"] for a in (1, 2, 3, 4)] == ["sent", "sent", "failed", "pending"]
    assert by_account[1]["sent_at"] == by_account[2]["sent_at"] == T0 + dt.timedelta(seconds=5)
    assert (by_account[3]["sent_at"], by_account[3]["attempts"]) == (None, 1)
