"""The demo: the lifecycle engine's defaults for a newcomer, and the figures people read.

``gridpay demo`` builds a seeded city of 5,000 households on SQLite and lives 60 days of the
whole cycle through ``services.lifecycle.run_life`` (readings, settlement, credit policy, SMS,
cuts, payments, restoration), crossing Mid-Autumn and National Day 2026. This module holds what
the command line and the HTML report both need to say about a run: totals, and the latency
distribution of payment -> meter acknowledged. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from gridpay.errors import InvalidInput
from gridpay.simulation.lifecycle import LifeOptions, LifeSummary

ACCOUNTS_DEFAULT = 5_000
DAYS_DEFAULT = 60
SEED_DEFAULT = 7
FIRST_DAY_DEFAULT = dt.date(2026, 9, 15)  # Mid-Autumn 25-27 Sep, National Day 1-7 Oct
DAYS_MAX = 366
LATENCY_BINS = 10


def demo_options(
    accounts: int = ACCOUNTS_DEFAULT,
    days: int = DAYS_DEFAULT,
    seed: int = SEED_DEFAULT,
    first_day: dt.date = FIRST_DAY_DEFAULT,
) -> LifeOptions:
    """The demo's options: the engine's defaults with the size, seed and first day asked for."""
    if accounts < 1:
        raise InvalidInput("the demo needs at least one household")
    if not 1 <= days <= DAYS_MAX:
        raise InvalidInput(f"the demo lives 1 to {DAYS_MAX} days, not {days}")
    return LifeOptions(accounts=accounts, days=days, seed=seed, first_day=first_day)


@dataclass(frozen=True)
class Totals:
    energy_wh: int
    charged_fen: int
    payments: int
    paid_fen: int
    retries_absorbed: int
    warnings: int
    arrears_notices: int
    second_notices: int
    cuts_confirmed: int
    restorations_confirmed: int
    holds: int
    messages_sent: int
    commands_failed: int


def totals(summary: LifeSummary) -> Totals:
    d = summary.days
    return Totals(
        energy_wh=sum(x.energy_wh for x in d),
        charged_fen=sum(x.charged_fen for x in d),
        payments=sum(x.payments for x in d),
        paid_fen=sum(x.paid_fen for x in d),
        retries_absorbed=sum(x.retries_absorbed for x in d),
        warnings=sum(x.warnings for x in d),
        arrears_notices=sum(x.arrears_notices for x in d),
        second_notices=sum(x.second_notices for x in d),
        cuts_confirmed=sum(x.cuts_confirmed for x in d),
        restorations_confirmed=sum(x.restorations_confirmed for x in d),
        holds=sum(x.holds for x in d),
        messages_sent=sum(x.messages_sent for x in d),
        commands_failed=sum(x.commands_failed for x in d),
    )


@dataclass(frozen=True)
class LatencyStats:
    count: int
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of values sorted ascending (``fraction`` in (0, 1])."""
    assert sorted_values
    assert 0 < fraction <= 1
    rank = max(1, -(-len(sorted_values) * fraction // 1))  # ceil, at least the first
    return sorted_values[int(rank) - 1]


def latency_stats(latencies_s: Sequence[float]) -> LatencyStats | None:
    """p50 / p90 / p99 / max of latencies in seconds (None when there are none)."""
    if not latencies_s:
        return None
    values = sorted(latencies_s)
    return LatencyStats(
        count=len(values),
        p50_s=percentile(values, 0.50),
        p90_s=percentile(values, 0.90),
        p99_s=percentile(values, 0.99),
        max_s=values[-1],
    )


def latency_histogram(
    latencies_s: Sequence[float], bins: int = LATENCY_BINS
) -> list[tuple[float, float, int]]:
    """``bins`` equal buckets from 0 to the largest latency: (low_s, high_s, count); the last
    bucket includes its upper edge."""
    if not latencies_s:
        return []
    assert bins >= 1
    top = max(max(latencies_s), 1e-9)
    width = top / bins
    counts = [0] * bins
    for value in latencies_s:
        counts[min(int(value / width), bins - 1)] += 1
    return [(i * width, (i + 1) * width, n) for i, n in enumerate(counts)]
