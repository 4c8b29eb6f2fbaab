"""The smart-payment agreement: enrolling, leaving, contacts, protected customers, progress.

Commands are what a clerk typed; validation turns them into checked requests or raises
``InvalidInput`` with a message a counter clerk understands. Rules that need the account's
record (is it direct supply, is it enrolled) take that record as plain values and raise
``Refused``. The enrolment progress table (per office and day of the drive) is built here from
counts grouped in the database, as Polars expressions: no loop per account.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import polars as pl

from gridpay import limits
from gridpay.domain.credit_policy import CLOSING_SCHEMA, TASK_SCHEMA
from gridpay.domain.ledger import Transfer
from gridpay.domain.money import format_kwh, parse_kwh
from gridpay.domain.payments import (
    RefundRequest,
    TakePayment,
    format_account_no,
    parse_account_no,
    parse_note,
    refund_transfer,
)
from gridpay.domain.registry import Account, Language, SupplyType
from gridpay.errors import InvalidInput, Refused

# The registry's phone rule (``domain.registry.parse_rows``): digits, an optional leading +,
# spaces or dashes inside. Stored as typed, so the SMS gateway gets what the customer gave.
_PHONE = re.compile(r"\+?[0-9][0-9 \-]*[0-9]")

NOT_DIRECT_SUPPLY_REASON = (
    "only direct-supply customers can join smart payment: for a non-direct-supply account the "
    "meter in the home is not the company's, so it cannot be read or switched remotely"
)


class EnrolChannel(StrEnum):
    OFFICE = "office"  # signed at a service office's counter
    ONLINE = "online"
    IMPORT = "import"  # registered as prepaid by an accounts file (``gridpay accounts import``)


class PositionSource(StrEnum):
    """Where an agreement's opening position (register, year-to-date kWh) came from."""

    ENTERED = "entered"  # typed at enrolment, from monthly billing's closing statement
    ACCOUNTS_FILE = "accounts_file"  # columns of the accounts file that registered it prepaid
    DRIVE_FILE = "drive_file"  # a row of the enrolment drive's bulk file
    MISSING = "missing"  # not given: flagged, and a staff task asks for it


class ContactRole(StrEnum):
    CUSTOMER = "customer"
    TRUSTED = "trusted"  # family or a neighbour told when a protected customer is in arrears


class ProtectionReason(StrEnum):
    MEDICAL = "medical"  # medical equipment at home
    ELDERLY_ALONE = "elderly_alone"
    HELD = "held"  # a supervisor held the cut at the console, the note says why


# --- commands (what was asked) ------------------------------------------------------------


@dataclass(frozen=True)
class OpeningPayment:
    """A first payment taken at the counter together with the agreement."""

    amount_yuan: str
    channel: str
    ref: str


@dataclass(frozen=True)
class Enrol:
    """Sign the smart-payment agreement for an account (at an office, or online)."""

    account_no: str
    office_id: int | None = None  # the signing office; None with ``online``
    online: bool = False
    phone: str | None = None  # the customer's SMS phone; default: the account's phone
    language: str | None = None  # default: the account's language
    trusted_phone: str | None = None
    trusted_name: str | None = None
    trusted_language: str | None = None
    protected: str | None = None  # medical | elderly_alone
    opening: OpeningPayment | None = None
    # Monthly billing's closing position: the register at the start of the agreement's first
    # day, and the kWh already billed in that tier year (both, or neither).
    opening_kwh: str | None = None
    opening_ytd_kwh: str | None = None
    drive_file: bool = (
        False  # a row of the enrolment drive's bulk file (where the position came from)
    )


@dataclass(frozen=True)
class Leave:
    """End the agreement: back to postpaid, the remaining balance refunded."""

    account_no: str
    note: str | None = None


@dataclass(frozen=True)
class Protect:
    """Flag a protected customer (never cut remotely), or clear the flag with ``reason=None``."""

    account_no: str
    reason: str | None
    note: str | None = None


