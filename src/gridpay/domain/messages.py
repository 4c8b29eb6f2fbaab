"""Customer messages (SMS): kinds, templates in Chinese and English, dedupe keys."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MessageKind(StrEnum):
    AGREEMENT = "agreement"  # SMS 1: the smart-payment agreement is signed
    WARNING = "warning"  # SMS 2: the balance covers fewer than N days
    ARREARS = "arrears"  # SMS 3: balance <= 0, pay by <date> or supply is cut
    CUT_SOON = "cut_soon"  # the second notice shortly before the cut
    RESTORED = "restored"  # SMS 4: paid x, balance y, supply being restored
    TRUSTED_CONTACT = "trusted_contact"  # to family of a protected customer in arrears
    LEFT = "left"  # the customer left the programme


def dedupe_key(kind: MessageKind, account_id: int, cycle: int, phone: str) -> str:
    """Never the same notice twice: one per kind, account, credit cycle and phone."""
    return f"{kind.value}/{account_id:010d}/{cycle}/{phone}"


@dataclass(frozen=True)
class Brand:
    """Who the messages come from (configuration, not code)."""

    company_name_zh: str
    company_name_en: str
    hotline: str


# The values each kind's template needs (money in fen, dates as dt.date, instants as local
# dt.datetime). A missing value is our mistake, not the customer's: an assertion.
FIELDS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.AGREEMENT: ("account_no",),
    MessageKind.WARNING: ("account_no", "as_of", "balance_fen"),
    MessageKind.ARREARS: ("account_no", "balance_fen", "pay_by"),
    MessageKind.CUT_SOON: ("account_no", "balance_fen", "cut_at"),
    MessageKind.RESTORED: ("account_no", "paid_fen", "balance_fen"),
    MessageKind.TRUSTED_CONTACT: ("account_no", "customer_name", "balance_fen", "pay_by"),
    MessageKind.LEFT: ("account_no", "refund_fen"),
}


def render(kind: MessageKind, language: str, brand: Brand, **values: object) -> str:
    """The message text in ``language`` ('zh' or 'en')."""
    raise NotImplementedError  # filled in by the messages work
