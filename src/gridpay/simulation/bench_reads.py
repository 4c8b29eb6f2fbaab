"""The per-account reads benchmark: ``account show``, a month's statement and the household's
home page (its reads and arithmetic) at the ledger's age.

The city is ``reads_city``'s (a year of settled days made inside the database; built once and
reused with ``--city-db``); random accounts (seeded) are read, each read timed alone, and for each
read the percentiles of wall time, the mean CPU time of this process (the database's own work
included on SQLite, not on PostgreSQL's server) and the SQL statements it sent. A household's
page calls these on every visit, so the tail matters more than the mean.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

from gridpay.ports.clock import Clock
from gridpay.ports.store import Store
from gridpay.services.credit import Policy
from gridpay.services.household_view import home
from gridpay.services.queries import account_show, account_statement
from gridpay.simulation.reads_city import ReadsCity, statement_month

SAMPLES_DEFAULT = 500


@dataclass(frozen=True)
class ReadTimes:
    name: str
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...] = ()
    statements: tuple[int, ...] = ()

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.seconds)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def as_dict(self) -> dict[str, Any]:
        n = len(self.seconds)
        return {
            "name": self.name,
            "samples": n,
            **{f"p{p}_ms": round(self.percentile_ms(p), 2) for p in (50, 95, 99)},
            "max_ms": round(max(self.seconds) * 1000, 2),
            "cpu_mean_ms": round(sum(self.cpu_seconds) / n * 1000, 3) if self.cpu_seconds else None,
            "statements_mean": round(sum(self.statements) / n, 1) if self.statements else None,
            "statements_max": max(self.statements) if self.statements else None,
        }


@dataclass(frozen=True)
class ReadsReport:
    accounts: int
    history_days: int
    month: str
    build_s: float
    reused: bool
    reads: tuple[ReadTimes, ...]
    machine: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "history_days": self.history_days,
            "month": self.month,
            "build_s": round(self.build_s, 1),
            "reused": self.reused,
            "reads": [r.as_dict() for r in self.reads],
            "machine": dict(self.machine),
        }


class StatementCounter:
    """Counts the SQL statements an engine sends (a SQLAlchemy event listener)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def _seen(self, *_: object) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def as_of(city: ReadsCity) -> dt.datetime:
    """The morning after the city's newest settled day (09:00 in Shanghai)."""
    return dt.datetime.combine(city.newest_day + dt.timedelta(days=1), dt.time(1), dt.UTC)


def run_reads_bench(
    store: Store,
    engine: Engine,
    clock: Clock,
    policy: Policy,
    city: ReadsCity,
    *,
    reused: bool,
    samples: int = SAMPLES_DEFAULT,
    seed: int = 7,
    machine: Mapping[str, str] | None = None,
) -> ReadsReport:
    chooser = random.Random(seed)
    picked = [chooser.choice(city.account_ids) for _ in range(samples)]
    month = statement_month(city)
    reads: dict[str, Callable[[int], object]] = {
        "account show": lambda a: account_show(store, clock, f"{a:010d}"),
        f"statement {month}": lambda a: account_statement(store, f"{a:010d}", month),
        "home page (reads)": lambda a: home(store, clock, policy, a, 30),
    }
    measured = {name: ([], [], []) for name in reads}  # type: dict[str, tuple[list[float], list[float], list[int]]]
    with StatementCounter(engine) as counter:
        for account_id in picked:
            for name, read in reads.items():
                wall, cpu, statements = measured[name]
                before = counter.count
                start, start_cpu = time.perf_counter(), time.process_time()
                read(account_id)
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                statements.append(counter.count - before)
    return ReadsReport(
        accounts=city.accounts,
        history_days=city.history_days,
        month=month,
        build_s=city.build_s,
        reused=reused,
        reads=tuple(
            ReadTimes(name, tuple(wall), tuple(cpu), tuple(statements))
            for name, (wall, cpu, statements) in measured.items()
        ),
        machine=dict(machine or {}),
    )