@dataclass(frozen=True)
class AddContact:
    account_no: str
    phone: str
    role: str = ContactRole.TRUSTED.value
    language: str = Language.ZH.value
    name: str | None = None


# --- checked requests ---------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    phone: str
    role: ContactRole
    language: Language
    name: str | None = None


@dataclass(frozen=True)
class OpeningPosition:
    """Where monthly billing left the household: the register at the start of the agreement's
    first day (its closing reading) and the kWh already billed in that tier year. Settlement
    takes the first prepaid day's baseline and tier position from it."""

    register_wh: int
    ytd_wh: int

    def __post_init__(self) -> None:
        assert self.register_wh >= 0
        assert self.ytd_wh >= 0


@dataclass(frozen=True)
class Agreement:
    """A smart-payment agreement as recorded; ``left_on`` / ``left_at`` unset while in force."""

    id: int
    account_id: int
    enrolled_on: dt.date
    enrolled_at: dt.datetime
    channel: EnrolChannel
    office_id: int | None
    left_on: dt.date | None
    left_at: dt.datetime | None
    opening_wh: int | None = None  # ``OpeningPosition``, both or neither
    opening_ytd_wh: int | None = None
    position_source: PositionSource | None = None  # None: recorded before positions

    @property
    def opening(self) -> OpeningPosition | None:
        if self.opening_wh is None or self.opening_ytd_wh is None:
            return None
        return OpeningPosition(register_wh=self.opening_wh, ytd_wh=self.opening_ytd_wh)


@dataclass(frozen=True)
class Protection:
    """A protected customer: never cut remotely."""

    reason: ProtectionReason
    note: str | None
    noted_at: dt.datetime


@dataclass(frozen=True)
class LeaveRequest:
    account_id: int
    note: str | None


@dataclass(frozen=True)
class EnrolmentRequest:
    account_id: int
    channel: EnrolChannel
    office_id: int | None
    phone: str | None  # None: take the account's phone
    language: Language | None  # None: take the account's language
    trusted: Contact | None
    protection: ProtectionReason | None
    opening: TakePayment | None
    position: OpeningPosition | None = None
    position_source: PositionSource = PositionSource.MISSING  # where ``position`` came from


# --- validation ---------------------------------------------------------------------------


def parse_phone(text: str, what: str = "phone") -> str:
    phone = text.strip()
    if not _PHONE.fullmatch(phone) or len(phone) > limits.account_phone_chars_max:
        raise InvalidInput(
            f"{what} {text!r} is not a phone number: digits, an optional leading +, "
            f"at most {limits.account_phone_chars_max} characters"
        )
    return phone


def parse_language(text: str) -> Language:
    try:
        return Language(text.strip().lower())
    except ValueError:
        raise InvalidInput(f"language {text!r} is not zh or en") from None


def parse_role(text: str) -> ContactRole:
    try:
        return ContactRole(text.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in ContactRole)
        raise InvalidInput(f"contact role {text!r} is not one of {known}") from None


def parse_protection(text: str) -> ProtectionReason:
    try:
        return ProtectionReason(text.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in ProtectionReason)
        raise InvalidInput(f"protection reason {text!r} is not one of {known}") from None


