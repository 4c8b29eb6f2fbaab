"""The housekeeping's cutoffs never call a usable row dead: checked against the very rules that
decide whether a nonce, a code or a session can still be used."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.partners import Signature, check_fresh
from gridpay.errors import NotSignedIn
from gridpay.services.housekeeping import cutoffs

EPOCH = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
WINDOW_S = 300
US = 1_000_000


def at(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


@given(
    seen_us=st.integers(0, 10_000 * US),
    skew_s=st.integers(-WINDOW_S, WINDOW_S),
    sweep_after_us=st.integers(0, 4 * WINDOW_S * US),
    replay_after_us=st.integers(0, 2 * WINDOW_S * US),
)
# Seen at 1.2 s with a timestamp a window ahead; swept at 601.5 s; replayed at 601.6 s, whose
# truncated second is still exactly a window from the timestamp: kept by the second's margin.
@example(seen_us=1_200_000, skew_s=WINDOW_S, sweep_after_us=600_300_000, replay_after_us=100_000)
def test_a_nonce_deleted_can_never_pass_the_freshness_check_again(
    seen_us: int, skew_s: int, sweep_after_us: int, replay_after_us: int
) -> None:
    """A nonce seen at ``seen`` with a timestamp then fresh, deleted by a sweep at ``sweep``: a
    replay at any later instant is refused as stale (so the deleted nonce is never needed)."""
    settings = Settings(partner_signature_window_s=WINDOW_S)
    seen = at(seen_us)
    timestamp_s = int(seen.timestamp()) + skew_s
    signature = Signature("ICBC", timestamp_s, "n" * 16, "0" * 64)
    check_fresh(signature, seen, WINDOW_S)  # it was accepted when seen
    sweep = at(seen_us + sweep_after_us)
    if not seen < cutoffs(sweep, settings).nonces_seen_before:
        return  # kept
    with pytest.raises(NotSignedIn, match="stale"):
        check_fresh(signature, sweep + dt.timedelta(microseconds=replay_after_us), WINDOW_S)


@given(requested_us=st.integers(0, 10_000 * US), sweep_after_us=st.integers(0, 3 * 3600 * US))
def test_a_code_is_dead_only_once_expired_and_out_of_every_rate_window(
    requested_us: int, sweep_after_us: int
) -> None:
    requested = at(requested_us)
    expires = requested + dt.timedelta(seconds=limits.sign_in_code_valid_s)
    sweep = at(requested_us + sweep_after_us)
    if requested < cutoffs(sweep, Settings()).codes_requested_before:
        assert expires <= sweep  # no longer usable
        since = sweep - dt.timedelta(seconds=limits.sign_in_rate_window_s)
        assert not requested > since  # no longer counted by the rate limits


@given(
    last_seen_after_us=st.integers(0, 4 * 3600 * US),
    sweep_after_us=st.integers(0, 8 * 3600 * US),
    idle_minutes=st.integers(1, 600),
)
def test_a_household_session_is_dead_only_once_idle_past_the_limit(
    last_seen_after_us: int, sweep_after_us: int, idle_minutes: int
) -> None:
    settings = Settings(household_session_idle_minutes=idle_minutes)
    last_seen = at(last_seen_after_us)
    sweep = at(last_seen_after_us + sweep_after_us)
    idle = dt.timedelta(minutes=idle_minutes)
    dead = last_seen <= cutoffs(sweep, settings).household_idle_before
    assert dead == (last_seen + idle <= sweep)  # household_access.current_session's rule
