"""What the office console reads: households found, the arrears queue, tasks, commands."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class HouseholdRow:
    account_id: int
    account_no: str
    name: str
    phone: str | None
    office_id: int
    billing_mode: str
    supply_type: str


@dataclass(frozen=True)
class ArrearsRow:
    account_id: int
    account_no: str
    name: str
    office_id: int
    state: str
    pay_by: dt.date | None
    supply: str
    balance_fen: int
    protected: str | None
    decision_at: dt.datetime | None  # the account's latest credit decision
    decision_action: str | None
    decision_reason: str | None


@dataclass(frozen=True)
class TaskRow:
    account_no: str
    office_id: int
    kind: str
    reason: str
    created_at: dt.datetime


@dataclass(frozen=True)
class CommandCount:
    action: str
    state: str
    commands: int


class ConsoleRepo(Protocol):
    def find_households(
        self,
        account_id: int | None,
        phone: str | None,
        name: str | None,
        office_id: int | None,
        limit: int,
    ) -> list[HouseholdRow]:
        """By account number, by phone (the account's or a contact's, exact), or by a part of
        the name; in one office or all (``office_id`` None)."""
        ...

    def arrears_queue(self, office_id: int | None, limit: int) -> list[ArrearsRow]:
        """Accounts in arrears, being cut or cut off, the longest overdue first."""
        ...

    def open_tasks(self, office_id: int | None, limit: int) -> list[TaskRow]: ...

    def command_counts(self) -> list[CommandCount]: ...

    def restoration_latencies_s(self, limit: int) -> list[float]:
        """Seconds from queued to acknowledged of the latest acknowledged reconnects."""
        ...
