"""Account changes at the counter: tariffs from a day on, phone changes waiting for a code."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from gridpay.domain.account_changes import (
    OwnerChange,
    PhoneChange,
    PhoneChangeStatus,
    TariffChange,
)
from gridpay.domain.registry import Language


class AccountChangesRepo(Protocol):
    """Tariff changes (``account_tariffs``) and phone changes (``phone_changes``)."""

    def add_tariff_change(self, change: TariffChange) -> None:
        """Record a change (none yet for that account and day: the caller looked)."""
        ...

    def tariff_change_on(self, account_id: int, from_day: dt.date) -> TariffChange | None:
        """The change taking effect on exactly ``from_day``, if any."""
        ...

    def tariff_changes(self, account_id: int) -> list[TariffChange]:
        """The account's tariff changes, by the day they take effect."""
        ...

    def tariff_on(self, account_id: int, day: dt.date) -> str | None:
        """The account's tariff on ``day`` (its latest change from that day or before, else
        the tariff it was registered with); None if there is no such account."""
        ...

    def last_settled_day(self, account_id: int) -> dt.date | None:
        """The account's last day with a usage row (None: never settled)."""
        ...

    def settled_on_a_real_reading(self, account_id: int, day: dt.date) -> bool:
        """Was ``day`` settled on a real reading, with no late reading waiting to true up the
        account's days (the closing reading of a final statement)?"""
        ...

    def add_phone_change(
        self,
        account_id: int,
        old_phone: str | None,
        new_phone: str,
        code_hash: str,
        expires_at: dt.datetime,
        requested_by: str,
        reason: str,
        at: dt.datetime,
    ) -> int:
        """Record a request waiting for its code; earlier pending ones become superseded."""
        ...

    def pending_phone_change(self, account_id: int) -> PhoneChange | None:
        """The account's request waiting for its code, locked for this transaction."""
        ...

    def count_wrong_code(self, change_id: int, lock: bool) -> None:
        """One more wrong code; ``lock`` ends the request (too many)."""
        ...

    def finish_phone_change(
        self, change_id: int, status: PhoneChangeStatus, at: dt.datetime | None
    ) -> None: ...

    def phone_changes(self, account_id: int) -> list[PhoneChange]:
        """Newest first."""
        ...

    def set_customer_phone(self, account_id: int, old_phone: str | None, new_phone: str) -> None:
        """The new phone is the customer's: the account's phone and its customer contact."""
        ...

    def set_owner(
        self, account_id: int, name: str, phone: str, language: Language, at: dt.datetime
    ) -> None:
        """The account's holder: name, phone and language; the old owner's contacts (and any
        phone change of theirs still waiting) go, the new owner's customer contact comes."""
        ...

    def add_owner_change(self, change: OwnerChange) -> None: ...

    def owner_changes(self, account_id: int) -> list[OwnerChange]:
        """Oldest first."""
        ...
