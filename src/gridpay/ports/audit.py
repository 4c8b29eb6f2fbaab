"""Set-based consistency checks over the whole ledger."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from gridpay.domain.ledger import LedgerTotals
from gridpay.domain.settlement import UnfinishedRunDay


class AuditRepo(Protocol):
    """Set-based consistency checks over the whole ledger (GROUP BY and joins, no row loops).

    Each ``*_failures`` method returns ``(failed, ids)``: how many distinct ledger accounts fail
    the rule, and the first ``limit`` of their ids in ascending order.
    """

    def begin_snapshot(self) -> None:
        """Make the rest of this unit of work read one consistent snapshot, without blocking
        writers. Call first."""
        ...

    def totals(self) -> LedgerTotals:
        """Counted once per unit of work (inside the snapshot they cannot change)."""
        ...

    def unknown_ledger_account_failures(self, limit: int) -> tuple[int, list[int]]:
        """Ledger account ids that transfers debit or credit but that do not exist."""
        ...

    def cached_balance_failures(self, limit: int) -> tuple[int, list[int]]:
        """Ledger accounts whose cached debits or credits differ from the sums of transfers."""
        ...

    def untagged_customer_transfer_failures(self, limit: int) -> tuple[int, list[int]]:
        """Customer ledger accounts moved by a transfer whose account_id is not that account."""
        ...

    def usage_charge_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts with a settled day whose net charge transfers differ from the usage row's
        charge_fen, or with charge/credit transfers for a day that has no usage row."""
        ...

    def malformed_charge_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts with a charge/credit transfer whose id or sides break the settlement rule."""
        ...

    def settled_days(self, limit: int | None) -> list[dt.date]:
        """The last ``limit`` days (all if None) that have usage rows, newest first."""
        ...

    def unfinished_run_days(self) -> tuple[int, list[UnfinishedRunDay]]:
        """(days with a settlement run, the days no run finished with their latest run),
        oldest day first."""
        ...

    def ytd_charged_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts whose usage row's ytd_charged_fen is not the previous row's (same year)
        plus the day's charge_fen, or not the day's charge_fen on a year's first row."""
        ...

    def charges_outside_agreement_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts with a day outside every agreement of theirs on which revenue kept a
        charge (charges, credits, true-ups and their reversals do not net to zero)."""
        ...

    def prepaid_not_direct_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts prepaid, or with an agreement in force, whose supply is not direct."""
        ...

    def left_not_settled_up_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts that left (closed out, not enrolled again) with a prepaid balance not zero."""
        ...
