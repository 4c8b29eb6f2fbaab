"""Staff accounts, console sessions, failed sign-ins, shift closes, and the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gridpay.domain.actors import Role
from gridpay.domain.audit_trail import AuditEntry, AuditQuery


@dataclass(frozen=True)
class StaffMember:
    id: int
    username: str
    display_name: str
    role: Role
    office_id: int | None
    active: bool
    password_hash: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ShiftClose:
    id: int
    staff_id: int
    username: str
    office_id: int
    closed_at: dt.datetime
    last_audit_id: int
    payments: int
    ledger_fen: int
    counted_fen: int
    note: str | None
    explained_by: str | None
    explanation: str | None
    explained_at: dt.datetime | None

    @property
    def difference_fen(self) -> int:
        """Counted minus the ledger: positive, more cash than payments; negative, short."""
        return self.counted_fen - self.ledger_fen

    @property
    def needs_supervisor(self) -> bool:
        return self.difference_fen != 0 and self.explained_at is None


@dataclass(frozen=True)
class CashTaken:
    """What the ledger says a clerk took in cash between two points of the audit log."""

    payments: int
    amount_fen: int  # payments minus their reversals
    last_audit_id: int  # the newest entry counted (the next close starts after it)


class StaffRepo(Protocol):
    def add_staff(
        self,
        username: str,
        display_name: str,
        password_hash: str,
        role: Role,
        office_id: int | None,
        now: dt.datetime,
    ) -> int | None:
        """The new member's id; None if the username is taken."""
        ...

    def staff_by_username(self, username: str) -> StaffMember | None: ...

    def staff_by_id(self, staff_id: int) -> StaffMember | None: ...

    def list_staff(self) -> list[StaffMember]: ...

    def set_active(self, staff_id: int, active: bool) -> None: ...

    def set_password_hash(self, staff_id: int, password_hash: str, now: dt.datetime) -> None: ...

    def end_sessions(self, staff_id: int, now: dt.datetime) -> int:
        """End every open session of a member (disabled, or a new password): how many."""
        ...

    def add_session(
        self, token_hash: str, staff_id: int, now: dt.datetime, expires_at: dt.datetime
    ) -> None: ...

    def session_staff(self, token_hash: str, now: dt.datetime) -> StaffMember | None:
        """The active member of an open, unexpired session; None otherwise."""
        ...

    def end_session(self, token_hash: str, now: dt.datetime) -> None: ...

    def add_signin_failure(self, username: str, client: str, now: dt.datetime) -> None: ...

    def signin_failures(self, username: str, client: str, since: dt.datetime) -> int:
        """Failed sign-ins since ``since`` for this username or from this client, the larger."""
        ...

    def last_shift_close(self, staff_id: int) -> ShiftClose | None: ...

    def cash_taken(self, actor_id: str, after_audit_id: int) -> CashTaken:
        """The staff member's counter payments and reversals recorded after the audit entry
        ``after_audit_id``, summed from the ledger's transfers."""
        ...

    def add_shift_close(
        self,
        staff_id: int,
        office_id: int,
        now: dt.datetime,
        taken: CashTaken,
        counted_fen: int,
        note: str | None,
    ) -> int: ...

    def shift_close(self, close_id: int) -> ShiftClose | None: ...

    def shift_closes(self, office_id: int | None, limit: int) -> list[ShiftClose]: ...

    def explain_shift_close(
        self, close_id: int, supervisor: str, explanation: str, now: dt.datetime
    ) -> bool:
        """Record the note on a close still waiting for one; False if it was explained."""
        ...


class AuditLogRepo(Protocol):
    def record(self, entry: AuditEntry) -> int:
        """Append an entry (in the caller's transaction): its id."""
        ...

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        """Append several entries (in the caller's transaction)."""
        ...

    def search(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching every given filter, newest first."""
        ...
