"""Payment commands and their pure validation.

A command is what someone asked for, exactly as they typed it (amounts as yuan text, so "12.345"
can be refused with a message rather than rounded). Validation turns it into a checked request
in integer fen, or raises ``InvalidInput`` with a message a counter clerk understands. Checks
that need the database (does the account exist, is it prepaid, what is its balance) belong to
the service; everything that can be decided from the command alone is decided here.

The transfer each request becomes is built here too, so its deterministic id and its fields are
one rule: ``pay/<channel>/<ref>`` (clearing -> customer), ``refund/<ref>`` (customer -> refunds),
``reversal/<id>`` (the mirror of a payment or a refund).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, replace

from gridpay import limits
from gridpay.domain.ledger import (
    CLEARING_IDS,
    REFUNDS_ID,
    Channel,
    Transfer,
    TransferKind,
    customer_ledger_id,
    payment_id,
    refund_id,
    reversed_transfer,
)
from gridpay.domain.money import format_fen, parse_yuan
from gridpay.errors import InvalidInput, Refused

ACCOUNT_NO_DIGITS = 10
_ACCOUNT_NO = re.compile(r"[0-9]{10}")

# Kinds a clerk may reverse, and why the others may not be.
REVERSIBLE_KINDS = frozenset({TransferKind.PAYMENT, TransferKind.REFUND})
_NOT_REVERSIBLE_REASONS = {
    TransferKind.REVERSAL: (
        "it is itself a reversal; a reversal cannot be undone — record the payment again "
        "with a new reference instead"
    ),
    TransferKind.CHARGE: (
        "it is a daily electricity charge; charges are corrected by settlement from the "
        "meter readings, not reversed by hand"
    ),
    TransferKind.CREDIT: (
        "it is a settlement credit from a corrected reading; settlement owns it, it is not "
        "reversed by hand"
    ),
    TransferKind.ADJUSTMENT: (
        "it is an adjustment; post a new correcting adjustment instead of reversing it"
    ),
}


# --- commands (what was asked) ------------------------------------------------------------


@dataclass(frozen=True)
class TakePayment:
    """Credit a prepaid account with money received through a channel."""

    account_no: str
    amount_yuan: str  # as typed: "12.30"
    channel: str
    ref: str  # the channel's own transaction number: the idempotency key with the channel
    office_id: int | None = None  # the service office, for counter payments only


@dataclass(frozen=True)
class Refund:
    """Pay back part or all of a prepaid balance."""

    account_no: str
    amount_yuan: str
    ref: str
    note: str | None = None


@dataclass(frozen=True)
class Reverse:
    """Undo a payment or a refund by a mirroring transfer (never by an edit or a delete)."""

    transfer_id: str
    note: str | None = None


# --- checked requests (what will be posted) -----------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    account_id: int
    amount_fen: int
    channel: Channel
    ref: str
    office_id: int | None


@dataclass(frozen=True)
class RefundRequest:
    account_id: int
    amount_fen: int
    ref: str
    note: str | None


# --- validation ---------------------------------------------------------------------------


def parse_account_no(text: str) -> int:
    """'0000000123' -> 123. Exactly ten digits (the account id is the number)."""
    account_no = text.strip()
    if not _ACCOUNT_NO.fullmatch(account_no):
        raise InvalidInput(
            f"account number {text!r} is not valid: it must be exactly {ACCOUNT_NO_DIGITS} digits"
        )
    return int(account_no)


def format_account_no(account_id: int) -> str:
    return f"{account_id:0{ACCOUNT_NO_DIGITS}d}"


def parse_amount_fen(text: str, amount_fen_max: int) -> int:
    """A positive amount of yuan with at most two decimals, at most ``amount_fen_max``."""
    amount_fen = parse_yuan(text)
    if amount_fen <= 0:
        raise InvalidInput(f"amount must be positive; got {format_fen(amount_fen)} yuan")
    if amount_fen > amount_fen_max:
        raise InvalidInput(
            f"amount {format_fen(amount_fen)} yuan is above the largest accepted amount of "
            f"{format_fen(amount_fen_max)} yuan"
        )
    return amount_fen


def parse_channel(text: str) -> Channel:
    try:
        return Channel(text.strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise InvalidInput(f"unknown channel {text!r}: use one of {known}") from None


def parse_ref(text: str, ref_chars_max: int) -> str:
    """The channel's transaction number: printable, no spaces, 1..ref_chars_max characters.

    Surrounding spaces are dropped so that " 123" and "123" cannot become two payments.
    """
    ref = text.strip()
    if not ref:
        raise InvalidInput("reference is empty: give the channel's transaction number")
    if len(ref) > ref_chars_max:
        raise InvalidInput(
            f"reference is {len(ref)} characters long; at most {ref_chars_max} are allowed"
        )
    if not ref.isprintable() or any(c.isspace() for c in ref):
        raise InvalidInput(f"reference {ref!r} must be printable characters without spaces")
    return ref


def parse_note(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    note = text.strip()
    if len(note) > limits.transfer_note_chars_max:
        raise InvalidInput(
            f"note is {len(note)} characters long; at most {limits.transfer_note_chars_max}"
        )
    return note


def validate_payment(
    cmd: TakePayment,
    *,
    amount_fen_max: int,
    ref_chars_max: int,
    office_ids: Collection[int],
) -> PaymentRequest:
    """Everything about a payment that can be checked without the account's record."""
    account_id = parse_account_no(cmd.account_no)
    channel = parse_channel(cmd.channel)
    amount_fen = parse_amount_fen(cmd.amount_yuan, amount_fen_max)
    ref = parse_ref(cmd.ref, ref_chars_max)
    if channel is Channel.COUNTER:
        if cmd.office_id is None:
            raise InvalidInput("a counter payment needs the service office (--office N)")
        if cmd.office_id not in office_ids:
            known = ", ".join(str(i) for i in sorted(office_ids))
            raise InvalidInput(f"unknown office {cmd.office_id}: known offices are {known}")
    elif cmd.office_id is not None:
        raise InvalidInput(
            f"an office is only given for counter payments, not for channel {channel.value}"
        )
    return PaymentRequest(account_id, amount_fen, channel, ref, cmd.office_id)


