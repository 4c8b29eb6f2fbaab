"""A test wallet: real RSA2 keys (made once per session in memory), signed notifications, and
a provider whose gateway is a dict (the callbacks are verified by the real adapter)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.wallet_rsa2 import Rsa2Wallet, generate_private_key, signed
from gridpay.domain.wallet import (
    Notification,
    Refusal,
    TradeStatus,
    WalletOrder,
    amount_text,
)

APP_ID = "2026000000000001"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Keys:
    gridpay: rsa.RSAPrivateKey
    wallet: rsa.RSAPrivateKey
    stranger: rsa.RSAPrivateKey  # signs like a wallet, but is not ours


@pytest.fixture(scope="session", name="keys")
def wallet_keys() -> Keys:
    return Keys(generate_private_key(), generate_private_key(), generate_private_key())


@dataclass
class FakeWallet:
    """The port over a dict: orders made, statuses to answer queries with."""

    keys: Keys
    made: dict[str, WalletOrder] = field(default_factory=dict)
    statuses: dict[str, TradeStatus] = field(default_factory=dict)
    queried: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._real = Rsa2Wallet(
            app_id=APP_ID,
            gateway_url="http://127.0.0.1:9/unused",
            notify_url="http://127.0.0.1:9/unused",
            return_url="http://127.0.0.1:9/unused",
            private_key=self.keys.gridpay,
            wallet_public_key=self.keys.wallet.public_key(),
            timeout_s=1.0,
        )

    def create_order(self, order: WalletOrder, account_no: str, subject: str) -> str:
        self.made[order.order_id] = order
        return f"http://wallet.test/pay/T{order.order_id}"

    def query_order(self, order_id: str) -> TradeStatus:
        self.queried.append(order_id)
        return self.statuses.get(order_id, TradeStatus(order_id, "TRADE_NOT_EXIST"))

    def verify_notification(self, params: Mapping[str, str]) -> Notification | Refusal:
        return self._real.verify_notification(params)

    def close(self) -> None:
        self._real.close()


def notification(
    order: WalletOrder,
    key: rsa.RSAPrivateKey | None,
    account_no: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """A TRADE_SUCCESS notification for ``order`` signed with ``key`` (unsigned with None)."""
    params = {
        "notify_time": "2026-11-28 10:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": f"N{next(_serial):08d}",
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": f"T{order.order_id}",
        "out_trade_no": order.order_id,
        "total_amount": amount_text(order.amount_fen),
        "receipt_amount": amount_text(order.amount_fen),
        "trade_status": "TRADE_SUCCESS",
        "gmt_payment": "2026-11-28 09:59:58",
        "passback_params": account_no or f"{order.account_id:010d}",
        **overrides,
    }
    return signed(params, key) if key is not None else params


def ledger_snapshot(store: SqlStore) -> tuple[int, int, int, int]:
    """Transfers (count, total), meter commands and messages: what a refusal must not change."""
    with store.engine.connect() as conn:
        transfers = conn.execute(
            text("select count(*), coalesce(sum(amount_fen), 0) from transfers")
        ).one()
        commands = conn.execute(text("select count(*) from meter_commands")).scalar_one()
        messages = conn.execute(text("select count(*) from messages")).scalar_one()
    return int(transfers[0]), int(transfers[1]), int(commands), int(messages)


def order_rows(store: SqlStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("select order_id, state from wallet_orders")).all()
    return [(r[0], r[1]) for r in rows]


def at(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)
