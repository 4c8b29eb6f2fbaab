"""Housekeeping: rows that can never be used again, deleted in bounded batches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Cutoffs:
    """What is dead at an instant: each row older than its cutoff can never be used again
    (``services.housekeeping`` says why for each)."""

    now: dt.datetime
    codes_requested_before: dt.datetime  # household sign-in codes, past their rate window
    household_idle_before: dt.datetime  # household sessions last seen before: idle, ended
    signin_failures_before: dt.datetime  # staff sign-in failures, past their rate window
    nonces_seen_before: dt.datetime  # partner nonces, past twice the signature window


class HousekeepingRepo(Protocol):
    """Each method deletes at most ``rows_max`` dead rows of one kind and says how many."""

    def delete_household_codes(self, cutoffs: Cutoffs, rows_max: int) -> int: ...

    def delete_household_sessions(self, cutoffs: Cutoffs, rows_max: int) -> int: ...

    def delete_staff_sessions(self, cutoffs: Cutoffs, rows_max: int) -> int: ...

    def delete_staff_signin_failures(self, cutoffs: Cutoffs, rows_max: int) -> int: ...

    def delete_partner_nonces(self, cutoffs: Cutoffs, rows_max: int) -> int: ...
