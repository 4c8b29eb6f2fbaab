"""The per-account reads benchmark: ``account show`` and a month's statement at age.

The city is built as the settlement bench builds it, with ``history_days`` of usage rows and
charges made inside the database; then random accounts (seeded) are read, each read timed
alone, and the percentiles printed. A household's page calls these on every visit, so the tail
matters more than the mean.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridpay.domain.tariff import Tariff
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.store import Store
from gridpay.services.queries import account_show, account_statement
from gridpay.simulation import bench
from gridpay.simulation.clock import SimulatedClock

SAMPLES_DEFAULT = 500


@dataclass(frozen=True)
class ReadTimes:
    name: str
    seconds: tuple[float, ...]

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.seconds)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "samples": len(self.seconds),
            **{f"p{p}_ms": round(self.percentile_ms(p), 2) for p in (50, 95, 99)},
            "max_ms": round(max(self.seconds) * 1000, 2),
        }


@dataclass(frozen=True)
class ReadsReport:
    accounts: int
    history_days: int
    month: str
    phases: tuple[bench.Phase, ...]
    reads: tuple[ReadTimes, ...]
    machine: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "history_days": self.history_days,
            "month": self.month,
            "phases": [{"name": p.name, "seconds": p.seconds} for p in self.phases],
            "reads": [r.as_dict() for r in self.reads],
            "machine": dict(self.machine),
        }


def statement_month(day: dt.date, history_days: int) -> str:
    """A month about half way back in the history, ended before the day (not this month)."""
    middle = day - dt.timedelta(days=max(history_days // 2, 1))
    first = middle.replace(day=1)
    if first >= day.replace(day=1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return f"{first:%Y-%m}"


def run_reads_bench(
    store: Store,
    bench_repo_for: bench.BenchRepoFor,
    options: bench.BenchOptions,
    office_names: Sequence[str],
    tariff_files: Sequence[tuple[Tariff, str]],
    *,
    samples: int = SAMPLES_DEFAULT,
    machine: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    on_phase: Callable[[bench.Phase], None] | None = None,
) -> ReadsReport:
    # The clock the reads see: the morning after the history's last day.
    at = dt.datetime.combine(options.day, dt.time(2), tzinfo=dt.UTC)
    clock: Clock = SimulatedClock(at)
    built = bench.build_city(
        store,
        clock,
        bench_repo_for,
        options,
        office_names,
        tariff_files,
        progress=progress,
        on_phase=on_phase,
    )
    chooser = random.Random(options.seed)
    ids = built.account_ids.to_list()
    picked = [f"{chooser.choice(ids):010d}" for _ in range(samples)]
    month = statement_month(options.day, options.history_days)
    shows, statements = [], []
    for account_no in picked:
        start = time.perf_counter()
        account_show(store, clock, account_no)
        shows.append(time.perf_counter() - start)
        start = time.perf_counter()
        account_statement(store, account_no, month)
        statements.append(time.perf_counter() - start)
    return ReadsReport(
        accounts=options.accounts,
        history_days=options.history_days,
        month=month,
        phases=built.phases,
        reads=(
            ReadTimes("account show", tuple(shows)),
            ReadTimes(f"statement {month}", tuple(statements)),
        ),
        machine=dict(machine or {}),
    )
