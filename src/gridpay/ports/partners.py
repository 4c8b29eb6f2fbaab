"""Partners, their nonces and payments, and the reconciliation of their days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import polars as pl

from gridpay.domain.partners import Partner, PartnerPayment

# A partner's payments of a day as our side knows them (``day_payments``).
OUR_PAYMENTS_SCHEMA = {"reference": pl.String, "account_no": pl.String, "amount_fen": pl.Int64}
# One reconciliation line (``replace_reconciliation``, ``reconciliation``).
RECONCILIATION_SCHEMA = {
    "reference": pl.String,
    "account_no": pl.String,
    "amount_fen_ours": pl.Int64,
    "amount_fen_theirs": pl.Int64,
    "outcome": pl.String,
    "confirmed_by": pl.String,
}


class PartnersRepo(Protocol):
    def savepoint(self) -> AbstractContextManager[object]:
        """A savepoint in this unit of work's transaction: what is written inside is undone if
        the block raises (a partner's refused payment keeps its spent nonce, nothing else).
        Here rather than on the unit of work: only the partner API needs one."""
        ...

    def commit_without_flush(self) -> None:
        """Let this transaction's commit return before its log is on disk (where the engine
        can). The write-ahead log is one sequence: the next durable commit (the payment's)
        makes this one durable too, so only bookkeeping that a retry rebuilds is at risk."""
        ...

    def add_partner(self, partner: Partner) -> bool:
        """Insert a new partner; False if the code is taken."""
        ...

    def partner(self, code: str, *, for_update: bool = False) -> Partner | None: ...

    def partners(self) -> list[Partner]: ...

    def update_partner(
        self,
        code: str,
        at: dt.datetime,
        *,
        suspended: bool | None = None,
        secret: str | None = None,
        payment_amount_fen_max: int | None = None,
        day_amount_fen_max: int | None = None,
    ) -> bool:
        """Change the given fields; False if there is no such partner."""
        ...

    def spend_nonce(self, code: str, nonce: str, at: dt.datetime) -> bool:
        """Record a nonce; False if this partner used it before (a replay)."""
        ...

    def prune_nonces(self, before: dt.datetime) -> int: ...

    def payment(self, code: str, reference: str) -> PartnerPayment | None: ...

    def add_payment(self, payment: PartnerPayment) -> bool:
        """Insert it; False if that reference is there already (a racing request won)."""
        ...

    def mark_posted(self, code: str, reference: str, balance_fen: int) -> None: ...

    def spend_nonces(
        self, nonces: Sequence[tuple[str, str]], at: dt.datetime
    ) -> set[tuple[str, str]]:
        """``spend_nonce`` for several different (partner, nonce) pairs: those spent now."""
        ...

    def add_payments(self, payments: Sequence[PartnerPayment]) -> set[tuple[str, str]]:
        """``add_payment`` for several references: the (partner, reference) pairs added."""
        ...

    def payments_of(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], PartnerPayment]: ...

    def drop_pending_many(self, keys: Collection[tuple[str, str]]) -> None: ...

    def mark_posted_many(self, code: str, balances_fen: Sequence[tuple[str, int]]) -> None: ...

    def day_amount_for_update(self, code: str, day: dt.date) -> int:
        """The partner's total of the day so far, held until commit."""
        ...

    def add_day_amount(self, code: str, day: dt.date, amount_fen: int) -> None: ...

    def mark_reversed(self, code: str, reference: str, reversal_id: str) -> bool:
        """Mark a posted payment reversed; False if it was not posted (reversed already)."""
        ...

    def drop_pending(self, code: str, reference: str) -> None:
        """Forget a reservation the ledger refused (it never became a payment)."""
        ...

    def take_day_amount(self, code: str, day: dt.date, amount_fen: int, day_max: int) -> bool:
        """Add to the partner's day total if it stays within ``day_max``; False otherwise."""
        ...

    def give_back_day_amount(self, code: str, day: dt.date, amount_fen: int) -> None: ...

    def day_payments(self, code: str, day: dt.date) -> pl.DataFrame:
        """The partner's posted (not reversed) payments of the day: ``OUR_PAYMENTS_SCHEMA``."""
        ...

    def write_reconciliation(
        self, code: str, day: dt.date, changed: pl.DataFrame, removed: Collection[str]
    ) -> None:
        """Store the day's lines that are new or changed (``RECONCILIATION_SCHEMA``) and drop
        the ``removed`` references' lines: a re-run that changes nothing writes nothing."""
        ...

    def reconciliation(self, code: str, day: dt.date) -> pl.DataFrame: ...

    def confirm_line(
        self, code: str, day: dt.date, reference: str, by: str, at: dt.datetime
    ) -> None: ...

    def open_task_keys(self, key_prefix: str) -> set[str]: ...

    def close_tasks(
        self, keys: Collection[str], at: dt.datetime, close_code: str, close_reason: str
    ) -> int: ...
