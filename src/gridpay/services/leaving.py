"""Use cases after ``leave``: close out the agreement, hand it to monthly billing, pay refunds.

``leave`` (``services.enrolment``) ends an agreement at the end of the day it is asked: the
leaving day is still prepaid and is settled by the night with the meter's reading of that day
(the closing reading), like every other day. Then ``close_out_leavings`` (the night calls it
after settling, before the credit policy judges) takes the prepaid balance to zero: refunded
into refunds payable, or handed to monthly billing as a receivable, and records the closing
position for the hand-over file. The account is postpaid from then on, so no charge and no
message follows the leaving day.

A refund is paid out once, by its reference, through the counter (cash) or the bank-transfer
batch the finance office uploads: ``payout/<refund ref>`` moves it from refunds payable to
the channel's payouts account, so the same file uploaded twice pays nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from gridpay import limits
from gridpay.domain.actors import SYSTEM, Actor
from gridpay.domain.leaving import (
    HandoverRow,
    LeavingDay,
    PayoutLine,
    RefundDue,
    SettleUp,
    close_out_transfer,
    payout_transfer,
)
from gridpay.domain.ledger import (
    PAYOUT_IDS,
    RECEIVABLES_ID,
    REFUNDS_ID,
    PayoutChannel,
    Transfer,
    TransferKind,
    refund_id,
    reversal_id,
)
from gridpay.domain.money import format_fen
from gridpay.domain.registry import BillingMode
from gridpay.errors import InvalidInput
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.audit_trail import record


@dataclass(frozen=True)
class ClosedOut:
    """An agreement closed out: the balance moved off the prepaid ledger, and the position."""

    account_id: int
    enrolment_id: int
    left_on: dt.date
    transfer: Transfer | None  # the refund (customer -> refunds payable) or the hand-over
    balance_fen: int  # > 0 refunded, < 0 owed, 0 neither
    closing_wh: int
    ytd_wh: int


@dataclass(frozen=True)
class PayoutResult:
    line_no: int
    ref: str
    amount_fen: int
    status: str  # paid | already_paid | refused
    reason: str | None = None


@dataclass(frozen=True)
class PayoutReport:
    channel: PayoutChannel
    results: tuple[PayoutResult, ...]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def paid_fen(self) -> int:
        return sum(r.amount_fen for r in self.results if r.status == "paid")


# --- the close-out -----------------------------------------------------------------------


def close_out_leavings(store: Store, clock: Clock) -> list[ClosedOut]:
    """Close out every agreement whose leaving day is settled, and settle up those a late
    reading corrected since; each in its own transaction."""
    with store.unit_of_work() as uow:
        due = uow.leaving.settled_leaving_days()
    closed = []
    for day in due:  # the day's leavers: a few accounts, not the city
        with store.unit_of_work() as uow:
            done = close_out(uow, day, clock.now())
            if done is not None:
                uow.commit()
                closed.append(done)
    settle_up_corrections(store, clock)
    return closed


def settle_up_corrections(store: Store, clock: Clock) -> int:
    """A true-up of a day inside an agreement that was already closed out moves the closed
    account's balance again: refund what it gave back, hand over what it added, so an account
    that left keeps no prepaid balance. Returns the agreements settled up."""
    with store.unit_of_work() as uow:
        corrected = uow.leaving.closed_with_balance()
    for leaving in corrected:  # a late reading of a leaving day: a few accounts at most
        with store.unit_of_work() as uow:
            account_id = leaving.account_id
            uow.ledger.lock_ledger_accounts(sorted([account_id, REFUNDS_ID, RECEIVABLES_ID]))
            balance_fen = uow.ledger.balance_fen(account_id)
            if balance_fen == 0:
                continue  # another process settled it up first
            # The next settle-up number of the agreement, and an id no transfer has: a refund's
            # and a hand-over's ids differ, so a free id alone could repeat a number.
            correction, transfer = uow.leaving.last_settle_up_no(leaving.enrolment_id), None
            while transfer is None or uow.ledger.get_transfer(transfer.id) is not None:
                correction += 1
                transfer = close_out_transfer(
                    account_id, leaving.enrolment_id, balance_fen, leaving.left_on, correction
                )
            now = clock.now()
            posted = uow.ledger.post(transfer, now)
            assert posted, transfer
            uow.leaving.add_to_closing_balance(leaving.enrolment_id, balance_fen)
            position = uow.leaving.closing_position(account_id, leaving.left_on)
            assert position is not None  # the leaving day was settled: it was closed out
            uow.leaving.add_settle_up(
                SettleUp(
                    enrolment_id=leaving.enrolment_id,
                    number=correction,
                    transfer_id=transfer.id,
                    amount_fen=balance_fen,
                    closing_wh=position[0],
                    closing_estimated=position[1],
                    ytd_wh=position[2],
                    posted_on=clock.today(),
                    posted_at=now,
                )
            )
            assert uow.ledger.balance_fen(account_id) == 0
            uow.commit()
    return len(corrected)


def close_out(uow: UnitOfWork, day: LeavingDay, now: dt.datetime) -> ClosedOut | None:
    """Take the balance to zero and record the closing position (in the caller's unit of
    work); None if another process closed this agreement out first."""
    account_id = day.account_id
    uow.ledger.lock_ledger_accounts(sorted([account_id, REFUNDS_ID, RECEIVABLES_ID]))
    balance_fen = uow.ledger.balance_fen(account_id)
    # Claiming the row first: a concurrent close-out waits here, then finds it closed.
    if not uow.leaving.close(day, balance_fen, now):
        return None
    transfer = close_out_transfer(account_id, day.enrolment_id, balance_fen, day.left_on)
    if transfer is not None:
        posted = uow.ledger.post(transfer, now)
        assert posted, transfer  # one id per agreement, and the agreement was claimed just now
    assert uow.ledger.balance_fen(account_id) == 0
    if uow.enrolment.open_enrolment(account_id) is None:
        uow.enrolment.set_billing_mode(account_id, BillingMode.POSTPAID.value)
    return ClosedOut(
        account_id=account_id,
        enrolment_id=day.enrolment_id,
        left_on=day.left_on,
        transfer=transfer,
        balance_fen=balance_fen,
        closing_wh=day.reading_wh,
        ytd_wh=day.ytd_wh,
    )


# --- the hand-over file and the refunds to pay --------------------------------------------


def handover_rows(store: Store, first_day: dt.date, last_day: dt.date) -> list[HandoverRow]:
    """For monthly billing: the close-outs of agreements that ended between the two days with
    their settle-ups so far, and every settle-up posted between them (whenever its agreement
    ended). A line's key is (account, agreement, entry number): in two files, the same line."""
    if first_day > last_day:
        raise InvalidInput(f"--from {first_day} is after --to {last_day}")
    with store.reader() as uow:
        return uow.leaving.handover_rows(first_day, last_day)


