"""The head-end an entrypoint talks to, chosen by the settings.

Only the simulated head-end exists so far, and it lives in the simulation wing, which nothing
below the entrypoints may import: so the choice is made here rather than in ``bootstrap``.
"""

from __future__ import annotations

from gridpay.config import Settings
from gridpay.errors import ConfigError
from gridpay.ports.gateways import HeadEnd
from gridpay.simulation.head_end import SimulatedHeadEnd


def head_end(settings: Settings, seed: int = 0) -> HeadEnd:
    """The configured head-end. Only the simulated one exists; anything else is refused."""
    if settings.head_end != "simulated":
        raise ConfigError(
            f"head_end {settings.head_end!r} is not available: only 'simulated' is built in"
        )
    return SimulatedHeadEnd(
        seed=seed,
        latency_s=settings.head_end_latency_s,
        failure_rate=settings.head_end_failure_rate,
    )
