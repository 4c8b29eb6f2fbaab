"""Leaving smart payment: the final settlement, the payout of a refund, the debt handed over.

An agreement ends at the end of its leaving day (``left_on``, the day ``leave`` was asked): that
day is still prepaid, and is settled by the night with the meter's frozen reading of the day,
which is the closing reading. Once it is settled the agreement is *closed out*: whatever is
left on the prepaid balance moves off it, and one hand-over row tells the monthly billing
system where the household stands, so that it continues the same tier year.

- a positive balance goes to refunds payable (``refund/leave-<account>-<agreement>``), and is
  paid out later through a channel (``payout/<refund ref>``: refunds payable -> payouts);
- a negative balance becomes a receivable handed to monthly billing
  (``handover/leave-<account>-<agreement>``: receivables -> customer), so the prepaid balance
  ends at zero and the debt is on the books of the side that collects it.

Every id is deterministic: a close-out retried, or a payout file uploaded twice, posts nothing
new.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from gridpay.domain.enrolment import leave_refund_transfer
from gridpay.domain.ledger import (
    PAYOUT_IDS,
    RECEIVABLES_ID,
    REFUNDS_ID,
    PayoutChannel,
    Transfer,
    TransferKind,
    customer_ledger_id,
    handover_id,
    payout_id,
)
from gridpay.domain.money import format_fen, format_kwh, parse_yuan
from gridpay.domain.payments import format_account_no
from gridpay.errors import InvalidInput


@dataclass(frozen=True)
class Leaving:
    """An agreement that ended, and what its close-out found (unset until closed out)."""

    enrolment_id: int
    account_id: int
    enrolled_on: dt.date
    left_on: dt.date
    asked_at: dt.datetime
    note: str | None
    closed_at: dt.datetime | None = None
    closing_wh: int | None = None  # the register at the end of the leaving day
    closing_estimated: bool | None = None  # that register was estimated (no reading came)
    ytd_wh: int | None = None  # the tier year's consumption up to the leaving day
    balance_fen: int | None = None  # the prepaid balance at close-out: > 0 refunded, < 0 owed


@dataclass(frozen=True)
class LeavingDay:
    """The settled leaving day of an agreement not yet closed out (from its usage row)."""

    enrolment_id: int
    account_id: int
    left_on: dt.date
    reading_wh: int
    estimated: bool
    ytd_wh: int


@dataclass(frozen=True)
class SettleUp:
    """A settle-up after the close-out: what a late true-up moved, refunded or handed over."""

    enrolment_id: int
    number: int  # 1, 2, ...: the n of ``leave-<account>-<agreement>-<n>``
    transfer_id: str
    amount_fen: int  # > 0 refunded, < 0 handed over as owed
    closing_wh: int  # the leaving day's register as it stands after the true-up
    closing_estimated: bool
    ytd_wh: int
    posted_on: dt.date  # the business day it was posted
    posted_at: dt.datetime


class HandoverEntry(StrEnum):
    CLOSE_OUT = "close_out"  # the agreement's close-out, on its leaving day
    SETTLE_UP = "settle_up"  # a late true-up settled up after it, on the day it was posted


class HandoverReason(StrEnum):
    LEFT = "left"  # the household left smart payment (back on monthly billing)
    OWNER_CHANGE = "owner_change"  # the old owner's agreement ended with a change of owner


@dataclass(frozen=True)
class HandoverRow:
    """One line of the file for the monthly billing system: a close-out or a settle-up.

    A household's close-out line and its settle-up lines add up to what it was refunded or
    owes in all; each settle-up line carries the closing position as the true-up corrected it.
    """

    account_no: str
    name: str
    enrolment_id: int
    enrolled_on: dt.date
    left_on: dt.date
    closing_wh: int
    closing_estimated: bool
    ytd_wh: int
    refunded_fen: int
    owed_fen: int
    refund_ref: str | None  # the refund's reference, for the payout (None: nothing refunded)
    reason: HandoverReason = HandoverReason.LEFT
    entry: HandoverEntry = HandoverEntry.CLOSE_OUT
    entry_no: int = 0  # 0 for the close-out, n for the n-th settle-up
    entry_day: dt.date | None = None  # the leaving day, or the day a settle-up was posted


@dataclass(frozen=True)
class RefundDue:
    """A refund in refunds payable that nobody has paid out yet."""

    ref: str
    account_no: str
    name: str
    amount_fen: int
    day: dt.date | None


@dataclass(frozen=True)
class PayoutLine:
    """A refund to pay: a line of the bank's batch file, or one paid in cash at a counter.

    ``problem`` says why a line of a file could not be read (it is then refused, by name)."""

    line_no: int
    ref: str
    amount_fen: int
    problem: str | None = None


# The batch file: the finance office sends it to the bank, and uploads it back once paid.
PAYOUT_FILE_COLUMNS = ("ref", "account_no", "name", "amount_yuan")
HANDOVER_FILE_COLUMNS = (
    "account_no",
    "name",
    "enrolment_id",
    "enrolled_on",
    "left_on",
    "closing_reading_kwh",
    "closing_estimated",
    "ytd_kwh",
    "refunded_yuan",
    "owed_yuan",
    "refund_ref",
    "reason",
    "entry",
    "entry_no",
    "entry_day",
)


def parse_payout_line(line_no: int, ref: str, amount_yuan: str) -> PayoutLine:
    """One line of an uploaded payout file; never raises (a bad line names its problem)."""
    clean = ref.strip()
    try:
        amount_fen = parse_yuan(amount_yuan)
    except InvalidInput as exc:
        return PayoutLine(line_no, clean, 0, exc.message)
    if not clean:
        return PayoutLine(line_no, clean, amount_fen, "the reference is empty")
    if amount_fen <= 0:
        return PayoutLine(line_no, clean, amount_fen, "the amount must be positive")
    return PayoutLine(line_no, clean, amount_fen)


def handover_record(row: HandoverRow) -> dict[str, str]:
    """A hand-over row as the file's text fields (kWh with three decimals, yuan with two)."""
    return {
        "account_no": row.account_no,
        "name": row.name,
        "enrolment_id": str(row.enrolment_id),
        "enrolled_on": row.enrolled_on.isoformat(),
        "left_on": row.left_on.isoformat(),
        "closing_reading_kwh": format_kwh(row.closing_wh),
        "closing_estimated": "true" if row.closing_estimated else "false",
        "ytd_kwh": format_kwh(row.ytd_wh),
        "refunded_yuan": format_fen(row.refunded_fen),
        "owed_yuan": format_fen(row.owed_fen),
        "refund_ref": row.refund_ref or "",
        "reason": row.reason.value,
        "entry": row.entry.value,
        "entry_no": str(row.entry_no),
        "entry_day": (row.entry_day or row.left_on).isoformat(),
    }


