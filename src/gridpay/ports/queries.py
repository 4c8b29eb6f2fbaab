"""Read-only views for people: account summaries and statements."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import polars as pl


class QueriesRepo(Protocol):
    """Read-only views for people: account summaries, statements. All per account, on indexes.

    A transfer's amount in these frames is signed from the customer's side: + credits the
    prepaid balance (a payment), - debits it (a charge, a refund).
    """

    def usage_between(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """Settled days, oldest first: day, energy_wh, charge_fen, ytd_wh, ytd_charged_fen,
        estimated, tariff_code."""
        ...

    def latest_usage(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """The newest settled day in the range (zero or one row, columns as ``usage_between``)."""
        ...

    def recent_transfers(
        self, account_id: int, limit: int, *, own_charges: bool = True
    ) -> pl.DataFrame:
        """The account's newest transfers, newest first: seq, id, kind, day, amount_fen (signed),
        channel, ref, office_id, reverses_id, note, created_at. Without ``own_charges``, none of
        its days' own charges and credits: payments, refunds, reversals, true-ups... only."""
        ...

    def transfers_between(
        self, account_id: int, first_day: dt.date, last_day: dt.date
    ) -> pl.DataFrame:
        """Transfers dated in the range, by day then posting order (columns as above)."""
        ...

    def net_before(self, account_id: int, day: dt.date) -> int:
        """The balance made by the account's transfers dated before ``day``."""
        ...
