"""SQL: the message outbox.

Services add messages in the same transaction as the change that causes them; a dedupe key
already stored is skipped by the database itself (``ON CONFLICT DO NOTHING``), so two
transactions racing to add the same notice store it once. The worker reads what is due, and
records the messages the gateway took with one statement per batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Result, Select, bindparam, select

from gridpay import limits
from gridpay.adapters.sql import bulk_keyed, schema
from gridpay.adapters.sql.db import as_utc
from gridpay.domain.messages import (
    OUTBOX_SCHEMA,
    STORED_MESSAGE_SCHEMA,
    MessageKind,
    MessageStatus,
    OutboxMessage,
)
from gridpay.domain.messages import Receipt as MessageReceipt

# What services give ``add``; ``params`` may be left out (then the message has no template
# parameters, and a provider that sends only templates refuses it).
ADD_COLUMNS = tuple(OUTBOX_SCHEMA)
_OPTIONAL_COLUMNS = ("params",)
_INSTANTS = ("created_at", "next_attempt_at", "sent_at", "delivered_at")


class SqlOutboxRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, messages: pl.DataFrame) -> int:
        """Append messages; a dedupe key already stored (or repeated in the frame) is skipped.

        Returns the rows actually added. A new message is due at once (``next_attempt_at`` is
        its ``created_at``), so the worker's query stays on one index. ``created_at`` may be
        naive (then it is UTC) or in any zone.
        """
        if "params" not in messages.columns:
            messages = messages.with_columns(pl.lit(None, dtype=pl.String).alias("params"))
        missing = set(ADD_COLUMNS) - set(messages.columns) - set(_OPTIONAL_COLUMNS)
        assert not missing, f"outbox rows need {sorted(missing)}"
        columns = (*ADD_COLUMNS, "next_attempt_at")
        # A payment's SMS: no frame operations.
        if messages.height <= limits.bulk_keyed_stage_rows_min:
            rows = [
                (*(m[c] for c in ADD_COLUMNS), m["created_at"])
                for m in messages.iter_rows(named=True)
            ]
            return bulk_keyed.insert_new_rows(self.conn, "messages", columns, rows, ["dedupe_key"])
        created = pl.col("created_at")
        dtype = messages.schema["created_at"]
        utc = (
            created.dt.convert_time_zone("UTC")
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
            else created.dt.replace_time_zone("UTC")
        )
        rows_frame = messages.select(ADD_COLUMNS).with_columns(utc.alias("created_at"))
        rows_frame = rows_frame.with_columns(pl.col("created_at").alias("next_attempt_at"))
        return bulk_keyed.insert_new(self.conn, "messages", rows_frame, ["dedupe_key"])

    def due(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        """Pending messages whose next attempt is due, oldest first."""
        rows = _rows(self.conn.execute(_DUE, {"now": as_utc(now), "limit": limit}))
        return [_message(row) for row in rows]

    def mark_sent(self, message_ids: Sequence[int], at: dt.datetime) -> int:
        """Record the gateway took these, in one statement; returns how many were pending.

        A message no longer pending is left as it is."""
        if not message_ids:
            return 0
        params = {"ids": list(message_ids), "b_sent_at": as_utc(at)}
        return int(self.conn.execute(_MARK_SENT, params).rowcount)

    def mark_submitted(
        self, message_id: int, provider_ref: str, at: dt.datetime, receipt_check_at: dt.datetime
    ) -> None:
        """A provider with receipts took the message; its receipt is asked for at
        ``receipt_check_at`` (``next_attempt_at``, so the worker's index serves both)."""
        params = {
            "b_id": message_id,
            "b_sent_at": as_utc(at),
            "b_provider_ref": provider_ref,
            "b_next_attempt_at": as_utc(receipt_check_at),
        }
        self.conn.execute(_MARK_SUBMITTED, params)

    def awaiting_receipt(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        rows = _rows(self.conn.execute(_AWAITING, {"now": as_utc(now), "limit": limit}))
        return [_message(row) for row in rows]

    def sent_with_refs(self, provider_refs: Sequence[str]) -> list[OutboxMessage]:
        if not provider_refs:
            return []
        rows = _rows(self.conn.execute(_WITH_REFS, {"refs": list(provider_refs)}))
        return [_message(row) for row in rows]

    def record_receipt(
        self,
        message_id: int,
        receipt: str | None,
        at: dt.datetime | None,
        error: str | None,
        next_check_at: dt.datetime | None,
    ) -> None:
        """The receipt, or (``receipt=None``) when to ask again. A message that has its
        receipt already is left as it is: receipts are final."""
        params = {
            "b_id": message_id,
            "b_receipt": receipt,
            "b_delivered_at": as_utc(at) if receipt != MessageReceipt.UNDELIVERED else None,
            "b_delivery_error": error[: limits.message_delivery_error_chars_max] if error else None,
            "b_next_attempt_at": as_utc(next_check_at),
        }
        self.conn.execute(_RECORD_RECEIPT, params)

    def mark_attempt_failed(
        self, message_id: int, error: str, next_attempt_at: dt.datetime | None
    ) -> None:
        """Count a failed attempt; ``next_attempt_at=None`` gives up (status failed).

        A message no longer pending is left as it is.
        """
        status = MessageStatus.PENDING if next_attempt_at is not None else MessageStatus.FAILED
        params = {
            "b_id": message_id,
            "b_status": status.value,
            "b_next_attempt_at": as_utc(next_attempt_at),
            "b_last_error": error[: limits.message_error_chars_max],
        }
        self.conn.execute(_MARK_ATTEMPT_FAILED, params)

    def list(
        self, account_id: int | None, status: str | None, kind: str | None, limit: int
    ) -> pl.DataFrame:
        """Messages for people, newest first, optionally of one account, status or kind."""
        m = schema.messages
        query = _select_messages().order_by(m.c.id.desc()).limit(limit)
        if account_id is not None:
            query = query.where(m.c.account_id == account_id)
        if status is not None:
            query = query.where(m.c.status == status)
        if kind is not None:
            query = query.where(m.c.kind == kind)
        return self._frame(query)

    def _frame(self, query: Select[Any]) -> pl.DataFrame:
        # A page for people: rows through SQLAlchemy, instants made UTC.
        return pl.DataFrame(
            _rows(self.conn.execute(query)), schema=STORED_MESSAGE_SCHEMA, orient="row"
        )


def _rows(result: Result[Any]) -> list[dict[str, Any]]:
    records = [dict(r._mapping) for r in result]
    for record in records:
        for name in _INSTANTS:
            if record[name] is not None:
                record[name] = as_utc(record[name])
    return records


def _message(row: dict[str, Any]) -> OutboxMessage:
    kind, status = MessageKind(row["kind"]), MessageStatus(row["status"])
    return OutboxMessage(**{**row, "kind": kind, "status": status})


def _select_messages() -> Select[Any]:
    m = schema.messages
    return select(*(m.c[name] for name in STORED_MESSAGE_SCHEMA))


# --- the worker's statements, built once (it runs them every few seconds) -------------------

_M = schema.messages
_PENDING = MessageStatus.PENDING.value
_DUE = (
    _select_messages()
    .where(_M.c.status == _PENDING)
    .where(_M.c.next_attempt_at <= bindparam("now", type_=_M.c.next_attempt_at.type))
    .order_by(_M.c.next_attempt_at, _M.c.id)
    .limit(bindparam("limit"))
)
# Bound parameters of an UPDATE may not take a column's name: b_<column>.
_MARK_SENT = (
    _M.update()
    .where(_M.c.id.in_(bindparam("ids", expanding=True)))
    .where(_M.c.status == _PENDING)
    .values(
        status=MessageStatus.SENT.value,
        attempts=_M.c.attempts + 1,
        sent_at=bindparam("b_sent_at", type_=_M.c.sent_at.type),
        next_attempt_at=None,
        # A gateway without receipts: its acceptance is the delivery (``Receipt.ACCEPTED``).
        receipt=MessageReceipt.ACCEPTED.value,
        delivered_at=bindparam("b_sent_at", type_=_M.c.sent_at.type),
    )
)
_MARK_SUBMITTED = (
    _M.update()
    .where(_M.c.id == bindparam("b_id"))
    .where(_M.c.status == _PENDING)
    .values(
        status=MessageStatus.SENT.value,
        attempts=_M.c.attempts + 1,
        sent_at=bindparam("b_sent_at", type_=_M.c.sent_at.type),
        provider_ref=bindparam("b_provider_ref"),
        next_attempt_at=bindparam("b_next_attempt_at", type_=_M.c.next_attempt_at.type),
    )
)
_AWAITING = (
    _select_messages()
    .where(_M.c.status == MessageStatus.SENT.value)
    .where(_M.c.next_attempt_at <= bindparam("now", type_=_M.c.next_attempt_at.type))
    .where(_M.c.receipt.is_(None))
    .order_by(_M.c.next_attempt_at, _M.c.id)
    .limit(bindparam("limit"))
)
_WITH_REFS = (
    _select_messages()
    .where(_M.c.provider_ref.in_(bindparam("refs", expanding=True)))
    .where(_M.c.status == MessageStatus.SENT.value)
)
_RECORD_RECEIPT = (
    _M.update()
    .where(_M.c.id == bindparam("b_id"))
    .where(_M.c.status == MessageStatus.SENT.value)
    .where(_M.c.receipt.is_(None))
    .values(
        receipt=bindparam("b_receipt"),
        delivered_at=bindparam("b_delivered_at", type_=_M.c.delivered_at.type),
        delivery_error=bindparam("b_delivery_error"),
        next_attempt_at=bindparam("b_next_attempt_at", type_=_M.c.next_attempt_at.type),
    )
)
_MARK_ATTEMPT_FAILED = (
    _M.update()
    .where(_M.c.id == bindparam("b_id"))
    .where(_M.c.status == _PENDING)
    .values(
        status=bindparam("b_status"),
        attempts=_M.c.attempts + 1,
        next_attempt_at=bindparam("b_next_attempt_at", type_=_M.c.next_attempt_at.type),
        last_error=bindparam("b_last_error"),
    )
)
