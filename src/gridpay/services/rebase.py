"""Use cases: staff are told of meters whose readings stay quarantined, and replace such a
meter's base with a checked reading (``domain.rebase``).

One unit of work checks the reading, moves the readings it refutes to the quarantine, stores it,
records who and why, queues the account's settled days from the earliest changed one for a
true-up and closes the meter's open quarantine task. The true-up then settles those days again
and posts only the differences, as a late reading's does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.domain.actors import SYSTEM, Actor
from gridpay.domain.credit_policy import CLOSING_SCHEMA
from gridpay.domain.ledger import TransferKind
from gridpay.domain.rebase import (
    NOT_STUCK_REASON_CODES,
    QUARANTINE_TASK_KIND,
    REFUTED_REASON_CODE,
    MeterFacts,
    Rebase,
    RebaseMeter,
    check_rebase,
    quarantine_tasks,
    refuted,
    refuted_reason,
    stuck_meters,
)
from gridpay.errors import ConfigError, NotFound, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.audit_trail import record
from gridpay.services.settlement import process_trueups

_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class RebaseReport:
    rebase_id: int
    account_id: int
    day: dt.date
    total_wh: int
    replaced_wh: int | None  # the stored reading of the day it replaced
    refuted: tuple[tuple[dt.date, int], ...]  # (day, total_wh) moved to the quarantine
    resettled_from: dt.date | None  # None: no settled day changes
    corrected_fen: int  # net of the correcting transfers: positive, the customer owes more
    tasks_closed: int


def rebase_meter(
    store: Store,
    clock: Clock,
    cmd: RebaseMeter,
    *,
    nominal_voltage_v: int = 220,
    actor: Actor = SYSTEM,
) -> RebaseReport:
    now = clock.now()
    with store.unit_of_work() as uow:
        # The readings change under the settled days: no settlement or import meanwhile.
        uow.lock_settlement(shared=False)
        meter = _meter_facts(uow, cmd.meter_id)
        check_rebase(cmd, meter, clock.today(), nominal_voltage_v)
        readings = uow.readings.meter_readings(cmd.meter_id, *_window(cmd, meter, clock.today()))
        wrong = refuted(readings, cmd, meter.breaker_a, nominal_voltage_v)
        replaced = readings.filter(pl.col("day") == cmd.day)["total_wh"].to_list()
        kept = set(readings["day"].to_list()) - set(wrong["day"].to_list()) | {cmd.day}
        start = min([cmd.day, *wrong["day"].to_list()])
        _refuse_charged_days_left_without_base(uow, meter.account_id, start, kept)
        uow.readings.refute_readings(
            cmd.meter_id, wrong["day"].to_list(), REFUTED_REASON_CODE, refuted_reason(cmd), now
        )
        if replaced != [cmd.total_wh]:
            source = f"checked by {cmd.checked_by}: {cmd.reason}"
            uow.readings.store_checked_reading(cmd.meter_id, cmd.day, cmd.total_wh, source, now)
        rebase_id = uow.readings.add_rebase(
            Rebase(
                meter_id=cmd.meter_id,
                account_id=meter.account_id,
                day=cmd.day,
                total_wh=cmd.total_wh,
                replaced_wh=replaced[0] if replaced else None,
                refuted_readings=wrong.height,
                checked_by=cmd.checked_by,
                reason=cmd.reason,
                at=now,
            )
        )
        resettled = _queue_trueup(uow, meter.account_id, start, now)
        closed = uow.credit.close_staff_tasks(
            pl.DataFrame(
                [(meter.account_id, QUARANTINE_TASK_KIND, "rebased", "the meter was rebased", now)],
                schema=CLOSING_SCHEMA,
                orient="row",
            )
        )
        balance_before_fen = uow.ledger.balance_fen(meter.account_id)
        record(
            uow,
            actor,
            "readings.rebase",
            now,
            account_id=meter.account_id,
            subject=f"rebase/{rebase_id}",
            reason=cmd.reason,
            detail={
                "meter_id": cmd.meter_id,
                "day": cmd.day,
                "total_wh": cmd.total_wh,
                "refuted": wrong.height,
                "checked_by": cmd.checked_by,
            },
        )
        uow.commit()
    process_trueups(store, clock, nominal_voltage_v=nominal_voltage_v)
    with store.unit_of_work() as uow:
        balance_after_fen = uow.ledger.balance_fen(meter.account_id)
    return RebaseReport(
        rebase_id=rebase_id,
        account_id=meter.account_id,
        day=cmd.day,
        total_wh=cmd.total_wh,
        replaced_wh=replaced[0] if replaced else None,
        refuted=tuple(wrong.select("day", "total_wh").iter_rows()),
        resettled_from=start if resettled else None,
        corrected_fen=balance_before_fen - balance_after_fen,
        tasks_closed=closed,
    )


def _meter_facts(uow: UnitOfWork, meter_id: int) -> MeterFacts:
    meter = uow.registry.meter(meter_id)
    if meter is None:
        raise NotFound(f"meter {meter_id:012d} is not registered")
    return MeterFacts(
        account_id=meter.account_id,
        installed_on=meter.installed_on,
        removed_on=meter.removed_on,
        initial_wh=meter.initial_wh,
        breaker_a=meter.breaker_a,
    )


def _window(cmd: RebaseMeter, meter: MeterFacts, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days whose readings the checked one is compared with."""
    first = max(meter.installed_on, cmd.day - dt.timedelta(days=limits.rebase_refutes_days_max))
    last = min(today, cmd.day + dt.timedelta(days=limits.rebase_refutes_days_max))
    return first, last


