"""Paying online: the wallet (a payment provider) and the orders kept for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from gridpay.domain.wallet import (
    CallbackRecord,
    Notification,
    OrderState,
    Refusal,
    TradeStatus,
    WalletOrder,
)


class PaymentProvider(Protocol):
    """A wallet: takes our orders, answers queries, signs its notifications."""

    def create_order(self, order: WalletOrder, account_no: str, subject: str) -> str:
        """Register the order at the wallet; the URL of its page where the household confirms.

        Raises ``errors.DeliveryFailed`` if the wallet cannot be reached or refuses."""
        ...

    def query_order(self, order_id: str) -> TradeStatus:
        """What the wallet knows of our order; ``errors.DeliveryFailed`` if it cannot say."""
        ...

    def verify_notification(self, params: Mapping[str, str]) -> Notification | Refusal:
        """The notification if its signature is the wallet's, else why not (unsigned, bad
        signature, malformed)."""
        ...


class WalletOrdersRepo(Protocol):
    def insert_order(self, order: WalletOrder) -> None: ...

    def savepoint(self) -> AbstractContextManager[object]:
        """What is written inside is undone if the block raises (the transaction goes on)."""
        ...

    def get_order(self, order_id: str, *, lock: bool = False) -> WalletOrder | None:
        """The order; with ``lock``, held until this unit of work ends (PostgreSQL)."""
        ...

    def set_state(
        self,
        order_id: str,
        state: OrderState,
        now: dt.datetime,
        *,
        from_states: frozenset[OrderState],
        trade_no: str | None = None,
    ) -> bool:
        """Move the order to ``state`` if it is in one of ``from_states``; did it move?"""
        ...

    def set_pay_url(self, order_id: str, pay_url: str) -> None: ...

    def orders_in(
        self, states: frozenset[OrderState], created_before: dt.datetime, limit: int
    ) -> Sequence[WalletOrder]:
        """The oldest orders in ``states`` made before the instant, at most ``limit``."""
        ...

    def record_callback(self, record: CallbackRecord) -> None: ...

    def claim_order(
        self,
        order_id: str,
        *,
        amount_fen: int,
        account_id: int,
        from_states: frozenset[OrderState],
        state: OrderState,
        now: dt.datetime,
        trade_no: str,
    ) -> WalletOrder | None:
        """Move the order to ``state`` if it is for this amount and account and in one of
        ``from_states``: the order as moved (held until this unit of work ends), or None and
        nothing written. A good callback's checks and move in one statement."""
        ...

    def callbacks(self, order_id: str | None = None) -> Sequence[CallbackRecord]:
        """Callbacks as recorded, oldest first (all, or those naming one order)."""
        ...

    def recent_callbacks(
        self, outcomes: Collection[str] | None, since: dt.datetime | None, limit: int
    ) -> Sequence[CallbackRecord]:
        """The newest ``limit`` callbacks received at or after ``since`` with one of these
        outcomes (any, with None), newest first."""
        ...
