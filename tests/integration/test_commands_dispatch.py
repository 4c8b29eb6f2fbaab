"""The dispatcher: results, timeouts, retries with back-off, escalation and the rate limit."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay.adapters.sql.credit_repo import SqlCreditRepo
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.commands import ATTEMPTS_MAX, CommandAction, RateLimiter, retry_delay_s
from gridpay.services.commands import DispatchReport, dispatch
from gridpay.simulation.head_end import SimulatedHeadEnd
from tests.fakes import FakeClock
from tests.helpers_accounts import rows
from tests.integration.commands_helpers import (
    METER_BASE,
    ScriptedHeadEnd,
    StoreWithRecordingCredit,
    command,
    command_frame,
    enqueue,
)

CUT = CommandAction.DISCONNECT
RESTORE = CommandAction.RECONNECT
CUT_1 = "disconnect/0000000001/0"
TIMEOUT_S = 300.0


@pytest.fixture
def recording(store: SqlStore) -> StoreWithRecordingCredit:
    return StoreWithRecordingCredit(store)


def _pass(
    store: StoreWithRecordingCredit | SqlStore,
    clock: FakeClock,
    head_end: SimulatedHeadEnd | ScriptedHeadEnd,
    limiter: RateLimiter | None = None,
) -> DispatchReport:
    return dispatch(store, clock, head_end, limiter=limiter, timeout_s=TIMEOUT_S)  # type: ignore[arg-type]


def test_reconnects_are_sent_before_disconnects_when_the_rate_limit_bites(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1, 2, 3], CUT, clock.now()))
    enqueue(store, command_frame([4, 5], RESTORE, clock.now() + dt.timedelta(seconds=1)))
    clock.advance(seconds=2)
    head_end = ScriptedHeadEnd()
    limiter = RateLimiter(rate_per_s=1, burst=2)
    report = _pass(recording, clock, head_end, limiter)
    assert report.sent == 2
    assert report.rate_limit_wait_s == pytest.approx(1.0)
    assert [s[0] for s in head_end.sent] == ["reconnect/0000000004/0", "reconnect/0000000005/0"]
    clock.advance(seconds=1)
    assert _pass(recording, clock, head_end, limiter).sent == 1
    assert head_end.sent[-1][0] == CUT_1


def test_an_acknowledged_cut_confirms_supply_off_and_reports_its_latency(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    created_at = clock.now()
    enqueue(store, command_frame([1], CUT, created_at))
    head_end = SimulatedHeadEnd(latency_s=(2.0, 2.0))
    clock.advance(seconds=1)
    assert _pass(recording, clock, head_end).sent == 1
    assert command(store, CUT_1).state == "sent"
    assert recording.credit.confirmed == []  # not disconnected until the meter says so
    clock.advance(seconds=5)
    report = _pass(recording, clock, head_end)
    acked_at = created_at + dt.timedelta(seconds=3)
    assert (report.results, report.acknowledged) == (1, 1)
    assert report.latencies_s == [3.0]
    assert recording.credit.confirmed == [(1, "off", acked_at)]
    assert command(store, CUT_1).state == "acknowledged"
    assert head_end.switch_of(METER_BASE + 1) == "off"


def test_a_failing_cut_is_retried_with_back_off_then_escalated_to_staff(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    head_end = SimulatedHeadEnd(latency_s=(1.0, 1.0), failure_rate=1.0)
    for attempt in range(1, ATTEMPTS_MAX):
        assert _pass(recording, clock, head_end).sent == 1
        clock.advance(seconds=1)
        report = _pass(recording, clock, head_end)
        assert (report.retried, report.sent) == (1, 0)  # not before its back-off
        row = command(store, CUT_1)
        assert (row.state, row.attempts) == ("queued", attempt)
        assert row.next_attempt_at == clock.now() + dt.timedelta(seconds=retry_delay_s(attempt))
        assert "relay did not switch" in row.last_error
        clock.set(row.next_attempt_at)
    assert _pass(recording, clock, head_end).sent == 1
    clock.advance(seconds=1)
    report = _pass(recording, clock, head_end)
    assert (report.failed, report.escalated, report.retried) == (1, 1, 0)
    row = command(store, CUT_1)
    assert (row.state, row.attempts) == ("failed", ATTEMPTS_MAX)
    [task] = recording.credit.staff_tasks
    assert task["key"] == f"cut_failed/{CUT_1}"
    assert (task["account_id"], task["kind"]) == (1, "cut_failed")
    assert f"could not cut supply to account 0000000001 after {ATTEMPTS_MAX} attempts" in (
        task["reason"].replace(f" (meter {METER_BASE + 1})", "")
    )
    assert recording.credit.confirmed == []
    clock.advance(days=1)
    assert _pass(recording, clock, head_end) == DispatchReport()  # nothing left to do


def test_a_command_without_an_answer_times_out_and_is_sent_again(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], RESTORE, clock.now()))
    lost = SimulatedHeadEnd(timeout_rate=1.0)
    assert _pass(recording, clock, lost).sent == 1
    clock.advance(seconds=TIMEOUT_S - 1)
    assert _pass(recording, clock, lost).timed_out == 0
    clock.advance(seconds=2)
    report = _pass(recording, clock, lost)
    assert (report.timed_out, report.retried) == (1, 1)
    row = command(store, "reconnect/0000000001/0")
    assert row.state == "queued"
    assert "no answer from head-end sim within 300 s" in row.last_error
    clock.set(row.next_attempt_at)
    answering = SimulatedHeadEnd(latency_s=(0.0, 0.0))
    assert _pass(recording, clock, answering).sent == 1
    assert _pass(recording, clock, answering).acknowledged == 1
    assert recording.credit.confirmed == [(1, "on", clock.now())]
    assert command(store, "reconnect/0000000001/0").attempts == 2


def test_a_head_end_refusing_a_command_counts_as_a_failed_attempt(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    report = _pass(recording, clock, SimulatedHeadEnd(busy_rate=1.0))
    assert (report.refused, report.sent, report.retried) == (1, 0, 1)
    row = command(store, CUT_1)
    assert (row.state, row.attempts, row.head_end) == ("queued", 1, "sim")
    assert "head-end sim is busy" in row.last_error


def test_a_repeated_or_late_result_after_a_final_state_changes_nothing(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    head_end = ScriptedHeadEnd()
    _pass(recording, clock, head_end)
    head_end.answer(CUT_1, True, clock.now())
    head_end.answer(CUT_1, True, clock.now())
    head_end.answer(CUT_1, False, clock.now(), "too late to matter")
    report = _pass(recording, clock, head_end)
    assert (report.acknowledged, report.ignored, report.retried) == (1, 2, 0)
    assert len(recording.credit.confirmed) == 1
    row = command(store, CUT_1)
    assert (row.state, row.last_error) == ("acknowledged", None)
    head_end.answer("disconnect/0000000077/0", True, clock.now())  # not ours
    assert _pass(recording, clock, head_end).ignored == 1


def test_a_cut_confirmed_after_it_was_cancelled_still_tells_the_policy_supply_is_off(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    head_end = ScriptedHeadEnd()
    _pass(recording, clock, head_end)
    sent_at = clock.now()
    clock.advance(seconds=TIMEOUT_S + 1)
    assert _pass(recording, clock, head_end).retried == 1
    with store.unit_of_work() as uow:  # the customer paid: the waiting retry is cancelled
        assert uow.commands.cancel_queued(1, "disconnect", clock.now()) == 1
        uow.commit()
    head_end.answer(CUT_1, True, sent_at + dt.timedelta(seconds=TIMEOUT_S + 5))
    clock.advance(seconds=10)
    report = _pass(recording, clock, head_end)
    assert (report.acknowledged, report.ignored, report.late_confirmations) == (0, 1, 1)
    assert command(store, CUT_1).state == "cancelled"
    assert recording.credit.confirmed == [(1, "off", sent_at + dt.timedelta(seconds=305))]


def test_a_late_cut_confirmation_overtaken_by_a_reconnection_is_not_passed_on(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    head_end = ScriptedHeadEnd()
    _pass(recording, clock, head_end)
    clock.advance(seconds=TIMEOUT_S + 1)
    _pass(recording, clock, head_end)
    with store.unit_of_work() as uow:
        uow.commands.cancel_queued(1, "disconnect", clock.now())
        uow.commit()
    enqueue(store, command_frame([1], RESTORE, clock.now()))
    _pass(recording, clock, head_end)
    late_cut_at = clock.now()
    clock.advance(seconds=1)
    head_end.answer("reconnect/0000000001/0", True, clock.now())
    head_end.answer(CUT_1, True, late_cut_at)  # reported after the reconnection
    report = _pass(recording, clock, head_end)
    assert (report.acknowledged, report.late_confirmations) == (1, 0)
    assert recording.credit.confirmed == [(1, "on", clock.now())]


def test_a_mass_reconnection_is_spread_over_time_by_the_rate_limit(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame(list(range(1, 301)), RESTORE, clock.now()))
    head_end = SimulatedHeadEnd(seed=3, latency_s=(0.5, 2.0))
    limiter = RateLimiter(rate_per_s=50, burst=100)
    sent_per_pass = []
    latencies_s: list[float] = []
    for _ in range(8):
        report = _pass(recording, clock, head_end, limiter)
        sent_per_pass.append(report.sent)
        latencies_s += report.latencies_s
        clock.advance(seconds=1)
    assert sent_per_pass[:6] == [100, 50, 50, 50, 50, 0]
    assert len(latencies_s) == 300
    assert all(head_end.switch_of(METER_BASE + a) == "on" for a in range(1, 301))


@pytest.mark.skipif(
    not hasattr(SqlCreditRepo, "confirm_supply"), reason="waits for SqlCreditRepo.confirm_supply"
)
def test_a_confirmed_cut_disconnects_the_account_in_the_credit_state(
    store: SqlStore, clock: FakeClock
) -> None:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.exec_driver_sql(
            "INSERT INTO credit_state (account_id, state, cycle, supply, updated_at) "
            f"VALUES (1, 'disconnecting', 0, 'on', '{clock.now().isoformat(sep=' ')}')"
        )
        uow.commit()
    enqueue(store, command_frame([1, 2], CUT, clock.now()))
    head_end = SimulatedHeadEnd(latency_s=(1.0, 1.0))
    _pass(store, clock, head_end)
    clock.advance(seconds=2)
    assert _pass(store, clock, head_end).acknowledged == 2
    [(state, supply)] = rows(store, "SELECT state, supply FROM credit_state WHERE account_id = 1")
    assert (state, supply) == ("disconnected", "off")


@pytest.mark.skipif(
    not hasattr(SqlCreditRepo, "add_staff_tasks"), reason="waits for SqlCreditRepo.add_staff_tasks"
)
def test_a_reconnection_given_up_leaves_one_staff_task(store: SqlStore, clock: FakeClock) -> None:
    enqueue(store, command_frame([1], RESTORE, clock.now()))
    head_end = SimulatedHeadEnd(latency_s=(0.0, 0.0), failure_rate=1.0)
    for _ in range(3 * ATTEMPTS_MAX):
        _pass(store, clock, head_end)
        clock.advance(hours=1)
    tasks = rows(store, "SELECT key, account_id, kind FROM staff_tasks")
    assert [tuple(t) for t in tasks] == [
        ("reconnect_failed/reconnect/0000000001/0", 1, "reconnect_failed")
    ]
    assert command(store, "reconnect/0000000001/0").state == "failed"
    # Restored on site, the meter confirms supply on: the task has lost its cause.
    with store.unit_of_work() as uow:
        uow.credit.confirm_supply(1, "on", clock.now())
        uow.commit()
    closed = rows(store, "SELECT close_code, close_reason FROM staff_tasks")
    assert [tuple(t) for t in closed] == [("supply_on", "the meter confirmed supply on")]


def test_a_batch_of_confirmations_closes_every_accounts_given_up_reconnection(
    store: SqlStore, clock: FakeClock
) -> None:
    # The dispatcher records a pass's confirmations together: each account's open task closes.
    enqueue(store, command_frame([1, 2], RESTORE, clock.now()))
    head_end = SimulatedHeadEnd(latency_s=(0.0, 0.0), failure_rate=1.0)
    for _ in range(3 * ATTEMPTS_MAX):
        _pass(store, clock, head_end)
        clock.advance(hours=1)
    assert len(rows(store, "SELECT key FROM staff_tasks WHERE closed_at IS NULL")) == 2
    with store.unit_of_work() as uow:
        uow.credit.confirm_supplies([(1, "on", clock.now()), (2, "on", clock.now())])
        uow.commit()
    closed = rows(store, "SELECT account_id, close_code FROM staff_tasks ORDER BY account_id")
    assert [tuple(t) for t in closed] == [(1, "supply_on"), (2, "supply_on")]


def test_a_late_answer_to_an_attempt_that_timed_out_is_taken_while_the_retry_waits(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    enqueue(store, command_frame([1], CUT, clock.now()))
    head_end = ScriptedHeadEnd()
    _pass(recording, clock, head_end)
    clock.advance(seconds=TIMEOUT_S + 1)
    assert _pass(recording, clock, head_end).retried == 1
    head_end.answer(CUT_1, True, clock.now())
    report = _pass(recording, clock, head_end)
    assert (report.acknowledged, report.sent) == (1, 0)
    assert command(store, CUT_1).state == "acknowledged"
    assert recording.credit.confirmed == [(1, "off", clock.now())]


def test_an_idle_pass_changes_nothing_and_the_next_pass_sends_what_became_due(
    store: SqlStore, recording: StoreWithRecordingCredit, clock: FakeClock
) -> None:
    head_end = ScriptedHeadEnd()
    limiter = RateLimiter(rate_per_s=1, burst=2)
    assert _pass(recording, clock, head_end, limiter) == DispatchReport()  # an empty queue
    enqueue(store, command_frame([1], CUT, clock.now()))
    enqueue(store, command_frame([2], RESTORE, clock.now()))
    cut_id = command(store, CUT_1).id
    with store.unit_of_work() as uow:  # held back for an hour: not due yet
        uow.commands.postpone(cut_id, clock.now() + dt.timedelta(hours=1))
        uow.commit()
    assert _pass(recording, clock, head_end, limiter).sent == 1  # the reconnect only
    head_end.answer("reconnect/0000000002/0", True, clock.now())
    clock.advance(minutes=1)
    report = _pass(recording, clock, head_end, limiter)
    assert (report.acknowledged, report.sent) == (1, 0)
    assert _pass(recording, clock, head_end, limiter) == DispatchReport()  # nothing due
    assert command(store, CUT_1).state == "queued"
    clock.advance(hours=1)
    assert _pass(recording, clock, head_end, limiter).sent == 1
    assert [s[0] for s in head_end.sent] == ["reconnect/0000000002/0", CUT_1]
    clock.advance(seconds=TIMEOUT_S - 1)
    assert _pass(recording, clock, head_end, limiter) == DispatchReport()  # not silent long
    clock.advance(seconds=2)
    assert _pass(recording, clock, head_end, limiter).timed_out == 1
