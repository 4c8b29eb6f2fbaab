"""Account changes a counter handles every day: a tariff from a day on, a new SMS phone.

Each change carries who made it (a clerk's id, or ``online``) and why, as a customer file would
show it. A change of tariff takes effect from a day not yet settled: the days before keep the
tariff they were charged at, and the tier year (the account's year-to-date energy) continues
across the change, because Henan's tiers are counted per household and year, not per tariff.

A change of owner (过户) ends the old owner's agreement on the day before the change with a
final statement: the days up to then settled, a positive balance refunded to the old owner, and
no debt left behind (the old owner pays what is owed at the counter first, as the supply rules
ask before a transfer). The new owner signs a new agreement from the day of the change, on the
same account and meter. **The new owner continues the account's tier year**: Henan's tiers count
the energy of a metering point (一户一表) over the calendar year, so the year-to-date kWh the
meter has used since 1 January stays with the account, not with the person; nothing restarts
at the change, and a new owner moving in on 1 December pays December at the tier the
household's year has reached.

A new phone is confirmed by a code sent to it before it receives anything else: the code is
kept only as a salted hash, expires, is used once, and a few wrong tries lock the request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from gridpay import limits
from gridpay.domain.enrolment import parse_phone
from gridpay.domain.payments import parse_account_no
from gridpay.domain.registry import Language
from gridpay.errors import InvalidInput


class PhoneChangeStatus(StrEnum):
    PENDING = "pending"  # the code is sent; messages still go to the old phone
    CONFIRMED = "confirmed"  # the new phone is the customer's SMS phone
    SUPERSEDED = "superseded"  # a newer request replaced it before it was confirmed
    LOCKED = "locked"  # too many wrong codes: ask again


@dataclass(frozen=True)
class TariffChange:
    """The account's tariff from ``from_day`` on, as recorded."""

    account_id: int
    tariff_code: str
    from_day: dt.date
    changed_by: str
    reason: str
    changed_at: dt.datetime


@dataclass(frozen=True)
class PhoneChange:
    """A new SMS phone waiting for (or confirmed by) the code sent to it."""

    id: int
    account_id: int
    old_phone: str | None
    new_phone: str
    code_hash: str
    expires_at: dt.datetime
    attempts: int
    status: PhoneChangeStatus
    requested_by: str
    reason: str
    requested_at: dt.datetime
    confirmed_at: dt.datetime | None


@dataclass(frozen=True)
class ChangeTariff:
    """What a clerk typed: account, new tariff, first day at it, who and why."""

    account_no: str
    tariff_code: str
    from_day: dt.date
    changed_by: str
    reason: str


@dataclass(frozen=True)
class ChangePhone:
    account_no: str
    new_phone: str
    requested_by: str
    reason: str


@dataclass(frozen=True)
class ConfirmPhone:
    account_no: str
    code: str


@dataclass(frozen=True)
class Who:
    """Who made a change and why, checked."""

    by: str
    reason: str


@dataclass(frozen=True)
class ChangeOwner:
    """What a clerk typed for a change of owner (过户)."""

    account_no: str
    from_day: dt.date  # the new owner's first day; the old owner's last is the day before
    new_name: str
    new_phone: str
    changed_by: str
    reason: str
    new_language: str | None = None  # default: the account's


@dataclass(frozen=True)
class OwnerChange:
    """A change of owner as recorded."""

    account_id: int
    from_day: dt.date
    old_enrolment_id: int
    new_enrolment_id: int
    old_name: str
    old_phone: str | None
    new_name: str
    new_phone: str
    final_balance_fen: int  # the old owner's balance after the final statement
    refund_transfer_id: str | None  # that balance paid back (None: it was zero)
    changed_by: str
    reason: str
    changed_at: dt.datetime


def validate_change_owner(cmd: ChangeOwner) -> tuple[int, str, str, Language | None, Who]:
    """(account id, new name, new phone, language or None, who)."""
    account_id = parse_account_no(cmd.account_no)
    name = cmd.new_name.strip()
    if not name or not name.isprintable() or len(name) > limits.account_name_chars_max:
        raise InvalidInput(
            f"give the new owner's name (--name), at most {limits.account_name_chars_max} "
            "characters, no control characters"
        )
    phone = parse_phone(cmd.new_phone, "new owner's phone")
    language = None
    if cmd.new_language is not None:
        try:
            language = Language(cmd.new_language.strip())
        except ValueError:
            raise InvalidInput(f"language {cmd.new_language!r} is not zh or en") from None
    return account_id, name, phone, language, parse_who(cmd.changed_by, cmd.reason)


def parse_who(by: str, reason: str) -> Who:
    """Every change names who made it and why; a clerk must give both."""
    by, reason = by.strip(), reason.strip()
    if not by:
        raise InvalidInput("say who makes the change (--by: your staff id, or 'online')")
    if len(by) > limits.account_change_by_chars_max:
        raise InvalidInput(f"--by is at most {limits.account_change_by_chars_max} characters")
    if not reason:
        raise InvalidInput("say why the account changes (--reason)")
    if len(reason) > limits.account_change_reason_chars_max:
        raise InvalidInput(
            f"--reason is at most {limits.account_change_reason_chars_max} characters"
        )
    if not (by.isprintable() and reason.isprintable()):
        raise InvalidInput("--by and --reason cannot hold control characters")
    return Who(by, reason)


def validate_change_tariff(cmd: ChangeTariff) -> tuple[int, str, Who]:
    """(account id, tariff code, who); ``InvalidInput`` for a clerk's typing mistake."""
    account_id = parse_account_no(cmd.account_no)
    code = cmd.tariff_code.strip()
    if not code:
        raise InvalidInput("give the new tariff's code (--tariff)")
    return account_id, code, parse_who(cmd.changed_by, cmd.reason)


def validate_change_phone(cmd: ChangePhone) -> tuple[int, str, Who]:
    account_id = parse_account_no(cmd.account_no)
    return (
        account_id,
        parse_phone(cmd.new_phone, "new phone"),
        parse_who(cmd.requested_by, cmd.reason),
    )


def parse_code(text: str) -> str:
    code = text.strip()
    if not (code.isascii() and code.isdigit() and len(code) == limits.phone_code_digits):
        raise InvalidInput(f"the code is the {limits.phone_code_digits} digits sent by SMS")
    return code


def hash_code(code: str, salt: bytes) -> str:
    """``salt$hash`` (hex) of a phone code: PBKDF2-SHA256, so a stolen table is not a list of
    codes (a six-digit code is found by trying them all against a plain hash)."""
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), salt, limits.phone_code_hash_rounds)
    return f"{salt.hex()}${digest.hex()}"


def code_matches(code: str, code_hash: str) -> bool:
    salt_hex, _, _ = code_hash.partition("$")
    return hmac.compare_digest(hash_code(code, bytes.fromhex(salt_hex)), code_hash)