def validate_refund(cmd: Refund, *, amount_fen_max: int, ref_chars_max: int) -> RefundRequest:
    return RefundRequest(
        account_id=parse_account_no(cmd.account_no),
        amount_fen=parse_amount_fen(cmd.amount_yuan, amount_fen_max),
        ref=parse_ref(cmd.ref, ref_chars_max),
        note=parse_note(cmd.note),
    )


def check_reversible(original: Transfer) -> None:
    """Refuse, with the reason, to reverse anything but a payment or a refund."""
    if original.kind in REVERSIBLE_KINDS:
        return
    reason = _NOT_REVERSIBLE_REASONS.get(original.kind, f"transfers of kind {original.kind}")
    raise Refused(f"transfer {original.id} cannot be reversed: {reason}")


# --- transfers ----------------------------------------------------------------------------


def payment_transfer(request: PaymentRequest, day: dt.date) -> Transfer:
    return Transfer(
        id=payment_id(request.channel, request.ref),
        debit_account_id=CLEARING_IDS[request.channel],
        credit_account_id=customer_ledger_id(request.account_id),
        amount_fen=request.amount_fen,
        kind=TransferKind.PAYMENT,
        account_id=request.account_id,
        day=day,
        channel=request.channel.value,
        ref=request.ref,
        office_id=request.office_id,
    )


def refund_transfer(request: RefundRequest, day: dt.date) -> Transfer:
    return Transfer(
        id=refund_id(request.ref),
        debit_account_id=customer_ledger_id(request.account_id),
        credit_account_id=REFUNDS_ID,
        amount_fen=request.amount_fen,
        kind=TransferKind.REFUND,
        account_id=request.account_id,
        day=day,
        ref=request.ref,
        note=request.note,
    )


def reversal_transfer(original: Transfer, day: dt.date, note: str | None) -> Transfer:
    """The mirror of ``original``, dated the day it is posted.

    ``reversed_transfer`` keeps the original's day; a reversal is dated when it happens instead,
    so that a month's statement, once issued, is never changed by a later correction.
    """
    check_reversible(original)
    return replace(reversed_transfer(original, note), day=day)


def same_request(existing: Transfer, wanted: Transfer) -> bool:
    """Is ``existing`` the operation ``wanted`` asks for (a retry), whatever day it was posted?

    The day and the note record when and why; they do not define the operation, so a bank that
    retries after midnight gets its original receipt rather than a conflict.
    """
    return replace(existing, day=None, note=None) == replace(wanted, day=None, note=None)


def conflict_message(existing: Transfer, wanted: Transfer) -> str:
    """Why a reused id is refused, naming both operations so a clerk can see the difference."""
    return (
        f"{wanted.id} was already recorded as {_describe(existing)}; this request is "
        f"{_describe(wanted)}: refused (a new operation needs a new reference)"
    )


def _describe(transfer: Transfer) -> str:
    parts = [f"{format_fen(transfer.amount_fen)} yuan"]
    if transfer.account_id is not None:
        parts.append(f"account {format_account_no(transfer.account_id)}")
    if transfer.office_id is not None:
        parts.append(f"office {transfer.office_id}")
    if transfer.reverses_id is not None:
        parts.append(f"reversing {transfer.reverses_id}")
    if transfer.day is not None:
        parts.append(f"on {transfer.day.isoformat()}")
    return ", ".join(parts)
