"""Cuts go out only inside their window, even when a retry falls after it closes."""

from __future__ import annotations

import datetime as dt

from gridpay.domain.commands import CommandAction
from gridpay.services.commands import dispatch
from gridpay.simulation.head_end import SimulatedHeadEnd
from tests.integration.commands_helpers import command, command_frame, enqueue

EVENING = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)  # 19:00 in Shanghai
NEXT_MORNING = dt.datetime(2026, 12, 8, 0, 0, tzinfo=dt.UTC)  # 08:00


def window(at: dt.datetime) -> dt.datetime | None:
    """Cuts 08:00-18:00 Shanghai (00:00-10:00 UTC), every day, for the test."""
    if at.hour < 10:
        return at
    return dt.datetime(at.year, at.month, at.day, tzinfo=dt.UTC) + dt.timedelta(days=1)


def test_a_cut_due_outside_its_window_waits_for_the_next_one_while_reconnects_go(store, clock):
    enqueue(store, command_frame([1], CommandAction.DISCONNECT, EVENING))
    enqueue(store, command_frame([2], CommandAction.RECONNECT, EVENING))
    head_end = SimulatedHeadEnd(seed=1, latency_s=(1.0, 1.0))
    clock.set(EVENING)
    report = dispatch(store, clock, head_end, cut_window=window)
    assert (report.sent, report.postponed) == (1, 1)
    cut = command(store, "disconnect/0000000001/0")
    assert (cut.state, cut.next_attempt_at) == ("queued", NEXT_MORNING)
    assert command(store, "reconnect/0000000002/0").state == "sent"

    clock.set(NEXT_MORNING - dt.timedelta(minutes=1))
    assert dispatch(store, clock, head_end, cut_window=window).sent == 0
    clock.set(NEXT_MORNING)
    assert dispatch(store, clock, head_end, cut_window=window).sent == 1
    assert command(store, "disconnect/0000000001/0").sent_at == NEXT_MORNING


def test_without_a_window_known_the_cut_waits_a_day_and_asks_again(store, clock):
    enqueue(store, command_frame([1], CommandAction.DISCONNECT, EVENING))
    clock.set(EVENING)
    report = dispatch(store, clock, SimulatedHeadEnd(seed=1), cut_window=lambda at: None)
    assert (report.sent, report.postponed) == (0, 1)
    assert command(store, "disconnect/0000000001/0").next_attempt_at == EVENING + dt.timedelta(
        days=1
    )
