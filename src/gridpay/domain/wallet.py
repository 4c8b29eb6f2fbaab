"""Paying online through a wallet: orders, the wallet's notifications and the checks on them.

gridpay makes an order (its own id, the account, the amount), the household confirms it on the
wallet's page, and the wallet calls back with a signed notification (Alipay's shape: form fields,
amounts as yuan text, ``trade_status``). The signature is checked by the adapter that holds the
keys; everything else a notification must satisfy before money is credited is decided here, from
the notification and the order alone: the app id, the order, the amount, the account, the status.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from gridpay.domain.money import format_fen

# What the wallet says of a trade; only the first two mean the household's money has moved.
SUCCESS_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
CLOSED_STATUS = "TRADE_CLOSED"
WAITING_STATUS = "WAIT_BUYER_PAY"
NOT_FOUND_STATUS = "TRADE_NOT_EXIST"

# Our order ids: "GW" and 24 hex digits. Random, not derived from the account, so an order's
# URL says nothing about the household; the credit's transfer id is ``pay/app/<order id>``.
_ORDER_ID = re.compile(r"GW[0-9a-f]{24}")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})\.[0-9]{2}")


class OrderState(StrEnum):
    CREATED = "created"  # made, waiting for the household to confirm at the wallet
    PAID = "paid"  # the wallet says paid; the credit is being posted
    CREDITED = "credited"  # the payment is on the account (exactly once)
    CLOSED = "closed"  # never paid: expired, or closed at the wallet
    FAILED = "failed"  # paid, but the account refused the credit (staff refund it)


OPEN_STATES = frozenset({OrderState.CREATED, OrderState.PAID})


class Refusal(StrEnum):
    """Why a callback credited nothing (stable codes: the log, the record, the answer)."""

    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"
    WRONG_APP_ID = "wrong_app_id"
    UNKNOWN_ORDER = "unknown_order"
    WRONG_AMOUNT = "wrong_amount"
    WRONG_ACCOUNT = "wrong_account"
    NOT_PAID = "not_paid"


@dataclass(frozen=True)
class WalletOrder:
    order_id: str
    account_id: int
    amount_fen: int
    state: OrderState
    created_at: dt.datetime
    updated_at: dt.datetime
    trade_no: str | None = None  # the wallet's own number, once it has told us
    pay_url: str | None = None  # the wallet's page where the household confirms


@dataclass(frozen=True)
class Notification:
    """A notification whose signature checked out (its fields are the wallet's word now)."""

    notify_id: str
    app_id: str
    order_id: str  # out_trade_no
    trade_no: str
    amount_fen: int  # total_amount
    trade_status: str
    account_no: str  # passback_params: the account the order was made for


@dataclass(frozen=True)
class TradeStatus:
    """The wallet's answer to a query about one of our orders."""

    order_id: str
    trade_status: str
    trade_no: str | None = None
    amount_fen: int | None = None
    account_no: str | None = None


@dataclass(frozen=True)
class CallbackRecord:
    """One callback as received and judged: kept whether it credited or was refused."""

    notify_id: str | None
    order_id: str | None
    # "credited"; "duplicate" (the order was credited already: this notification resent, or
    # another of the same payment; answered success, nothing credited); "closed"; "failed";
    # or a ``Refusal`` value
    outcome: str
    detail: str  # masked: never a phone or a key
    received_at: dt.datetime


def is_order_id(text: str) -> bool:
    return _ORDER_ID.fullmatch(text) is not None


def new_order_id(random_hex: str) -> str:
    order_id = f"GW{random_hex[:24]}"
    assert is_order_id(order_id), order_id
    return order_id


def amount_text(amount_fen: int) -> str:
    """Fen as the wallets' ``total_amount``: yuan with two decimals, no grouping."""
    assert amount_fen > 0, amount_fen
    return format_fen(amount_fen)


def parse_amount_text(text: str) -> int | None:
    """The wallets' ``total_amount`` as fen, or None if it is not exactly yuan.fen."""
    if _AMOUNT.fullmatch(text) is None:
        return None
    yuan, fen = text.split(".")
    return int(yuan) * 100 + int(fen)


def check_notification(
    notification: Notification, order: WalletOrder | None, app_id: str, account_no: str | None
) -> tuple[Refusal, str] | None:
    """The first rule a verified notification breaks (with a detail for the log), or None.

    ``account_no`` is the order's account, formatted; None when there is no order.
    """
    if notification.app_id != app_id:
        return Refusal.WRONG_APP_ID, f"app_id {notification.app_id!r} is not ours"
    if order is None or account_no is None:
        return Refusal.UNKNOWN_ORDER, f"no order {notification.order_id!r}"
    if notification.amount_fen != order.amount_fen:
        return Refusal.WRONG_AMOUNT, (
            f"amount {format_fen(notification.amount_fen)} yuan, order "
            f"{order.order_id} is for {amount_text(order.amount_fen)} yuan"
        )
    if notification.account_no != account_no:
        return Refusal.WRONG_ACCOUNT, f"order {order.order_id} was made for another account"
    if notification.trade_status not in SUCCESS_STATUSES:
        return Refusal.NOT_PAID, f"trade status {notification.trade_status!r}"
    return None
