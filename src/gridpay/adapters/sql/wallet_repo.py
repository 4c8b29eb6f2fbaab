"""Paying online in SQL: ``wallet_orders`` and ``wallet_callbacks``."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, TextualSelect, bindparam, insert, select, text, update

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.domain.wallet import CallbackRecord, OrderState, WalletOrder

_orders = schema.wallet_orders
_callbacks = schema.wallet_callbacks
# Built once: the statements every callback runs (a Core statement built per call costs more
# CPU than SQLite takes to run it).
_INSERT_CALLBACK = insert(_callbacks)
_ORDER_COLUMNS = ", ".join(c.name for c in _orders.columns)


@functools.cache
def _claim(from_states: frozenset[str]) -> TextualSelect:
    # The states are our own enum's values, never input; written in, they need no expanding
    # IN list (which SQLAlchemy renders anew at every execution).
    states = ", ".join(f"'{s}'" for s in sorted(from_states))
    return (
        text(
            "UPDATE wallet_orders SET state = :state, trade_no = :trade_no, updated_at = :now "
            "WHERE order_id = :order_id AND amount_fen = :amount_fen "
            f"AND account_id = :account_id AND state IN ({states}) "
            f"RETURNING {_ORDER_COLUMNS}"
        )
        .bindparams(bindparam("now", type_=_orders.c.updated_at.type))
        .columns(*_orders.columns)
    )


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
        row = self.conn.execute(
            _claim(frozenset(s.value for s in from_states)),
            {
                "order_id": order_id,
                "amount_fen": amount_fen,
                "account_id": account_id,
                "state": state.value,
                "now": now,
                "trade_no": trade_no,
            },
        ).first()
        return _order(row) if row is not None else None

    def record_callback(self, record: CallbackRecord) -> None:
        self.conn.execute(
            _INSERT_CALLBACK,
            {
                "notify_id": record.notify_id[:64] if record.notify_id else None,
                "order_id": record.order_id[:64] if record.order_id else None,
                "outcome": record.outcome,
                "detail": record.detail[: limits.wallet_callback_detail_chars_max],
                "received_at": record.received_at,
            },
        )

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
