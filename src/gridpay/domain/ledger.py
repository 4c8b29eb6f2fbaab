"""Ledger rules: accounts, transfers and their deterministic ids.

Double-entry and append-only, in TigerBeetle's shape: every movement of money is a ``Transfer``
that debits one ledger account and credits another by a positive amount of fen. Each ledger
account keeps ``debits_posted_fen`` and ``credits_posted_fen``; a customer's prepaid balance is a
liability of the company, so balance = credits - debits (a payment credits it, a charge debits it).

Transfer ids are deterministic, so retrying an operation can never post it twice:
``charge/<day>/<account>``, ``pay/<channel>/<ref>``, ``refund/<ref>``, ``reversal/<transfer id>``,
``trueup/<account>/<day>/<n>``, ``payout/<refund ref>``, ``handover/<ref>``,
``compensation/<reconnect command's correlation id>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

SYSTEM_LEDGER_BASE = 10**10  # above every 10-digit account number


class Channel(StrEnum):
    APP = "app"
    COUNTER = "counter"
    BANK = "bank"
    AGENT = "agent"


class TransferKind(StrEnum):
    CHARGE = "charge"  # daily electricity charge: customer -> revenue
    CREDIT = "credit"  # a real reading gave back part of an earlier estimate: revenue -> customer
    PAYMENT = "payment"  # clearing(channel) -> customer
    REFUND = "refund"  # customer -> refunds payable
    REVERSAL = "reversal"  # the mirror of an earlier transfer
    ADJUSTMENT = "adjustment"  # staff correction
    PAYOUT = "payout"  # a refund paid out: refunds payable -> payouts(channel)
    HANDOVER = "handover"  # a debt handed to monthly billing: receivables -> customer


# System ledger accounts: fixed ids, created by ``gridpay init``.
REVENUE_ID = SYSTEM_LEDGER_BASE + 1
REFUNDS_ID = SYSTEM_LEDGER_BASE + 2
ADJUSTMENTS_ID = SYSTEM_LEDGER_BASE + 3
# What households that left owe, handed to the monthly billing system to collect.
RECEIVABLES_ID = SYSTEM_LEDGER_BASE + 4
CLEARING_IDS: dict[Channel, int] = {
    Channel.APP: SYSTEM_LEDGER_BASE + 101,
    Channel.COUNTER: SYSTEM_LEDGER_BASE + 102,
    Channel.BANK: SYSTEM_LEDGER_BASE + 103,
    Channel.AGENT: SYSTEM_LEDGER_BASE + 104,
}


class PayoutChannel(StrEnum):
    """How a refund reaches the household: cash at a counter, or the bank-transfer batch."""

    COUNTER = "counter"
    BANK = "bank"


# Money paid out of refunds payable, per channel: cleared against the till and the bank statement.
PAYOUT_IDS: dict[PayoutChannel, int] = {
    PayoutChannel.COUNTER: SYSTEM_LEDGER_BASE + 201,
    PayoutChannel.BANK: SYSTEM_LEDGER_BASE + 202,
}

SYSTEM_ACCOUNTS: tuple[tuple[int, str, str], ...] = (
    (REVENUE_ID, "revenue:electricity", "revenue"),
    (REFUNDS_ID, "refunds:payable", "refunds"),
    (ADJUSTMENTS_ID, "adjustments", "adjustments"),
    (RECEIVABLES_ID, "receivables:monthly-billing", "receivables"),
    *(
        (ledger_id, f"clearing:{channel.value}", "clearing")
        for channel, ledger_id in CLEARING_IDS.items()
    ),
    *(
        (ledger_id, f"payouts:{channel.value}", "payouts")
        for channel, ledger_id in PAYOUT_IDS.items()
    ),
)


def customer_ledger_id(account_id: int) -> int:
    assert 0 <= account_id < SYSTEM_LEDGER_BASE
    return account_id


@dataclass(frozen=True)
class Transfer:
    id: str
    debit_account_id: int
    credit_account_id: int
    amount_fen: int
    kind: TransferKind
    account_id: int | None = None
    day: dt.date | None = None
    channel: str | None = None
    ref: str | None = None
    office_id: int | None = None
    reverses_id: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        assert self.amount_fen > 0, self
        assert self.debit_account_id != self.credit_account_id, self

    def same_operation(self, other: Transfer) -> bool:
        """Equal in every field that defines the operation (the id's retry check)."""
        return self == other


# A day's charges and credits are ids of the day first: each day's ids then follow the earlier
# days' in the unique index instead of going next to each account's own (with 20 days of
# history that was 6.3 s against 3.3 s for a day's 550,000; ``docs/benchmarks.md``). Ids
# posted before 2 December 2026 read ``charge/<account>/<day>``; the audit accepts both.
def charge_id(account_id: int, day: dt.date) -> str:
    return f"charge/{day.isoformat()}/{account_id:010d}"


def credit_id(account_id: int, day: dt.date) -> str:
    return f"credit/{day.isoformat()}/{account_id:010d}"


def payment_id(channel: Channel, ref: str) -> str:
    return f"pay/{channel.value}/{ref}"


def refund_id(ref: str) -> str:
    return f"refund/{ref}"


def payout_id(refund_ref: str) -> str:
    """One payout per refund, whatever the channel: paid in cash, the bank file cannot pay it."""
    return f"payout/{refund_ref}"


def handover_id(ref: str) -> str:
    return f"handover/{ref}"


def compensation_id(reconnect_correlation_id: str) -> str:
    """One compensation per reconnect that broke the restoration promise."""
    return f"compensation/{reconnect_correlation_id}"


def reversal_id(original_id: str) -> str:
    return f"reversal/{original_id}"


def reversed_transfer(original: Transfer, note: str | None = None) -> Transfer:
    """The correcting transfer that undoes ``original`` (never an edit or a delete)."""
    return Transfer(
        id=reversal_id(original.id),
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        amount_fen=original.amount_fen,
        kind=TransferKind.REVERSAL,
        account_id=original.account_id,
        day=original.day,
        channel=original.channel,
        ref=original.ref,
        office_id=original.office_id,
        reverses_id=original.id,
        note=note,
    )


@dataclass(frozen=True)
class LedgerTotals:
    """Whole-ledger counts and sums, for the audit's checks."""

    transfers: int
    transfers_fen: int
    ledger_accounts: int
    debits_posted_fen: int
    credits_posted_fen: int
    usage_rows: int
    charge_transfers: int
    accounts: int