def _refuse_charged_days_left_without_base(
    uow: UnitOfWork, account_id: int, start: dt.date, kept: set[dt.date]
) -> None:
    """Refused: the change would leave settled, charged days with no reading to start from.

    Settled again from ``start``, an account that was not settled the day before starts over
    from its first reading left; the days before it get no usage row, so a charge already
    posted for one of them would stand without its day.
    """
    before = start - _ONE_DAY
    if before in kept or uow.settlement.usage_rows([account_id], before, before).height:
        return  # the days go on from the day before
    first_kept = min(d for d in kept if d >= start)
    if first_kept == start:
        return
    transfers = uow.queries.transfers_between(account_id, start, first_kept - _ONE_DAY)
    charged = transfers.filter(
        pl.col("kind").is_in([TransferKind.CHARGE.value, TransferKind.CREDIT.value])
    )
    if charged.height:
        days = sorted(set(charged["day"].to_list()))
        raise Refused(
            f"{days[0]} to {days[-1]} were charged on estimates from readings this check "
            f"refutes, and no reading is left to start them from: import those days' readings "
            f"(from the head-end) first, or give a checked reading for {start}"
        )


def _queue_trueup(uow: UnitOfWork, account_id: int, start: dt.date, at: dt.datetime) -> bool:
    """Queue the account's settled days from ``start`` for a true-up; False if none is settled."""
    if uow.settlement.usage_rows([account_id], start, dt.date.max).height == 0:
        return False
    queued = uow.readings.pending_trueups_for(pl.Series([start]))
    key = pl.DataFrame({"account_id": [account_id], "day": [start]})
    fresh = key.join(queued, on=["account_id", "day"], how="anti")
    uow.readings.add_pending_trueups(fresh, at)
    return True


def raise_quarantine_tasks(store: Store, clock: Clock, day: dt.date, days_max: int) -> int:
    """A staff task for each meter whose readings have been quarantined for more than
    ``days_max`` days by ``day`` (once per meter and episode); how many were new."""
    if days_max < 0:
        raise ConfigError(f"readings_quarantine_task_days must be 0 or more (got {days_max})")
    first = day - dt.timedelta(days=limits.readings_quarantine_lookback_days_max)
    with store.unit_of_work() as uow:
        quarantined = uow.readings.quarantined_meter_days(first, day, NOT_STUCK_REASON_CODES)
        if quarantined.height == 0:
            return 0
        accounts = quarantined["account_id"].unique().sort().to_list()
        accepted = uow.readings.last_accepted_readings(accounts)
        stuck = stuck_meters(quarantined, accepted, day, days_max)
        added = uow.credit.add_staff_tasks(quarantine_tasks(stuck, clock.now()))
        uow.commit()
    return added
