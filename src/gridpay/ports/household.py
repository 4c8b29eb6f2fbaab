"""Households signing in: codes, sessions, read-only access, and the home page's reads."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from gridpay.domain.household import (
    CodeStatus,
    HomeFacts,
    Role,
    Session,
    SignInCode,
    UsageRow,
)


class HouseholdRepo(Protocol):
    """Sign-in codes, sessions and trusted contacts' access; the per-account usage with TOU
    registers the household's chart draws."""

    def add_code(
        self,
        *,
        challenge_hash: str,
        account_id: int,
        phone: str,
        role: Role,
        code_hash: str,
        client_key: str,
        requested_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> int:
        """Store a new code; the pending codes of the same account and phone are superseded."""
        ...

    def code_by_challenge(self, challenge_hash: str) -> SignInCode | None: ...

    def codes_since(
        self,
        since: dt.datetime,
        *,
        account_id: int | None = None,
        phone: str | None = None,
        client_key: str | None = None,
    ) -> int:
        """Codes requested after ``since`` for the one key given (the rate limits)."""
        ...

    def count_attempt(self, code_id: int, status: CodeStatus, at: dt.datetime) -> None:
        """One more try of the code, leaving it ``status`` (used, locked or still pending)."""
        ...

    def add_session(self, session: Session) -> None: ...

    def session(self, token_hash: str) -> Session | None:
        """The session if it was not signed out (expiry is the caller's to judge)."""
        ...

    def touch_session(self, token_hash: str, at: dt.datetime) -> None: ...

    def end_sessions(
        self,
        at: dt.datetime,
        *,
        token_hash: str | None = None,
        account_id: int | None = None,
        phone: str | None = None,
    ) -> int:
        """Sign out the session, or every session of the account (of one phone if given)."""
        ...

    def granted_phones(self, account_id: int) -> set[str]: ...

    def grant(self, account_id: int, phone: str, at: dt.datetime) -> bool:
        """False if that phone already had access."""
        ...

    def revoke(self, account_id: int, phone: str) -> bool: ...

    def usage_with_registers(
        self, account_id: int, first_day: dt.date, last_day: dt.date
    ) -> list[UsageRow]:
        """Settled days in the range, oldest first, with the TOU registers' end-of-day values."""
        ...

    def home_facts(self, account_id: int, day: dt.date) -> HomeFacts | None:
        """Name, tariff on ``day``, balance, credit state and newest decision in one read
        (None: no such account)."""
        ...
