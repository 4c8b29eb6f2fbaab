"""The head-end an entrypoint talks to: the configured one, through ``bootstrap.head_end``.

Every command path (``commands dispatch``, ``run``, the demo) takes its head-end here, so the
setting is obeyed everywhere. The simulated head-end lives in the simulation wing, which only
entrypoints may import: its factory is handed to ``bootstrap`` from here, and used only when
``head_end = "simulated"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

from gridpay import bootstrap
from gridpay.config import Settings
from gridpay.ports.gateways import HeadEnd
from gridpay.simulation.head_end import SimulatedHeadEnd


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class _Waitable(Protocol):
    def wait_idle(self, timeout_s: float) -> bool: ...


def head_end(settings: Settings, seed: int = 0, *, answers_at_once: bool = False) -> HeadEnd:
    """The configured head-end. ``answers_at_once``: a simulated one answers with no latency
    (a one-shot command has no later pass to collect its answers)."""

    def simulated() -> HeadEnd:
        return SimulatedHeadEnd(
            seed=seed,
            latency_s=(0.0, 0.0) if answers_at_once else settings.head_end_latency_s,
            failure_rate=settings.head_end_failure_rate,
        )

    return bootstrap.head_end(settings, simulated)


@contextmanager
def configured_head_end(
    settings: Settings, seed: int = 0, *, answers_at_once: bool = False
) -> Iterator[HeadEnd]:
    """``head_end``, closed afterwards (a DL/T 645 head-end holds connections and a thread)."""
    chosen = head_end(settings, seed, answers_at_once=answers_at_once)
    try:
        yield chosen
    finally:
        if isinstance(chosen, _Closable):
            chosen.close()


def wait_for_answers(chosen: HeadEnd, timeout_s: float) -> None:
    """Let a head-end that answers in real time finish what it was given (up to ``timeout_s``)."""
    if isinstance(chosen, _Waitable):
        chosen.wait_idle(timeout_s)