def parse_name(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    name = text.strip()
    chars_max = limits.account_name_chars_max
    if len(name) > chars_max:
        raise InvalidInput(f"name is {len(name)} characters long; at most {chars_max}")
    return name


def validate_enrolment(cmd: Enrol, office_ids: Collection[int]) -> EnrolmentRequest:
    """Everything about an enrolment that can be checked without the account's record."""
    account_id = parse_account_no(cmd.account_no)
    channel, office_id = _where_signed(cmd, office_ids)
    position = parse_opening_position(cmd.opening_kwh, cmd.opening_ytd_kwh)
    return EnrolmentRequest(
        account_id=account_id,
        channel=channel,
        office_id=office_id,
        phone=parse_phone(cmd.phone) if cmd.phone is not None else None,
        language=parse_language(cmd.language) if cmd.language is not None else None,
        trusted=_trusted_contact(cmd),
        protection=parse_protection(cmd.protected) if cmd.protected is not None else None,
        opening=_opening_payment(cmd, office_id),
        position=position,
        position_source=(
            PositionSource.MISSING
            if position is None
            else PositionSource.DRIVE_FILE
            if cmd.drive_file
            else PositionSource.ENTERED
        ),
    )


def parse_opening_position(register_kwh: str | None, ytd_kwh: str | None) -> OpeningPosition | None:
    """Monthly billing's closing reading and year-to-date kWh, both or neither."""
    given = [t for t in (register_kwh, ytd_kwh) if t is not None and t.strip()]
    if not given:
        return None
    if len(given) == 1:
        raise InvalidInput(
            "the opening position needs both the closing reading (--opening-kwh) and the kWh "
            "already billed this year (--opening-ytd-kwh), from the last monthly bill"
        )
    assert register_kwh is not None and ytd_kwh is not None
    register_wh, ytd_wh = parse_kwh(register_kwh.strip()), parse_kwh(ytd_kwh.strip())
    if register_wh < 0 or ytd_wh < 0:
        raise InvalidInput(
            f"opening position {register_kwh} kWh, {ytd_kwh} kWh this year: neither is negative"
        )
    return OpeningPosition(register_wh=register_wh, ytd_wh=ytd_wh)


OPENING_POSITION_TASK = "opening_position"


def _opening_position_reason(day: dt.date) -> str:
    return (
        f"enrolled on {day.isoformat()} without the opening position: enter monthly billing's "
        f"closing reading and the kWh billed this year, or the first days are priced from "
        f"tier 1"
    )


def opening_position_task(
    account: Account, enrolment_id: int, day: dt.date, at: dt.datetime
) -> pl.DataFrame:
    """The staff task (``TASK_SCHEMA`` row) for an agreement signed without monthly billing's
    closing position: one per agreement, however often the enrolment is retried."""
    return pl.DataFrame(
        {
            "key": [f"{OPENING_POSITION_TASK}/{account.account_no}/{enrolment_id}"],
            "account_id": [account.id],
            "kind": [OPENING_POSITION_TASK],
            "reason": [_opening_position_reason(day)],
            "created_at": [at],
        },
        schema=TASK_SCHEMA,
    )


def position_entered_closing(account_id: int, day: dt.date, at: dt.datetime) -> pl.DataFrame:
    """``CLOSING_SCHEMA`` row closing the account's opening-position task: its cause is gone."""
    return pl.DataFrame(
        [
            (
                account_id,
                OPENING_POSITION_TASK,
                "position_entered",
                f"opening position entered on {day.isoformat()}",
                at,
            )
        ],
        schema=CLOSING_SCHEMA,
        orient="row",
    )


def position_line(agreement: Agreement | None) -> str:
    """What explain says about the tier position an agreement's first days were priced from."""
    if agreement is None:
        return "no agreement on record: priced from its settled days only"
    start = agreement.enrolled_on.isoformat()
    if agreement.opening is not None:
        source = agreement.position_source.value if agreement.position_source else "given"
        return (
            f"opening position from monthly billing ({source}): register "
            f"{format_kwh(agreement.opening.register_wh)} kWh and "
            f"{format_kwh(agreement.opening.ytd_wh)} kWh already billed this tier year, "
            f"at the start of {start}"
        )
    if agreement.position_source is PositionSource.MISSING:
        return (
            f"no opening position given at enrolment on {start}: the first day was priced from "
            f"the meter's reading of the day before and 0 kWh this tier year (a staff task asks "
            f"for monthly billing's closing position)"
        )
    return (
        f"agreement from {start} recorded without an opening position: the first day was "
        f"priced from the meter's reading of the day before and 0 kWh this tier year"
    )


def _where_signed(cmd: Enrol, office_ids: Collection[int]) -> tuple[EnrolChannel, int | None]:
    if cmd.online and cmd.office_id is not None:
        raise InvalidInput("an agreement is signed at an office (--office N) or online, not both")
    if cmd.online:
        return EnrolChannel.ONLINE, None
    if cmd.office_id is None:
        raise InvalidInput("say where the agreement was signed: --office N or --online")
    if cmd.office_id not in office_ids:
        known = ", ".join(str(i) for i in sorted(office_ids))
        raise InvalidInput(f"unknown office {cmd.office_id}: known offices are {known}")
    return EnrolChannel.OFFICE, cmd.office_id


def _trusted_contact(cmd: Enrol) -> Contact | None:
    if cmd.trusted_phone is None:
        if cmd.trusted_name is not None or cmd.trusted_language is not None:
            raise InvalidInput("a trusted contact needs a phone (--trusted-phone)")
        return None
    return Contact(
        phone=parse_phone(cmd.trusted_phone, "trusted contact's phone"),
        role=ContactRole.TRUSTED,
        language=parse_language(cmd.trusted_language or Language.ZH.value),
        name=parse_name(cmd.trusted_name),
    )


def _opening_payment(cmd: Enrol, office_id: int | None) -> TakePayment | None:
    """The opening payment as a payment command (checked by the payments rules when taken)."""
    if cmd.opening is None:
        return None
    return TakePayment(
        account_no=cmd.account_no,
        amount_yuan=cmd.opening.amount_yuan,
        channel=cmd.opening.channel,
        ref=cmd.opening.ref,
        office_id=office_id if cmd.opening.channel.strip().lower() == "counter" else None,
    )


def validate_contact(cmd: AddContact) -> tuple[int, Contact]:
    return parse_account_no(cmd.account_no), Contact(
        phone=parse_phone(cmd.phone),
        role=parse_role(cmd.role),
        language=parse_language(cmd.language),
        name=parse_name(cmd.name),
    )


def validate_leave(cmd: Leave) -> LeaveRequest:
    return LeaveRequest(parse_account_no(cmd.account_no), parse_note(cmd.note))


def validate_protection(cmd: Protect) -> tuple[int, ProtectionReason | None, str | None]:
    reason = parse_protection(cmd.reason) if cmd.reason is not None else None
    return parse_account_no(cmd.account_no), reason, parse_note(cmd.note)


# --- rules on the account's record ----------------------------------------------------------


def check_can_enrol(account: Account) -> None:
    """Only direct-supply accounts: the company must be able to read and switch the meter."""
    if account.supply_type is not SupplyType.DIRECT:
        raise Refused(f"account {account.account_no} cannot enrol: {NOT_DIRECT_SUPPLY_REASON}")


def customer_contact(request: EnrolmentRequest, account: Account) -> Contact:
    """The customer's own SMS contact: as given, else the account's phone and language.

    A prepaid customer must be reachable: the arrears notice has to reach them before any cut.
    """
    phone = request.phone or account.phone
    if not phone:
        raise InvalidInput(
            f"account {account.account_no} has no phone: give the customer's mobile number "
            f"(--phone), a prepaid customer must receive the arrears notice before any cut-off"
        )
    language = request.language or account.language
    return Contact(phone=phone, role=ContactRole.CUSTOMER, language=language)


def not_enrolled_message(account_no: str, last_left_on: dt.date | None) -> str:
    if last_left_on is None:
        return f"account {account_no} is not enrolled in smart payment: there is nothing to leave"
    return (
        f"account {account_no} is not enrolled in smart payment: it left on "
        f"{last_left_on.isoformat()}"
    )


def leave_refund_transfer(
    account_id: int, enrolment_id: int, balance_fen: int, day: dt.date, correction: int = 0
) -> Transfer:
    """The refund of what is left on the prepaid balance when an agreement ends.

    One possible id per agreement (``refund/leave-<account>-<enrolment>``): a retried leave can
    never refund twice.
    """
    assert balance_fen > 0
    ref = f"leave-{format_account_no(account_id)}-{enrolment_id}"
    if correction:  # a late correction settled up after the close-out: a refund of its own
        ref = f"{ref}-{correction}"
    request = RefundRequest(
        account_id=account_id,
        amount_fen=balance_fen,
        ref=ref,
        note="balance refunded on leaving smart payment",
    )
    return refund_transfer(request, day)


# --- the enrolment progress report ------------------------------------------------------------

PROGRESS_SCHEMA: dict[str, Any] = {
    "day": pl.Date,
    "office_id": pl.Int64,  # null on the overall rows
    "office": pl.String,
    "enrolled": pl.Int64,  # agreements signed that day by the office's accounts
    "signed_here": pl.Int64,  # agreements signed that day at this office's counter
    "enrolled_total": pl.Int64,  # accounts with an agreement in force at the end of the day
    "eligible": pl.Int64,  # direct-supply accounts of the office
    "share_pct": pl.Float64,
}


def progress_table(
    offices: Mapping[int, str],
    eligible: pl.DataFrame,
    before: pl.DataFrame,
    events: pl.DataFrame,
    signed: pl.DataFrame,
    first_day: dt.date,
    last_day: dt.date,
) -> pl.DataFrame:
    """Per office and day, then an overall row per day (office_id null), in ``PROGRESS_SCHEMA``.

    ``eligible``: office_id, eligible. ``before``: office_id, enrolled_total at the start of
    ``first_day``. ``events``: office_id, day, joined, left (days in the range). ``signed``:
    office_id, day, signed_here (counter signatures by the signing office).
    """
    assert first_day <= last_day
    grid = pl.DataFrame({"office_id": sorted(offices)}, schema={"office_id": pl.Int64}).join(
        pl.DataFrame({"day": pl.date_range(first_day, last_day, "1d", eager=True)}),
        how="cross",
    )
    names = pl.DataFrame(
        {"office_id": list(offices), "office": list(offices.values())},
        schema={"office_id": pl.Int64, "office": pl.String},
    )
    keys = ["office_id", "day"]
    per_office = (
        grid.join(names, on="office_id", how="left", validate="m:1")
        .join(_typed(events, keys), on=keys, how="left", validate="1:1")
        .join(_typed(signed, keys), on=keys, how="left", validate="1:1")
        .join(_typed(eligible, ["office_id"]), on="office_id", how="left", validate="m:1")
        .join(_typed(before, ["office_id"]), on="office_id", how="left", validate="m:1")
        .with_columns(pl.col(c).fill_null(0) for c in _COUNTS)
        .sort(keys)
        .with_columns(
            (
                pl.col("enrolled_total")
                + (pl.col("joined") - pl.col("left")).cum_sum().over("office_id")
            ).alias("enrolled_total"),
            pl.col("joined").alias("enrolled"),
        )
    )
    overall = (
        per_office.group_by("day")
        .agg(pl.col("enrolled", "signed_here", "enrolled_total", "eligible").sum())
        .with_columns(
            pl.lit(None, pl.Int64).alias("office_id"), pl.lit("all offices").alias("office")
        )
    )
    columns = [c for c in PROGRESS_SCHEMA if c != "share_pct"]
    return (
        pl.concat([per_office.select(columns), overall.select(columns)])
        .with_columns(_share_pct())
        .sort("day", pl.col("office_id").is_null(), "office_id")
        .select(pl.col(c).cast(t) for c, t in PROGRESS_SCHEMA.items())
    )


_COUNTS = ("joined", "left", "signed_here", "eligible", "enrolled_total")


def _typed(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Counts as Int64 and days as Date, whatever the engine returned (keys are unique)."""
    assert frame.select(keys).is_duplicated().sum() == 0
    return frame.select(pl.col(c).cast(pl.Date if c == "day" else pl.Int64) for c in frame.columns)


def _share_pct() -> pl.Expr:
    # Truncated to 0.1 %, so an office shows 100 % only when every eligible account is in.
    return (
        pl.when(pl.col("eligible") > 0)
        .then((pl.col("enrolled_total") * 1000 // pl.col("eligible")) / 10)
        .otherwise(None)
        .alias("share_pct")
    )
