"""Benchmarks of the credit policy: judging a city after its settlement, and the time from a
payment into a disconnected account to its reconnect command.

Both build the same seeded synthetic city as ``gridpay bench settle`` (``bench.build_city``),
then measure only the step named, with ``time.perf_counter``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from gridpay.domain.credit_policy import STATE_SCHEMA, CreditState
from gridpay.domain.ledger import ADJUSTMENTS_ID, TransferKind
from gridpay.domain.money import format_fen
from gridpay.domain.payments import TakePayment
from gridpay.domain.tariff import Tariff
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.store import Store
from gridpay.services.credit import CreditReport, Policy, judge_all
from gridpay.services.payments import take_payment
from gridpay.services.progress import NullProgress
from gridpay.services.settlement import with_created_at
from gridpay.simulation import bench

LOW_SHARE_DEFAULT = 0.08  # households moved below their warning line for the credit bench
DEBT_SHARE_DEFAULT = 0.02  # households moved into debt


@dataclass(frozen=True)
class CreditBenchReport:
    accounts: int
    build_seconds: float
    judge: CreditReport  # the measured run
    machine: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "build_seconds": round(self.build_seconds, 2),
            "judge_seconds": round(self.judge.seconds, 3),
            "screened": self.judge.screened,
            "judged": self.judge.judged,
            "decisions": self.judge.counts,
            "messages": self.judge.messages,
            "commands": self.judge.commands,
            "machine": dict(self.machine),
        }


def run_credit_bench(
    store: Store,
    clock: Clock,
    credit: Policy,
    bench_repo_for: bench.BenchRepoFor,
    options: bench.BenchOptions,
    office_names: Sequence[str],
    tariff_files: Sequence[tuple[Tariff, str]],
    *,
    low_share: float = LOW_SHARE_DEFAULT,
    debt_share: float = DEBT_SHARE_DEFAULT,
    machine: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> CreditBenchReport:
    """Build the city (its prior day settled), then judge every account once, timed.

    The policy's work is the accounts near a threshold. The synthetic city's opening balances
    leave about 1 % below the warning line; to measure a harder day, staff adjustments move
    ``low_share`` of the households to 5.00 yuan (below their warning line) and ``debt_share``
    to -3.00 yuan (an arrears notice each), spread evenly over the city.
    """
    started = time.perf_counter()
    bench.build_city(
        store, clock, bench_repo_for, options, office_names, tariff_files, progress=progress
    )
    build_seconds = time.perf_counter() - started
    _stress(store, clock, low_share, debt_share)
    started = time.perf_counter()
    report = judge_all(store, clock, credit)
    report.seconds = time.perf_counter() - started  # wall time, not the clock's
    return CreditBenchReport(
        accounts=options.accounts,
        build_seconds=build_seconds,
        judge=report,
        machine=dict(machine or {}),
    )


def _stress(store: Store, clock: Clock, low_share: float, debt_share: float) -> None:
    """Adjust balances (customer -> adjustments transfers) so that a share of households is
    low and a share in debt. Every k-th account, k = 1 / share, so no two groups overlap."""
    with store.unit_of_work() as uow:
        balances = uow.ledger.customer_balances()
    n = balances.height
    low_every = round(1 / low_share) if low_share > 0 else n + 1
    debt_every = round(1 / debt_share) if debt_share > 0 else n + 1
    row = pl.int_range(pl.len())
    target = (
        pl.when(row % debt_every == 0)
        .then(pl.lit(-300))
        .when(row % low_every == 1)
        .then(pl.lit(500))
        .otherwise(None)
    )
    moves = (
        balances.with_columns(target.alias("target_fen"))
        .filter(pl.col("target_fen").is_not_null())
        .with_columns((pl.col("balance_fen") - pl.col("target_fen")).alias("amount_fen"))
        .filter(pl.col("amount_fen") > 0)
    )
    transfers = moves.select(
        pl.format("adjustment/bench/{}", pl.col("account_id")).alias("id"),
        pl.col("account_id").alias("debit_account_id"),
        pl.lit(ADJUSTMENTS_ID).alias("credit_account_id"),
        "amount_fen",
        pl.lit(TransferKind.ADJUSTMENT.value).alias("kind"),
        "account_id",
        pl.lit(clock.today()).alias("day"),
        pl.lit("benchmark: a harder day for the credit policy").alias("note"),
    )
    with store.unit_of_work() as uow:
        uow.ledger.post_many(with_created_at(transfers, clock.now()))
        uow.commit()


@dataclass(frozen=True)
class ReconnectBenchReport:
    accounts: int
    payment_seconds: list[float]  # wall time of each payment: start -> committed
    queued_with_payment: int  # reconnect commands committed in the payment's transaction
    machine: Mapping[str, str] = field(default_factory=dict)

    def quantile(self, q: float) -> float:
        return float(pl.Series(self.payment_seconds).quantile(q, interpolation="higher") or 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "payments": len(self.payment_seconds),
            "reconnects_queued_with_the_payment": self.queued_with_payment,
            "payment_to_queued_p50_s": round(self.quantile(0.5), 4),
            "payment_to_queued_p99_s": round(self.quantile(0.99), 4),
            "payment_to_queued_max_s": round(max(self.payment_seconds, default=0.0), 4),
            "machine": dict(self.machine),
        }


class SettableClock(Clock, Protocol):
    def set(self, now: dt.datetime) -> None: ...


def run_reconnect_bench(
    store: Store,
    clock: SettableClock,
    credit: Policy,
    bench_repo_for: bench.BenchRepoFor,
    options: bench.BenchOptions,
    office_names: Sequence[str],
    tariff_files: Sequence[tuple[Tariff, str]],
    *,
    machine: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    on_payment: Callable[[int], None] | None = None,
) -> ReconnectBenchReport:
    """Cut every account of a city, then pay into each one through the payment service.

    The reconnect command is written in the payment's own transaction, so the time from the
    payment's commit to the queued command is zero by construction; what is measured is the
    whole payment (validate, post, judge, queue, commit) and every command is checked to exist
    with its payment's own timestamp (the simulated clock moves one second per payment).
    """
    progress = progress or NullProgress()
    bench.build_city(
        store, clock, bench_repo_for, options, office_names, tariff_files, progress=progress
    )
    now = clock.now()
    with store.unit_of_work() as uow:
        balances = uow.ledger.customer_balances()
        uow.credit.save_states(_all_cut(balances["account_id"], now))
        uow.commit()
    seconds: list[float] = []
    paid_at: dict[int, dt.datetime] = {}
    progress.start("payments into cut accounts", balances.height)
    for account_id, balance_fen in balances.iter_rows():
        clock.set(clock.now() + dt.timedelta(seconds=1))  # one payment a simulated second
        paid_at[account_id] = clock.now()
        amount_fen = max(0, -balance_fen) + 5_000
        cmd = TakePayment(
            account_no=f"{account_id:010d}",
            amount_yuan=format_fen(amount_fen),
            channel="app",
            ref=f"bench-{account_id}",
        )
        started = time.perf_counter()
        take_payment(store, clock, credit.settings, cmd, credit)
        seconds.append(time.perf_counter() - started)
        progress.advance(1)
        if on_payment is not None:
            on_payment(account_id)
    progress.finish()
    with store.unit_of_work() as uow:
        queued = uow.commands.list(None, "queued", balances.height + 1)
    expected = pl.DataFrame(
        {"account_id": list(paid_at), "paid_at": list(paid_at.values())},
        schema={"account_id": pl.Int64, "paid_at": pl.Datetime("us", "UTC")},
    )
    same_moment = (
        queued.filter(pl.col("action") == "reconnect")
        .join(expected, on="account_id", how="inner", validate="1:1")
        .filter(pl.col("created_at") == pl.col("paid_at"))
        .height
    )
    return ReconnectBenchReport(
        accounts=options.accounts,
        payment_seconds=seconds,
        queued_with_payment=same_moment,
        machine=dict(machine or {}),
    )


def _all_cut(account_ids: pl.Series, now: dt.datetime) -> pl.DataFrame:
    """Every account disconnected by a cut its meter confirmed (cycle 0)."""
    n = account_ids.len()
    return pl.DataFrame(
        {
            "account_id": account_ids,
            "state": [CreditState.DISCONNECTED.value] * n,
            "cycle": [0] * n,
            "warned_at": [None] * n,
            "notice_at": [now] * n,
            "pay_by": [now.date()] * n,
            "second_notice_at": [now] * n,
            "supply": ["off"] * n,
            "updated_at": [now] * n,
        },
        schema=STATE_SCHEMA,
    )
