"""The outbox: messages written in the same transaction as the change that causes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import polars as pl

from gridpay.domain.messages import OutboxMessage


class OutboxRepo(Protocol):
    """Messages written in the same transaction as the change that causes them."""

    def add(self, messages: pl.DataFrame) -> int:
        """Append messages (``domain.messages.OUTBOX_SCHEMA``); a dedupe key already present
        is skipped. Returns rows added."""
        ...

    def due(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        """Pending messages whose next attempt is due, oldest first (a worker's batch)."""
        ...

    def mark_sent(self, message_ids: Sequence[int], at: dt.datetime) -> int:
        """A gateway without delivery receipts took these messages (their receipt is
        ``accepted``); returns how many were still pending (the others are left as they are)."""
        ...

    def mark_submitted(
        self, message_id: int, provider_ref: str, at: dt.datetime, receipt_check_at: dt.datetime
    ) -> None:
        """A provider with receipts took the message under ``provider_ref``: sent, its receipt
        awaited, asked for at ``receipt_check_at``."""
        ...

    def awaiting_receipt(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        """Sent messages without a receipt whose next check is due, oldest first."""
        ...

    def sent_with_refs(self, provider_refs: Sequence[str]) -> list[OutboxMessage]:
        """Sent messages whose provider id is one of ``provider_refs`` (a pushed receipt's)."""
        ...

    def record_receipt(
        self,
        message_id: int,
        receipt: str | None,
        at: dt.datetime | None,
        error: str | None,
        next_check_at: dt.datetime | None,
    ) -> None:
        """A receipt (``domain.messages.Receipt``) with its time or error code; ``receipt=None``:
        none yet, ask again at ``next_check_at``."""
        ...

    def mark_attempt_failed(
        self, message_id: int, error: str, next_attempt_at: dt.datetime | None
    ) -> None:
        """Count a failed attempt; ``next_attempt_at=None`` gives up (status failed)."""
        ...

    def list(
        self, account_id: int | None, status: str | None, kind: str | None, limit: int
    ) -> pl.DataFrame:
        """Messages newest first (``domain.messages.STORED_MESSAGE_SCHEMA``)."""
        ...
