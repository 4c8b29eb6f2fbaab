"""The small hierarchy of errors the world can cause, each with a stable code.

Assertions are for our own mistakes; these are for bad input and refused operations. The CLI maps
codes to exit codes in one table (``entrypoints/cli/_common.py``); the API will do the same for
HTTP statuses.
"""

from __future__ import annotations

import datetime as dt


class GridpayError(Exception):
    """Base error. ``code`` is stable and machine-readable; the message is for a clerk."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GridpayError):
    code = "invalid_input"


class NotFound(GridpayError):
    code = "not_found"


class Conflict(GridpayError):
    """The same idempotency key was used for a different operation."""

    code = "conflict"


class Refused(GridpayError):
    """A well-formed request that the rules do not allow (e.g. paying into a postpaid account)."""

    code = "refused"


class DaysUnsettled(Refused):
    """Settling a day would skip earlier days nobody settled yet: the day would be priced from
    a register days old and the skipped days charged again later. ``days`` are the ones to
    settle first, oldest first."""

    def __init__(self, message: str, days: tuple[dt.date, ...]) -> None:
        super().__init__(message)
        self.days = days


class AuditFailed(GridpayError):
    code = "audit_failed"


class ConfigError(GridpayError):
    code = "config_error"


class DeliveryFailed(GridpayError):
    """A gateway (SMS, head-end) refused or could not take a message or command; retried."""

    code = "delivery_failed"


class BusinessDateRefused(Refused):
    """A business date (``--now``) where it could do real harm: the workers on production."""

    code = "business_date_refused"


class NoDatabase(GridpayError):
    """The database (or its schema) is not there yet: ``gridpay init`` creates it."""

    code = "no_database"


class DatabaseUnreachable(GridpayError):
    """The database server refused or could not be reached (the message never holds a password)."""

    code = "database_unreachable"


class NotSignedIn(GridpayError):
    """The request needs a signed-in household, staff member or a partner's valid signature."""

    code = "not_signed_in"


class Forbidden(GridpayError):
    """Signed in, but this caller may not do this (another household's account, a clerk doing a
    supervisor's action, another office's account)."""

    code = "forbidden"


class RateLimited(GridpayError):
    """Too many requests of this kind from this account, phone, address or partner: wait."""

    code = "rate_limited"
