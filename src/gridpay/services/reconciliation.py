"""Use cases: reconcile a partner's day against its statement; confirm a line missing on our side.

A run replaces the day's reconciliation lines, writing only those that changed (a re-run gives
the same lines, writes none of them again and opens no task twice), opens a finance task for
each new mismatch and closes the tasks whose mismatch is gone. A payment on the statement only
is posted after a finance user confirms it: through ``take_payment``, under the same ledger id
the partner's own request would have made, so a late API retry of it finds it already recorded.

The CLI and the office console call the same functions; staff need the finance role (or admin),
checked here whatever a page shows, and every run and confirmation is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.actors import FINANCE_ROLES, SYSTEM, Actor, check_role, cli_actor
from gridpay.domain.credit_policy import TASK_SCHEMA
from gridpay.domain.money import format_fen
from gridpay.domain.partners import Partner, PartnerPayment, ledger_ref, parse_code
from gridpay.domain.payments import TakePayment
from gridpay.domain.reconciliation import (
    MISMATCHES,
    mismatch_tasks,
    reconcile,
    statement_frame,
    task_key,
    task_key_prefix,
)
from gridpay.errors import InvalidInput, NotFound, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.partners import RECONCILIATION_SCHEMA
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services import payments
from gridpay.services.audit_trail import record
from gridpay.services.credit import Policy
from gridpay.services.payments import Receipt

OUTCOMES = ("matched", *MISMATCHES)


@dataclass(frozen=True)
class Reconciliation:
    partner_code: str
    day: dt.date
    counts: dict[str, int]  # lines by outcome (every outcome named, 0 included)
    tasks_opened: int
    tasks_closed: int
    lines: pl.DataFrame  # RECONCILIATION_SCHEMA, by reference


def default_day(clock: Clock) -> dt.date:
    """The nightly run reconciles yesterday's statement."""
    return clock.today() - dt.timedelta(days=1)


def check_may_reconcile(actor: Actor) -> None:
    """Reconciliation is finance's (or an admin's): other staff are refused (``Forbidden``)."""
    check_role(actor, FINANCE_ROLES, "reconciling a partner's statement")


def reconcile_statement(
    store: Store,
    clock: Clock,
    code: str,
    statement: pl.DataFrame,
    day: dt.date,
    *,
    actor: Actor = SYSTEM,
) -> Reconciliation:
    """Match a statement (its text columns as read) against the partner's payments of ``day``."""
    check_may_reconcile(actor)
    theirs = statement_frame(statement)
    now = clock.now()
    with store.unit_of_work() as uow:
        partner = _partner(uow, code)
        ours = uow.partners.day_payments(partner.code, day)
        previous = uow.partners.reconciliation(partner.code, day)
        lines = (
            reconcile(ours, theirs)
            .join(
                previous.filter(pl.col("confirmed_by").is_not_null()).select(
                    "reference", "confirmed_by"
                ),
                on="reference",
                how="left",
                validate="1:1",
            )
            .select(list(RECONCILIATION_SCHEMA))
        )
        changed = lines.join(previous, on=list(RECONCILIATION_SCHEMA), how="anti", nulls_equal=True)
        removed = previous.join(lines, on="reference", how="anti")["reference"].to_list()
        uow.partners.write_reconciliation(partner.code, day, changed, removed)
        tasks = mismatch_tasks(lines, partner.code, day, now)
        opened = uow.credit.add_staff_tasks(pl.DataFrame(tasks, schema=TASK_SCHEMA))
        still_open = uow.partners.open_task_keys(task_key_prefix(partner.code, day))
        resolved = still_open - {t["key"] for t in tasks}
        closed = uow.partners.close_tasks(
            resolved, now, "reconciled", f"matched when {partner.code} {day} was reconciled again"
        )
        counts = counts_of(lines)
        record(
            uow,
            actor,
            "reconciliation.run",
            now,
            subject=f"{partner.code}/{day.isoformat()}",
            detail={"lines": counts, "tasks_opened": opened, "tasks_closed": closed},
        )
        uow.commit()
    return Reconciliation(partner.code, day, counts, opened, closed, lines)