def refunds_due(store: Store) -> list[RefundDue]:
    """Refunds waiting to be paid out (the bank-transfer batch's lines)."""
    with store.reader() as uow:
        return uow.leaving.refunds_due(limits.payout_lines_max)


def pay_out(
    store: Store,
    clock: Clock,
    lines: Sequence[PayoutLine],
    channel: PayoutChannel,
    office_id: int | None = None,
    *,
    actor: Actor = SYSTEM,
) -> PayoutReport:
    """Post refunds as paid through ``channel``, each at most once (by its reference).

    A line that does not match a refund due is refused with its reason; the good lines land.
    """
    if len(lines) > limits.payout_lines_max:
        raise InvalidInput(
            f"{len(lines):,} payout lines; at most {limits.payout_lines_max:,} in one file"
        )
    if (channel is PayoutChannel.COUNTER) != (office_id is not None):
        raise InvalidInput("a cash payout names its office (--office N); a bank payout does not")
    with store.unit_of_work() as uow:
        if office_id is not None and office_id not in uow.registry.offices():
            raise InvalidInput(f"unknown office {office_id}")
        uow.ledger.lock_ledger_accounts([REFUNDS_ID, PAYOUT_IDS[channel]])
        results = tuple(
            _pay_line(uow, line, channel, office_id, clock.today(), clock.now()) for line in lines
        )
        for result in results:
            if result.status == "paid":
                record(
                    uow,
                    actor,
                    "payment.payout",
                    clock.now(),
                    subject=f"refund/{result.ref}",
                    amount_fen=result.amount_fen,
                    detail={"channel": channel.value, "office_id": office_id},
                )
        uow.commit()
    return PayoutReport(channel, results)


def _pay_line(
    uow: UnitOfWork,
    line: PayoutLine,
    channel: PayoutChannel,
    office_id: int | None,
    day: dt.date,
    now: dt.datetime,
) -> PayoutResult:
    def refused(reason: str) -> PayoutResult:
        return PayoutResult(line.line_no, line.ref, line.amount_fen, "refused", reason)

    if line.problem is not None:
        return refused(line.problem)
    refund = uow.ledger.get_transfer(refund_id(line.ref))
    if refund is None or refund.kind is not TransferKind.REFUND:
        return refused(f"no refund with reference {line.ref}")
    if refund.amount_fen != line.amount_fen:
        return refused(
            f"the refund is {format_fen(refund.amount_fen)} yuan, the line says "
            f"{format_fen(line.amount_fen)}"
        )
    if uow.ledger.get_transfer(reversal_id(refund.id)) is not None:
        return refused(f"the refund {refund.id} was reversed: there is nothing to pay")
    payout = payout_transfer(refund, channel, day, office_id)
    existing = uow.ledger.get_transfer(payout.id)
    if existing is not None:
        how = existing.channel or "?"
        return PayoutResult(
            line.line_no,
            line.ref,
            line.amount_fen,
            "already_paid",
            f"paid by {how} on {existing.day}",
        )
    posted = uow.ledger.post(payout, now)
    assert posted, payout
    return PayoutResult(line.line_no, line.ref, line.amount_fen, "paid")
