"""Customer messages (SMS): kinds, templates in Chinese and English, dedupe keys."""

from __future__ import annotations

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
