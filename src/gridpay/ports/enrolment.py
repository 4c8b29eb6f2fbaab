"""Smart-payment agreements, notification contacts and protected customers."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import polars as pl

from gridpay.domain.enrolment import (
    Agreement,
    Contact,
    OpeningPosition,
    PositionSource,
    Protection,
)


class EnrolmentRepo(Protocol):
    """Smart-payment agreements, notification contacts and protected customers."""

    def open_enrolment(self, account_id: int) -> Agreement | None:
        """The agreement in force, if any."""
        ...

    def latest_enrolment(self, account_id: int) -> Agreement | None:
        """The newest agreement, in force or ended (None if the account never enrolled)."""
        ...

    def add_enrolment(
        self,
        account_id: int,
        day: dt.date,
        at: dt.datetime,
        channel: str,
        office_id: int | None,
        position: OpeningPosition | None = None,
        position_source: PositionSource | None = None,
    ) -> int | None:
        """The new agreement's id; None (nothing written) if one is already in force.
        ``position``: monthly billing's closing position, where it came from in
        ``position_source``."""
        ...

    def set_opening_position(
        self, enrolment_id: int, position: OpeningPosition, position_source: PositionSource
    ) -> bool:
        """Record the opening position of an agreement that has none; False if it has one."""
        ...

    def close_enrolment(self, account_id: int, day: dt.date, at: dt.datetime) -> bool:
        """End the agreement in force; False if there was none (e.g. a concurrent leave)."""
        ...

    def set_billing_mode(self, account_id: int, billing_mode: str) -> None: ...

    def add_contact(
        self,
        account_id: int,
        phone: str,
        role: str,
        language: str,
        name: str | None,
        at: dt.datetime,
    ) -> bool:
        """False if this phone is already a contact of the account."""
        ...

    def contacts(self, account_id: int) -> list[Contact]:
        """Customer first, then by when added."""
        ...

    def set_protection(
        self, account_id: int, reason: str | None, note: str | None, at: dt.datetime
    ) -> None:
        """Flag (or, with ``reason=None``, unflag) a protected customer."""
        ...

    def protection(self, account_id: int) -> Protection | None:
        """None if the customer is not protected."""
        ...

    def supply(self, account_id: int) -> tuple[str, int]:
        """(supply as the meter last confirmed it, credit cycle); ('on', 0) with no state yet."""
        ...

    def report(self, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """Per office and day of the drive, then overall: ``domain.enrolment.PROGRESS_SCHEMA``."""
        ...

    def first_enrolled_on(self) -> dt.date | None:
        """The day the first agreement on record was signed (the drive's first day, by default)."""
        ...

    def first_settled_day(self, account_id: int) -> dt.date | None:
        """The account's first day with a usage row (None: never settled)."""
        ...

    def add_imported_enrolments(self, accounts: pl.DataFrame, day: dt.date, at: dt.datetime) -> int:
        """Agreements from ``day`` for newly registered prepaid accounts (id, office_id,
        opening_wh, opening_ytd_wh: null when the file gave no position), channel ``import``;
        rows added."""
        ...
