"""Meter command rules: back-off, the rate limit and which state may follow which."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpay import limits
from gridpay.domain.commands import (
    ATTEMPTS_MAX,
    FINAL_STATES,
    PRIORITY,
    CommandAction,
    CommandState,
    RateLimiter,
    assert_transition,
    correlation_id,
    escalation_kind,
    gives_up,
    may_follow,
    retry_at,
    retry_delay_s,
    supply_after,
)

T0 = dt.datetime(2026, 10, 8, 0, 0, tzinfo=dt.UTC)


# --- back-off -----------------------------------------------------------------------------


def test_back_off_doubles_from_the_base_until_the_cap() -> None:
    delays = [retry_delay_s(n, base_s=30, cap_s=600) for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 600, 600]


@given(attempts=st.integers(min_value=1, max_value=10_000))
def test_back_off_never_shrinks_and_never_passes_the_cap(attempts: int) -> None:
    delay_s = retry_delay_s(attempts)
    assert limits.command_retry_base_s <= delay_s <= limits.command_retry_cap_s
    assert retry_delay_s(attempts + 1) >= delay_s


def test_retry_at_is_deterministic_and_jitter_only_delays() -> None:
    assert retry_at(2, T0) == retry_at(2, T0) == T0 + dt.timedelta(seconds=retry_delay_s(2))
    assert retry_at(2, T0, jitter_s=1.5) == retry_at(2, T0) + dt.timedelta(seconds=1.5)


def test_a_command_is_given_up_after_attempts_max_sends() -> None:
    assert not gives_up(ATTEMPTS_MAX - 1)
    assert gives_up(ATTEMPTS_MAX)


# --- states -------------------------------------------------------------------------------


def test_a_queued_command_is_sent_or_cancelled_and_a_sent_one_answered_or_retried() -> None:
    assert may_follow(CommandState.QUEUED, CommandState.SENT)
    assert may_follow(CommandState.QUEUED, CommandState.CANCELLED)
    assert not may_follow(CommandState.SENT, CommandState.CANCELLED)  # too late to cancel
    for after_sent in ("acknowledged", "failed", "timed_out", "queued"):
        assert may_follow(CommandState.SENT, CommandState(after_sent))


@pytest.mark.parametrize("final", sorted(FINAL_STATES))
def test_no_state_follows_a_final_one(final: CommandState) -> None:
    for state in CommandState:
        assert not may_follow(final, state)
    with pytest.raises(AssertionError, match="may not go from"):
        assert_transition(final, CommandState.QUEUED)


def test_reconnects_outrank_disconnects_and_each_has_its_escalation() -> None:
    assert PRIORITY[CommandAction.RECONNECT] < PRIORITY[CommandAction.DISCONNECT]
    assert escalation_kind(CommandAction.DISCONNECT) == "cut_failed"
    assert escalation_kind(CommandAction.RECONNECT) == "reconnect_failed"
    assert supply_after(CommandAction.DISCONNECT) == "off"
    assert supply_after(CommandAction.RECONNECT) == "on"
    assert correlation_id(CommandAction.DISCONNECT, 42, 3) == "disconnect/0000000042/3"


# --- rate limit ---------------------------------------------------------------------------


def test_rate_limiter_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate_per_s=2, burst=3)
    assert [limiter.take(T0) for _ in range(4)] == [True, True, True, False]
    assert limiter.wait_s(T0) == pytest.approx(0.5)
    assert not limiter.take(T0 + dt.timedelta(seconds=0.4))
    assert limiter.take(T0 + dt.timedelta(seconds=0.5))
    assert limiter.available(T0 + dt.timedelta(seconds=60)) == 3  # never more than the burst


def test_rate_limiter_ignores_time_running_backwards() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=1)
    assert limiter.take(T0)
    assert not limiter.take(T0 - dt.timedelta(hours=1))
    assert limiter.take(T0 + dt.timedelta(seconds=1))


@given(
    rate_per_s=st.sampled_from([0.5, 1.0, 3.0, 50.0, 1000.0]),
    burst=st.integers(min_value=1, max_value=20),
    steps_us=st.lists(st.integers(min_value=0, max_value=3_000_000), min_size=1, max_size=80),
)
def test_rate_limiter_never_allows_more_than_burst_plus_rate_times_window(
    rate_per_s: float, burst: int, steps_us: list[int]
) -> None:
    limiter = RateLimiter(rate_per_s, burst)
    sends_us: list[int] = []
    at_us = 0
    for step_us in steps_us:
        at_us += step_us
        while limiter.take(T0 + dt.timedelta(microseconds=at_us)):
            sends_us.append(at_us)
    for i, first_us in enumerate(sends_us):
        for j in range(i, len(sends_us)):
            window_s = (sends_us[j] - first_us) / 1_000_000
            assert j - i + 1 <= burst + rate_per_s * window_s + 1e-9
