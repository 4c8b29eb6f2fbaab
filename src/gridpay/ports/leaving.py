"""Agreements that ended: their close-out, the hand-over to monthly billing, refunds to pay."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from gridpay.domain.leaving import HandoverRow, Leaving, LeavingDay, RefundDue, SettleUp


class LeavingRepo(Protocol):
    def add_leaving(
        self,
        enrolment_id: int,
        account_id: int,
        enrolled_on: dt.date,
        left_on: dt.date,
        at: dt.datetime,
        note: str | None,
    ) -> None:
        """Record an agreement that ends at the end of ``left_on``, to be closed out."""
        ...

    def pending(self, account_id: int) -> Leaving | None:
        """The account's agreement that ended and is not closed out yet, if any."""
        ...

    def settled_leaving_days(self, account_id: int | None = None) -> list[LeavingDay]:
        """Agreements not closed out whose leaving day is settled (all, or one account's)."""
        ...

    def close(
        self,
        day: LeavingDay,
        balance_fen: int,
        at: dt.datetime,
    ) -> bool:
        """Mark the agreement closed out with its closing position; False if it already was."""
        ...

    def closed_with_balance(self) -> list[Leaving]:
        """Agreements closed out whose account has a prepaid balance again and no later
        agreement: a late reading trued up one of its days after the close-out."""
        ...

    def add_to_closing_balance(self, enrolment_id: int, amount_fen: int) -> None:
        """Add a settle-up after the close-out to the agreement's closing balance."""
        ...

    def add_settle_up(self, settle_up: SettleUp) -> None:
        """Record a settle-up after the close-out, for the hand-over file."""
        ...

    def last_settle_up_no(self, enrolment_id: int) -> int:
        """The highest settle-up number the agreement has taken (0: none yet)."""
        ...

    def closing_position(self, account_id: int, day: dt.date) -> tuple[int, bool, int] | None:
        """The settled day's (register, estimated, year-to-date Wh) as it stands now."""
        ...

    def handover_rows(self, first_day: dt.date, last_day: dt.date) -> list[HandoverRow]:
        """The close-outs of agreements with a leaving day in [first_day, last_day], their
        settle-ups, and the settle-ups posted on those days; by leaving day, agreement, entry."""
        ...

    def refunds_due(self, limit: int) -> list[RefundDue]:
        """Refunds in refunds payable with no payout and no reversal, oldest first."""
        ...
