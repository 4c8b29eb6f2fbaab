"""SQL: the message outbox.

Services add messages in the same transaction as the change that causes them; a dedupe key
already stored is skipped by the database itself (``ON CONFLICT DO NOTHING``), so two
transactions racing to add the same notice store it once. The worker reads what is due and
changes one message at a time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, select

from gridpay import limits
from gridpay.adapters.sql import bulk_keyed, schema
from gridpay.adapters.sql.db import as_utc
from gridpay.domain.messages import MessageStatus

# What services give ``add``.
ADD_COLUMNS = ("dedupe_key", "account_id", "phone", "language", "kind", "body", "created_at")

# What ``due`` and ``list`` return.
MESSAGE_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "dedupe_key": pl.String,
    "account_id": pl.Int64,
    "phone": pl.String,
    "language": pl.String,
    "kind": pl.String,
    "body": pl.String,
    "status": pl.String,
    "attempts": pl.Int64,
    "created_at": pl.Datetime("us", "UTC"),
    "next_attempt_at": pl.Datetime("us", "UTC"),
    "sent_at": pl.Datetime("us", "UTC"),
    "last_error": pl.String,
}
_INSTANTS = ("created_at", "next_attempt_at", "sent_at")


class SqlOutboxRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, messages: pl.DataFrame) -> int:
        """Append messages; a dedupe key already stored (or repeated in the frame) is skipped.

        Returns the rows actually added. A new message is due at once (``next_attempt_at`` is
        its ``created_at``), so the worker's query stays on one index. ``created_at`` may be
        naive (then it is UTC) or in any zone.
        """
        missing = set(ADD_COLUMNS) - set(messages.columns)
        assert not missing, f"outbox rows need {sorted(missing)}"
        columns = (*ADD_COLUMNS, "next_attempt_at")
        if messages.height <= bulk_keyed.STAGE_ROWS_MIN:  # a payment's SMS: no frame operations
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

    def due(self, now: dt.datetime, limit: int) -> pl.DataFrame:
        """Pending messages whose next attempt is due, oldest first."""
        m = schema.messages
        query = (
            _select_messages()
            .where(m.c.status == MessageStatus.PENDING.value)
            .where(m.c.next_attempt_at <= as_utc(now))
            .order_by(m.c.next_attempt_at, m.c.id)
            .limit(limit)
        )
        return self._frame(query)

    def mark_sent(self, message_id: int, at: dt.datetime) -> None:
        """Record the gateway took it. A message no longer pending is left as it is."""
        m = schema.messages
        self.conn.execute(
            m.update()
            .where(m.c.id == message_id)
            .where(m.c.status == MessageStatus.PENDING.value)
            .values(
                status=MessageStatus.SENT.value,
                attempts=m.c.attempts + 1,
                sent_at=as_utc(at),
                next_attempt_at=None,
            )
        )

    def mark_attempt_failed(
        self, message_id: int, error: str, next_attempt_at: dt.datetime | None
    ) -> None:
        """Count a failed attempt; ``next_attempt_at=None`` gives up (status failed).

        A message no longer pending is left as it is.
        """
        m = schema.messages
        status = MessageStatus.PENDING if next_attempt_at is not None else MessageStatus.FAILED
        self.conn.execute(
            m.update()
            .where(m.c.id == message_id)
            .where(m.c.status == MessageStatus.PENDING.value)
            .values(
                status=status.value,
                attempts=m.c.attempts + 1,
                next_attempt_at=as_utc(next_attempt_at),
                last_error=error[: limits.message_error_chars_max],
            )
        )

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
        # Small results (a page, a worker batch): rows through SQLAlchemy, instants made UTC.
        records = [dict(r._mapping) for r in self.conn.execute(query)]
        for record in records:
            for name in _INSTANTS:
                if record[name] is not None:
                    record[name] = as_utc(record[name])
        return pl.DataFrame(records, schema=MESSAGE_SCHEMA, orient="row")


def _select_messages() -> Select[Any]:
    m = schema.messages
    return select(*(m.c[name] for name in MESSAGE_SCHEMA))