def counts_of(lines: pl.DataFrame) -> dict[str, int]:
    """Lines by outcome, every outcome named (0 included), in ``OUTCOMES``' order."""
    found = dict(lines.group_by("outcome").len().iter_rows())
    return {outcome: int(found.get(outcome, 0)) for outcome in OUTCOMES}


def day_lines(store: Store, code: str, day: dt.date, *, actor: Actor = SYSTEM) -> pl.DataFrame:
    """The latest reconciliation of the partner's day (for the report)."""
    check_may_reconcile(actor)
    with store.reader() as uow:
        partner = _partner(uow, code)
        return uow.partners.reconciliation(partner.code, day)


def confirm(
    store: Store,
    clock: Clock,
    settings: Settings,
    credit: Policy,
    *,
    code: str,
    reference: str,
    day: dt.date,
    by: str | None = None,
    actor: Actor | None = None,
) -> Receipt:
    """Post a payment found on the statement only, confirmed by a finance user: ``actor`` (the
    console's signed-in user) or, from the CLI, the user ``by`` names. The payment is recorded
    as theirs."""
    confirmer = _confirmer(by, actor)
    with store.reader() as uow:
        partner = _partner(uow, code)
        line = _line(uow, partner, day, reference)
    if line["outcome"] != "missing_ours":
        raise Refused(
            f"{partner.code} {day} reference {reference} is {line['outcome']}: only a payment "
            f"missing on our side can be confirmed and posted"
        )
    amount_fen = int(line["amount_fen_theirs"])
    receipt = payments.take_payment(
        store,
        clock,
        settings,
        TakePayment(
            account_no=line["account_no"],
            amount_yuan=format_fen(amount_fen),
            channel=partner.channel.value,
            ref=ledger_ref(partner.code, reference),
        ),
        credit,
        actor=confirmer,  # the finance user who confirmed the statement's line
    )
    now = clock.now()
    with store.unit_of_work() as uow:
        if uow.partners.payment(partner.code, reference) is None:
            uow.partners.add_payment(
                PartnerPayment(
                    partner_code=partner.code,
                    reference=reference,
                    account_no=line["account_no"],
                    amount_fen=amount_fen,
                    day=day,
                    status="posted",
                    transfer_id=receipt.transfer.id,
                    balance_fen=receipt.balance_fen,
                    reversal_id=None,
                    created_at=now,
                )
            )
        uow.partners.confirm_line(partner.code, day, reference, confirmer.id, now)
        uow.partners.close_tasks(
            [task_key(partner.code, day, reference)],
            now,
            "confirmed",
            f"posted from the statement, confirmed by {confirmer.id}",
        )
        uow.commit()
    return receipt


def _confirmer(by: str | None, actor: Actor | None) -> Actor:
    assert (by is None) != (actor is None), (by, actor)
    if actor is not None:
        check_role(actor, FINANCE_ROLES, "confirming a statement line")
        return actor
    assert by is not None
    name = by.strip()
    if not name or len(name) > limits.reconcile_by_chars_max:
        raise InvalidInput(f"--by must name who confirms (1 to {limits.reconcile_by_chars_max})")
    return cli_actor(name)


def _partner(uow: UnitOfWork, code: str) -> Partner:
    partner = uow.partners.partner(parse_code(code))
    if partner is None:
        raise NotFound(f"partner {code} does not exist")
    return partner


def _line(uow: UnitOfWork, partner: Partner, day: dt.date, reference: str) -> dict[str, Any]:
    found = uow.partners.reconciliation(partner.code, day).filter(
        pl.col("reference") == reference.strip()
    )
    if found.height == 0:
        raise NotFound(
            f"no line {reference} in {partner.code}'s reconciliation of {day}: run "
            f"`gridpay reconcile {partner.code} FILE --date {day}` first"
        )
    return found.row(0, named=True)
