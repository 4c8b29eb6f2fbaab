"""The outbox worker on SQLite and PostgreSQL: send, retry with back-off, give up, list."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay import limits
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.messages import Brand, MessageKind
from gridpay.errors import DeliveryFailed, InvalidInput
from gridpay.services.messaging import (
    SendReport,
    brand_from_settings,
    list_messages,
    send_due,
)
from tests.fakes import FakeClock, FakeSmsGateway
from tests.integration.test_outbox_repo import T0, add, outbox_rows


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def statuses(store: SqlStore) -> dict[str, tuple[str, int]]:
    """account_no -> (status, attempts)."""
    return {
        m.account_no or "": (m.status, m.attempts) for m in list_messages(store, None, None, None)
    }


def test_due_messages_are_sent_through_the_gateway_and_marked_sent(
    store: SqlStore, clock: FakeClock
) -> None:
    add(store, outbox_rows([1, 2]))
    gateway = FakeSmsGateway()
    clock.advance(seconds=5)
    assert send_due(store, clock, gateway) == SendReport(sent=2, failed_attempts=0, gave_up=0)
    assert gateway.sent == [
        ("13900000001", "message for 1", "warning/0000000001/0/13900000001"),
        ("13900000002", "message for 2", "warning/0000000002/0/13900000002"),
    ]
    (view, _) = list_messages(store, None, "sent", None)
    assert view.sent_at == T0 + dt.timedelta(seconds=5)
    assert send_due(store, clock, gateway) == SendReport(sent=0, failed_attempts=0, gave_up=0)
    assert len(gateway.sent) == 2


def test_a_failed_message_is_retried_with_back_off_then_given_up(
    store: SqlStore, clock: FakeClock
) -> None:
    add(store, outbox_rows([1]))
    gateway = FakeSmsGateway(failures=1_000)
    waits_s = []
    for _ in range(limits.message_send_attempts_max - 1):
        assert send_due(store, clock, gateway).failed_attempts == 1
        (view,) = list_messages(store, None, None, None)
        assert view.next_attempt_at is not None
        waits_s.append((view.next_attempt_at - clock.now()).total_seconds())
        clock.set(view.next_attempt_at - dt.timedelta(seconds=1))
        assert send_due(store, clock, gateway).due == 0  # not before its time
        clock.set(view.next_attempt_at)
    base_s = limits.message_retry_base_s
    assert waits_s == [
        min(base_s * 2**n, limits.message_retry_cap_s)
        for n in range(limits.message_send_attempts_max - 1)
    ]
    assert send_due(store, clock, gateway) == SendReport(sent=0, failed_attempts=0, gave_up=1)
    (view,) = list_messages(store, None, None, None)
    assert (view.status, view.attempts) == ("failed", limits.message_send_attempts_max)
    assert view.last_error == f"fake gateway down (try {limits.message_send_attempts_max})"
    clock.advance(days=30)
    assert send_due(store, clock, gateway).due == 0


def test_a_message_that_fails_twice_is_sent_on_the_third_try(
    store: SqlStore, clock: FakeClock
) -> None:
    add(store, outbox_rows([1]))
    gateway = FakeSmsGateway(failures=2)
    for _ in range(3):
        send_due(store, clock, gateway)
        clock.advance(hours=1)
    assert statuses(store) == {"0000000001": ("sent", 3)}
    assert len(gateway.sent) == 1


def test_one_failing_phone_does_not_hold_up_the_others(store: SqlStore, clock: FakeClock) -> None:
    add(store, outbox_rows([1, 2, 3]))
    gateway = FakeSmsGateway(failures={"13900000002": 1})
    assert send_due(store, clock, gateway) == SendReport(sent=2, failed_attempts=1, gave_up=0)
    assert statuses(store) == {
        "0000000001": ("sent", 1),
        "0000000002": ("pending", 1),
        "0000000003": ("sent", 1),
    }


def test_a_pass_over_several_batches_marks_the_sent_and_retries_the_failed_later(
    store: SqlStore, clock: FakeClock
) -> None:
    accounts = range(1, 2 * limits.message_marks_per_transaction + 6)
    failing = {1, limits.message_marks_per_transaction + 1, len(accounts)}  # one in each batch
    add(store, outbox_rows(list(accounts)))
    gateway = FakeSmsGateway(failures={f"139{a:08d}": 1 for a in failing})
    first = send_due(store, clock, gateway)
    assert first == SendReport(sent=len(accounts) - 3, failed_attempts=3, gave_up=0)
    expected = {f"{a:010d}": ("pending", 1) if a in failing else ("sent", 1) for a in accounts}
    assert statuses(store) == expected
    clock.advance(seconds=limits.message_retry_base_s)
    assert send_due(store, clock, gateway) == SendReport(sent=3, failed_attempts=0, gave_up=0)
    assert statuses(store) == {
        k: ("sent", 2 if s == "pending" else 1) for k, (s, _) in expected.items()
    }
    assert len(gateway.sent) == len(accounts)


def test_a_crash_mid_pass_sends_that_batch_again_under_the_same_dedupe_keys(
    store: SqlStore, clock: FakeClock
) -> None:
    """Outcomes are recorded a batch per transaction: a crash before the batch is recorded
    sends its messages again, under the keys the gateway already saw (so it can drop them)."""
    add(store, outbox_rows([1, 2, 3]))

    class CrashingGateway(FakeSmsGateway):
        def send(self, phone: str, body: str, dedupe_key: str) -> None:
            if len(self.sent) == 1:
                raise RuntimeError("power cut")
            super().send(phone, body, dedupe_key)

    crashing = CrashingGateway()
    with pytest.raises(RuntimeError, match="power cut"):
        send_due(store, clock, crashing)
    assert statuses(store)["0000000001"] == ("pending", 0)
    gateway = FakeSmsGateway()
    assert send_due(store, clock, gateway).sent == 3
    assert crashing.sent[0][2] == gateway.sent[0][2] == "warning/0000000001/0/13900000001"
    assert send_due(store, clock, FakeSmsGateway()).sent == 0


def test_a_pass_sends_at_most_its_limit_oldest_first(store: SqlStore, clock: FakeClock) -> None:
    add(store, outbox_rows([2], created_at=T0))
    add(store, outbox_rows([1], created_at=T0 + dt.timedelta(seconds=1)))
    add(store, outbox_rows([3], created_at=T0 + dt.timedelta(seconds=2)))
    clock.advance(seconds=2)
    gateway = FakeSmsGateway()
    assert send_due(store, clock, gateway, limit=2).sent == 2
    assert [phone for phone, _, _ in gateway.sent] == ["13900000002", "13900000001"]


def test_a_pass_limit_outside_the_bounds_is_refused(store: SqlStore, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="limit must be between 1 and"):
        send_due(store, clock, FakeSmsGateway(), limit=0)


def test_list_messages_filters_by_account_status_and_kind(
    store: SqlStore, clock: FakeClock
) -> None:
    add(store, outbox_rows([1, 2]))
    add(store, outbox_rows([1], kind=MessageKind.ARREARS))
    views = list_messages(store, "0000000001", None, None)
    assert [(v.account_no, v.kind, v.status) for v in views] == [
        ("0000000001", "arrears", "pending"),
        ("0000000001", "warning", "pending"),
    ]
    assert [v.account_no for v in list_messages(store, None, "pending", "warning")] == [
        "0000000002",
        "0000000001",
    ]
    assert list_messages(store, None, "sent", None) == []


@pytest.mark.parametrize(
    ("account_no", "status", "kind", "limit", "message"),
    [
        ("123", None, None, 10, "must be exactly 10 digits"),
        (None, "lost", None, 10, "status 'lost' is not known: use one of pending, sent, failed"),
        (None, None, "hello", 10, "kind 'hello' is not known: use one of agreement"),
        (None, None, None, 0, "limit must be between 1 and 1000"),
    ],
)
def test_list_messages_refuses_unknown_filters_naming_the_choices(
    store: SqlStore,
    account_no: str | None,
    status: str | None,
    kind: str | None,
    limit: int,
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        list_messages(store, account_no, status, kind, limit)


def test_the_brand_comes_from_the_settings() -> None:
    settings = Settings(company_name="Luoyang Power", company_name_zh="洛阳供电", hotline="123")
    assert brand_from_settings(settings) == Brand("洛阳供电", "Luoyang Power", "123")


def test_delivery_failed_is_what_the_fake_raises() -> None:
    with pytest.raises(DeliveryFailed):
        FakeSmsGateway(failures=1).send("1", "b", "k")