def payout_record(due: RefundDue) -> dict[str, str]:
    return {
        "ref": due.ref,
        "account_no": due.account_no,
        "name": due.name,
        "amount_yuan": format_fen(due.amount_fen),
    }


def leave_ref(account_id: int, enrolment_id: int) -> str:
    return f"leave-{format_account_no(account_id)}-{enrolment_id}"


def close_out_transfer(
    account_id: int, enrolment_id: int, balance_fen: int, day: dt.date, correction: int = 0
) -> Transfer | None:
    """What takes the prepaid balance to zero when the agreement is closed out.

    ``correction`` numbers a settle-up after the close-out: a late reading trued up a day of
    the agreement once its balance had been refunded or handed over, and what it moved is
    refunded or handed over in turn, under an id of its own (never the first one's again).
    """
    if balance_fen > 0:
        return leave_refund_transfer(account_id, enrolment_id, balance_fen, day, correction)
    if balance_fen == 0:
        return None
    ref = leave_ref(account_id, enrolment_id) + (f"-{correction}" if correction else "")
    return Transfer(
        id=handover_id(ref),
        debit_account_id=RECEIVABLES_ID,
        credit_account_id=customer_ledger_id(account_id),
        amount_fen=-balance_fen,
        kind=TransferKind.HANDOVER,
        account_id=account_id,
        day=day,
        ref=ref,
        note="owed on leaving smart payment: handed to monthly billing",
    )


def payout_transfer(
    refund: Transfer, channel: PayoutChannel, day: dt.date, office_id: int | None
) -> Transfer:
    """The refund paid out through ``channel``: one possible id per refund."""
    assert refund.kind is TransferKind.REFUND, refund
    assert refund.ref is not None, refund
    assert refund.account_id is not None, refund
    return Transfer(
        id=payout_id(refund.ref),
        debit_account_id=REFUNDS_ID,
        credit_account_id=PAYOUT_IDS[channel],
        amount_fen=refund.amount_fen,
        kind=TransferKind.PAYOUT,
        day=day,
        channel=channel.value,
        ref=refund.ref,
        office_id=office_id,
        note=f"refund of account {format_account_no(refund.account_id)} paid out",
    )


def parse_payout_channel(text: str) -> PayoutChannel:
    try:
        return PayoutChannel(text.strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in PayoutChannel)
        raise InvalidInput(f"unknown payout channel {text!r}: use one of {known}") from None
