"""Use case: keep the restoration promise.

A household that pays is promised its supply back within ``restore.promise_hours`` (24 by
default; the supply rules' own limit). A reconnect the meter has not confirmed by then raises a
staff task at once, and where the policy says so (``restore.compensation_fen``, as India's
regulator requires) the household is credited automatically: a transfer from the adjustments
account under a deterministic id, so a replayed pass credits nothing twice. Both are written
with a decision, which ``gridpay explain`` shows. Run by the workers with the credit timer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from gridpay import limits
from gridpay.domain.credit_policy import (
    DECISION_SCHEMA,
    RESTORE_OVERDUE_TASK,
    TASK_SCHEMA,
    Action,
    broke_restoration_promise,
)
from gridpay.domain.ledger import (
    ADJUSTMENTS_ID,
    Transfer,
    TransferKind,
    compensation_id,
    customer_ledger_id,
)
from gridpay.domain.money import format_fen
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.credit import Policy


@dataclass(frozen=True)
class RestorationReport:
    overdue: int = 0  # reconnects found past the promise (each handled once)
    compensated: int = 0  # households credited
    compensation_fen: int = 0


def keep_restoration_promise(store: Store, clock: Clock, p: Policy) -> RestorationReport:
    """Raise a task (and credit the household, where the policy says so) for each reconnect
    past the promise, in one transaction."""
    policy = p.policy
    now = clock.now()
    promise = dt.timedelta(hours=policy.restore_promise_hours)
    queued_to = now - promise
    queued_from = queued_to - dt.timedelta(days=limits.restore_promise_lookback_days)
    with store.unit_of_work() as uow:
        candidates = uow.credit.overdue_reconnects(
            queued_from, queued_to, queued_from + promise, limits.restore_promise_batch_max
        )
        overdue = [
            row
            for row in candidates.iter_rows(named=True)
            if broke_restoration_promise(
                row["created_at"],
                row["finished_at"],
                row["state"] == "acknowledged",
                now,
                policy,
            )
        ]
        compensated = sum(_handle(uow, row, p, now) for row in overdue)
        uow.commit()
    amount_fen = policy.restore_compensation_fen
    return RestorationReport(
        overdue=len(overdue), compensated=compensated, compensation_fen=compensated * amount_fen
    )


# --- helpers: decisions above, work here -------------------------------------------------


def _handle(uow: UnitOfWork, row: dict[str, Any], p: Policy, now: dt.datetime) -> bool:
    """The task and decision for one overdue reconnect, and its compensation; True when the
    household was credited now."""
    policy = p.policy
    account_id, correlation_id = row["account_id"], row["correlation_id"]
    zone = ZoneInfo(p.settings.time_zone)
    queued = row["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if row["state"] == "acknowledged":
        confirmed = row["finished_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
        what = f"confirmed only at {confirmed}"
        next_step = "check why it was late"
    else:
        head_end = row["head_end"] or "none yet"
        what = f"not confirmed by the meter (state {row['state']}, head-end {head_end})"
        next_step = "restore supply on site and call the household"
    broken = (
        f"reconnect queued {queued} {what} within the {policy.restore_promise_hours} h "
        "restoration promise"
    )
    reason = f"{broken}: {next_step}"[: limits.staff_task_reason_chars_max]
    key = f"{RESTORE_OVERDUE_TASK}/{correlation_id}"
    uow.credit.add_staff_tasks(
        pl.DataFrame(
            [(key, account_id, RESTORE_OVERDUE_TASK, reason, now)], schema=TASK_SCHEMA, orient="row"
        )
    )
    decisions = [(key, account_id, now, Action.RESTORE_OVERDUE.value, "promise_broken", reason)]
    credited = False
    amount_fen = policy.restore_compensation_fen
    if amount_fen > 0:
        transfer = Transfer(
            id=compensation_id(correlation_id),
            debit_account_id=ADJUSTMENTS_ID,
            credit_account_id=customer_ledger_id(account_id),
            amount_fen=amount_fen,
            kind=TransferKind.ADJUSTMENT,
            account_id=account_id,
            note=f"restoration promise broken: {correlation_id}",
        )
        credited = uow.ledger.post(transfer, now)
        decisions.append(
            (
                f"{Action.COMPENSATE.value}/{correlation_id}",
                account_id,
                now,
                Action.COMPENSATE.value,
                "promise_broken",
                f"restoration promise of {policy.restore_promise_hours} h broken: credited "
                f"{format_fen(amount_fen)} yuan (transfer {transfer.id})",
            )
        )
    uow.credit.add_decisions(pl.DataFrame(decisions, schema=DECISION_SCHEMA, orient="row"))
    return credited
