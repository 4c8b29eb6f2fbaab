"""What a household's pages work out from its account: pure rules, no I/O.

- the sign-in code, the session token and what is stored of them (hashes only);
- a phone shown masked where the code was sent;
- days of credit left at the household's own recent pace;
- the price of the next kWh at the household's tier position, and the day the next tier starts
  at its pace;
- each day's energy split by time-of-use register, from the registers' end-of-day values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from gridpay.domain.tariff import Tariff, band_surcharge_nyuan
from gridpay.errors import InvalidInput

TOU_REGISTERS = ("sharp", "peak", "flat", "valley")


class Role(StrEnum):
    """Who is signed in: the account's own customer, or a trusted contact reading only."""

    OWNER = "owner"
    TRUSTED = "trusted"


class CodeStatus(StrEnum):
    PENDING = "pending"  # waiting for the code
    USED = "used"  # signed in with it: never again
    SUPERSEDED = "superseded"  # a newer code was sent for the same account and phone
    LOCKED = "locked"  # too many wrong codes


@dataclass(frozen=True)
class SignInCode:
    """A code sent for signing in, as stored (only its hash)."""

    id: int
    account_id: int
    phone: str
    role: Role
    code_hash: str
    expires_at: dt.datetime
    attempts: int
    status: CodeStatus


@dataclass(frozen=True)
class Session:
    """A signed-in household (or trusted contact), as stored: the token's hash only."""

    token_hash: str
    account_id: int
    phone: str
    role: Role
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime

    @property
    def read_only(self) -> bool:
        return self.role is Role.TRUSTED


@dataclass(frozen=True)
class UsageRow:
    """A settled day of the account, as the home page reads it (registers: end-of-day values,
    None when the meter has no time-of-use registers)."""

    day: dt.date
    energy_wh: int
    charge_fen: int
    ytd_wh: int
    ytd_charged_fen: int
    estimated: bool
    sharp_wh: int | None
    peak_wh: int | None
    flat_wh: int | None
    valley_wh: int | None

    def registers(self) -> dict[str, int | None]:
        return {
            "sharp": self.sharp_wh,
            "peak": self.peak_wh,
            "flat": self.flat_wh,
            "valley": self.valley_wh,
        }


@dataclass(frozen=True)
class NewestDecision:
    at: dt.datetime
    action: str
    reason: str


@dataclass(frozen=True)
class HomeFacts:
    """The account's facts the home page needs beside its days, read together."""

    name: str
    tariff_code: str  # in force on the day asked (a change at the counter wins)
    balance_fen: int
    state: str | None  # the credit state; None before the policy first judged the account
    pay_by: dt.date | None
    supply: str | None
    decision: NewestDecision | None


def token_hash(token: str) -> str:
    """What the database keeps of a random token: a stolen table signs no one in.

    A plain SHA-256 is enough here (unlike the six-digit codes): the token has 256 random bits,
    so there is nothing to try."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The forms' anti-forgery token, bound to the session (or the pre-session cookie): another
    site can neither read the cookie nor compute this from it."""
    return hmac.new(session_token.encode(), b"gridpay-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, given: str) -> bool:
    """Compared as bytes: a posted token may hold any character (str comparison refuses
    non-ASCII with an exception, which would be a server error instead of a refusal)."""
    return hmac.compare_digest(csrf_token(session_token).encode(), given.encode())


def mask_phone(phone: str) -> str:
    """'13812345678' -> '138****5678'; anything shorter keeps only its last two digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def parse_phone(text: str) -> str:
    """A mainland mobile number as typed (spaces and dashes allowed, +86 dropped)."""
    digits = "".join(ch for ch in text if ch not in " -")
    digits = digits.removeprefix("+86")
    if not (len(digits) == 11 and digits.isdigit() and digits[0] == "1"):
        raise InvalidInput("phone must be an 11-digit mobile number, e.g. 13812345678")
    return digits


# --- credit and tiers ---------------------------------------------------------------------------


def days_of_credit(balance_fen: int, recent_charges_fen: list[int]) -> int | None:
    """Whole days the balance lasts at the recent average daily charge (None: no recent use)."""
    used = [c for c in recent_charges_fen if c > 0]
    if balance_fen <= 0:
        return 0
    if not used:
        return None
    total_fen = sum(recent_charges_fen)
    if total_fen <= 0:
        return None
    # balance / (total / days), floored: "5 days left" must not promise a part-day.
    return balance_fen * len(recent_charges_fen) // total_fen


def next_kwh_price_uyuan(tariff: Tariff, ytd_wh: int, register: str = "rest") -> int:
    """The price of the next kWh: the register's price plus the surcharge of the band the next
    watt-hour falls in. One Wh at ``s`` uyuan/kWh costs ``s`` nyuan, so the surcharge of the
    next Wh in nyuan is the band's surcharge in uyuan/kWh, exactly as settlement prices it."""
    surcharge = band_surcharge_nyuan(tariff.bands, ytd_wh + 1) - band_surcharge_nyuan(
        tariff.bands, ytd_wh
    )
    return tariff.price(register) + surcharge


def next_tier_day(last_day: dt.date, wh_to_next_tier: int, pace_wh_per_day: int) -> dt.date | None:
    """The day the next tier starts at this pace, if within the same tier year (None if not,
    or when there is no pace to go by)."""
    if pace_wh_per_day <= 0:
        return None
    days = -(-wh_to_next_tier // pace_wh_per_day)  # ceiling: the day the boundary is crossed
    day = last_day + dt.timedelta(days=days)
    return day if day.year == last_day.year else None


def register_energy_wh(
    previous: dict[str, int | None], today: dict[str, int | None]
) -> dict[str, int] | None:
    """A day's energy per TOU register from end-of-day register values (None when the meter has
    no registers, or a day is missing to subtract from). Negative steps (a corrected estimate)
    are kept: the day's total stays the settled one."""
    out = {}
    for name in TOU_REGISTERS:
        before, after = previous.get(name), today.get(name)
        if before is None or after is None:
            return None
        out[name] = after - before
    return out
