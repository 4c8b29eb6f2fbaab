"""The figures the demo shows: percentiles and the latency histogram, and the demo's options."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay.errors import InvalidInput
from gridpay.simulation.demo import demo_options, latency_histogram, latency_stats, percentile


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.9) == 90.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.5) == 7.0


def test_latency_stats_of_nothing_is_none_and_of_values_sorted() -> None:
    assert latency_stats([]) is None
    stats = latency_stats([30.0, 3.0, 10.0, 20.0])
    assert stats is not None
    assert (stats.count, stats.p50_s, stats.p90_s, stats.max_s) == (4, 10.0, 30.0, 30.0)


def test_the_histogram_counts_every_latency_once_with_the_largest_in_the_last_bucket() -> None:
    values = [0.0, 1.0, 2.5, 9.9, 10.0]
    buckets = latency_histogram(values, bins=4)
    assert [n for _, _, n in buckets] == [2, 1, 0, 2]
    assert buckets[0][0] == 0.0 and buckets[-1][1] == 10.0
    assert latency_histogram([]) == []


def test_demo_options_keep_the_engines_defaults_and_refuse_silly_sizes() -> None:
    options = demo_options(accounts=300, days=12, seed=3, first_day=dt.date(2026, 9, 20))
    assert (options.accounts, options.days, options.seed) == (300, 12, 3)
    assert options.first_day == dt.date(2026, 9, 20)
    assert demo_options().first_day == dt.date(2026, 9, 15)
    with pytest.raises(InvalidInput):
        demo_options(days=0)
    with pytest.raises(InvalidInput):
        demo_options(accounts=0)
