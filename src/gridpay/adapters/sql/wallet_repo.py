"""Paying online in SQL: ``wallet_orders`` and ``wallet_callbacks``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.domain.wallet import CallbackRecord, OrderState, WalletOrder

_orders = schema.wallet_orders
_callbacks = schema.wallet_callbacks


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite gives instants back naive; they were stored in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _order(row: Any) -> WalletOrder:
    return WalletOrder(
        order_id=row.order_id,
        account_id=int(row.account_id),
        amount_fen=int(row.amount_fen),
        state=OrderState(row.state),
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        trade_no=row.trade_no,
        pay_url=row.pay_url,
    )


def _callback(row: Any) -> CallbackRecord:
    return CallbackRecord(
        notify_id=row.notify_id,
        order_id=row.order_id,
        outcome=row.outcome,
        detail=row.detail,
        received_at=_utc(row.received_at),
    )


class SqlWalletRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def savepoint(self) -> AbstractContextManager[object]:
        """A savepoint: what is written inside is undone if the block raises."""
        return self.conn.begin_nested()

    def insert_order(self, order: WalletOrder) -> None:
        self.conn.execute(
            insert(_orders).values(
                order_id=order.order_id,
                account_id=order.account_id,
                amount_fen=order.amount_fen,
                state=order.state.value,
                trade_no=order.trade_no,
                pay_url=order.pay_url,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
        )

    def get_order(self, order_id: str, *, lock: bool = False) -> WalletOrder | None:
        stmt = select(_orders).where(_orders.c.order_id == order_id)
        if lock and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        return _order(row) if row is not None else None

    def set_state(
        self,
        order_id: str,
        state: OrderState,
        now: dt.datetime,
        *,
        from_states: frozenset[OrderState],
        trade_no: str | None = None,
    ) -> bool:
        values: dict[str, Any] = {"state": state.value, "updated_at": now}
        if trade_no is not None:
            values["trade_no"] = trade_no
        moved = self.conn.execute(
            update(_orders)
            .where(_orders.c.order_id == order_id)
            .where(_orders.c.state.in_(sorted(s.value for s in from_states)))
            .values(**values)
        )
        return moved.rowcount == 1

    def set_pay_url(self, order_id: str, pay_url: str) -> None:
        self.conn.execute(
            update(_orders).where(_orders.c.order_id == order_id).values(pay_url=pay_url)
        )

    def orders_in(
        self, states: frozenset[OrderState], created_before: dt.datetime, limit: int
    ) -> Sequence[WalletOrder]:
        rows = self.conn.execute(
            select(_orders)
            .where(_orders.c.state.in_(sorted(s.value for s in states)))
            .where(_orders.c.created_at < created_before)
            .order_by(_orders.c.created_at, _orders.c.order_id)
            .limit(limit)
        ).all()
        return [_order(r) for r in rows]

    def record_callback(self, record: CallbackRecord) -> None:
        self.conn.execute(
            insert(_callbacks).values(
                notify_id=record.notify_id[:64] if record.notify_id else None,
                order_id=record.order_id[:64] if record.order_id else None,
                outcome=record.outcome,
                detail=record.detail[: limits.wallet_callback_detail_chars_max],
                received_at=record.received_at,
            )
        )

    def credited_by(self, notify_id: str) -> bool:
        row = self.conn.execute(
            select(_callbacks.c.id)
            .where(_callbacks.c.notify_id == notify_id)
            .where(_callbacks.c.outcome.in_(("credited", "duplicate")))
            .limit(1)
        ).first()
        return row is not None

    def callbacks(self, order_id: str | None = None) -> Sequence[CallbackRecord]:
        stmt = select(_callbacks).order_by(_callbacks.c.id)
        if order_id is not None:
            stmt = stmt.where(_callbacks.c.order_id == order_id)
        return [_callback(r) for r in self.conn.execute(stmt).all()]

    def recent_callbacks(
        self, outcomes: Collection[str] | None, since: dt.datetime | None, limit: int
    ) -> Sequence[CallbackRecord]:
        stmt = select(_callbacks).order_by(_callbacks.c.id.desc()).limit(limit)
        if outcomes is not None:
            stmt = stmt.where(_callbacks.c.outcome.in_(sorted(outcomes)))
        if since is not None:
            stmt = stmt.where(_callbacks.c.received_at >= since)
        return [_callback(r) for r in self.conn.execute(stmt).all()]
