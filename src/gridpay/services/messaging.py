"""Use cases: send the messages that are due (the outbox worker), and list messages.

Other services write messages into the outbox in the same transaction as the change that causes
them. ``send_due`` takes what is due and hands each message to the SMS gateway, recording the
outcomes a small batch per short transaction: a crash between sending and recording re-sends at
most that batch, and the gateway gets each message's dedupe key to drop the duplicates. A failed
attempt is retried with exponential back-off; after the last one the message is given up
(``failed``) for staff to see.

One worker per database is assumed: two workers running at once could both send a message
(each with the same dedupe key) before either records it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.messages import (
    Brand,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    next_attempt_at,
)
from gridpay.domain.payments import format_account_no, parse_account_no
from gridpay.errors import DeliveryFailed, InvalidInput
from gridpay.ports.clock import Clock
from gridpay.ports.gateways import SmsGateway
from gridpay.ports.store import Store


@dataclass(frozen=True)
class SendReport:
    """One pass of the worker."""

    sent: int  # taken by the gateway
    failed_attempts: int  # failed this time, to be retried later
    gave_up: int  # failed for the last time: now ``failed``, for staff

    @property
    def due(self) -> int:
        return self.sent + self.failed_attempts + self.gave_up


@dataclass(frozen=True)
class MessageView:
    """One outbox message, for people."""

    id: int
    dedupe_key: str
    account_no: str | None
    phone: str
    language: str
    kind: str
    body: str
    status: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_error: str | None


def brand_from_settings(settings: Settings) -> Brand:
    """Who the messages come from: the company's names and hotline, from configuration."""
    return Brand(
        company_name_zh=settings.company_name_zh,
        company_name_en=settings.company_name,
        hotline=settings.hotline,
    )


def send_due(
    store: Store,
    clock: Clock,
    gateway: SmsGateway,
    limit: int = limits.message_send_batch_max,
) -> SendReport:
    """Send up to ``limit`` due messages, oldest first; retry failures later, or give up."""
    if not 1 <= limit <= limits.message_send_batch_max:
        raise InvalidInput(
            f"limit must be between 1 and {limits.message_send_batch_max}; got {limit}"
        )
    with store.unit_of_work() as uow:
        rows = uow.outbox.due(clock.now(), limit)
    outcomes: list[MessageStatus] = []
    step = limits.message_marks_per_transaction
    for start in range(0, len(rows), step):
        # Outcomes are recorded a small batch per transaction: after a crash at most one batch
        # is sent again, and the gateway, given each message's dedupe key, can drop those.
        results = [(m, _send_one(gateway, clock, m)) for m in rows[start : start + step]]
        taken = [m.id for m, (status, _, _) in results if status is MessageStatus.SENT]
        with store.unit_of_work() as uow:
            uow.outbox.mark_sent(taken, clock.now())  # the batch's sent ones: one statement
            for message, (status, error, retry_at) in results:
                if status is not MessageStatus.SENT:
                    assert error is not None
                    uow.outbox.mark_attempt_failed(message.id, error, retry_at)
                outcomes.append(status)
            uow.commit()
    return SendReport(
        sent=outcomes.count(MessageStatus.SENT),
        failed_attempts=outcomes.count(MessageStatus.PENDING),
        gave_up=outcomes.count(MessageStatus.FAILED),
    )


def list_messages(
    store: Store,
    account_no: str | None,
    status: str | None,
    kind: str | None,
    limit: int = limits.page_rows_max,
) -> list[MessageView]:
    """Messages newest first, optionally of one account, status and kind."""
    account_id = parse_account_no(account_no) if account_no is not None else None
    _check_choice("status", status, [s.value for s in MessageStatus])
    _check_choice("kind", kind, [k.value for k in MessageKind])
    if not 1 <= limit <= limits.page_rows_max:
        raise InvalidInput(f"limit must be between 1 and {limits.page_rows_max}; got {limit}")
    with store.unit_of_work() as uow:
        frame = uow.outbox.list(account_id, status, kind, limit)
    return [_view(row) for row in frame.iter_rows(named=True)]


# --- helpers: decisions above, work here -------------------------------------------------


def _send_one(
    gateway: SmsGateway, clock: Clock, message: OutboxMessage
) -> tuple[MessageStatus, str | None, dt.datetime | None]:
    """Hand one message to the gateway: its new status, the error, and when to try again."""
    try:
        gateway.send(message.phone, message.body, message.dedupe_key)
    except DeliveryFailed as exc:
        retry_at = next_attempt_at(
            clock.now(),
            message.attempts + 1,
            attempts_max=limits.message_send_attempts_max,
            retry_base_s=limits.message_retry_base_s,
            retry_cap_s=limits.message_retry_cap_s,
        )
        status = MessageStatus.PENDING if retry_at is not None else MessageStatus.FAILED
        return status, exc.message, retry_at
    return MessageStatus.SENT, None, None


def _check_choice(what: str, value: str | None, choices: list[str]) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(f"{what} {value!r} is not known: use one of {', '.join(choices)}")


def _view(row: dict[str, Any]) -> MessageView:
    account_id = row["account_id"]
    return MessageView(
        id=row["id"],
        dedupe_key=row["dedupe_key"],
        account_no=format_account_no(account_id) if account_id is not None else None,
        phone=row["phone"],
        language=row["language"],
        kind=row["kind"],
        body=row["body"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )
