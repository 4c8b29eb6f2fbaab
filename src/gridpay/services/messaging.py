"""Use cases: send the messages that are due (the outbox worker), and list messages.

Other services write messages into the outbox in the same transaction as the change that causes
them. ``send_due`` takes what is due and hands each message to the SMS gateway, recording the
outcomes a small batch per short transaction: a crash between sending and recording re-sends at
most that batch, and the gateway gets each message's dedupe key to drop the duplicates. A failed
attempt is retried with exponential back-off; after the last one the message is given up
(``failed``) for staff to see.

A provider that sends registered templates and reports delivery (``TemplateSmsGateway``) gets
the message's kind and template parameters instead of its body; ``poll_receipts`` then asks it
for each sent message's delivery receipt until one comes (or the wait runs out: undelivered).
A gateway without receipts counts its acceptance as delivery (``Receipt.ACCEPTED``). The credit
policy cuts only after a delivered arrears notice.

One worker per database is assumed: two workers running at once could both send a message
(each with the same dedupe key) before either records it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.messages import (
    Brand,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Receipt,
    next_attempt_at,
)
from gridpay.domain.payments import format_account_no, parse_account_no
from gridpay.errors import DeliveryFailed, InvalidInput
from gridpay.ports.clock import Clock
from gridpay.ports.gateways import AnySmsGateway, TemplateSmsGateway
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
class ReceiptReport:
    """One pass over the messages waiting for their delivery receipts."""

    asked: int = 0
    delivered: int = 0
    undelivered: int = 0  # reported failed, or no receipt within the wait
    waiting: int = 0  # no receipt yet: asked again later
    unreachable: int = 0  # the provider could not be asked: asked again later


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
    receipt: str | None = None
    delivered_at: dt.datetime | None = None
    delivery_error: str | None = None


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
    gateway: AnySmsGateway,
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
        taken = [m.id for m, (status, _, _, ref) in results if status is MessageStatus.SENT]
        with store.unit_of_work() as uow:
            now = clock.now()
            if isinstance(gateway, TemplateSmsGateway):
                check_at = now + dt.timedelta(seconds=limits.sms_receipt_first_check_s)
                for message, (status, _, _, ref) in results:
                    if status is MessageStatus.SENT:
                        assert ref is not None
                        uow.outbox.mark_submitted(message.id, ref, now, check_at)
            else:
                uow.outbox.mark_sent(taken, now)  # the batch's sent ones: one statement
            for message, (status, error, retry_at, _) in results:
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


def poll_receipts(
    store: Store,
    clock: Clock,
    gateway: AnySmsGateway,
    limit: int = limits.sms_receipt_batch_max,
) -> ReceiptReport:
    """Ask the provider for the delivery receipts that are due (none for a gateway without
    receipts); record each receipt, or when to ask again."""
    if not isinstance(gateway, TemplateSmsGateway):
        return ReceiptReport()
    assert 1 <= limit <= limits.sms_receipt_batch_max
    with store.unit_of_work() as uow:
        waiting = uow.outbox.awaiting_receipt(clock.now(), limit)
    outcomes: list[str] = []
    step = limits.message_marks_per_transaction
    for start in range(0, len(waiting), step):
        now = clock.now()
        results = [(m, _receipt_of(gateway, m, now)) for m in waiting[start : start + step]]
        with store.unit_of_work() as uow:
            for message, (outcome, receipt, at, error, next_check) in results:
                uow.outbox.record_receipt(message.id, receipt, at, error, next_check)
                outcomes.append(outcome)
            uow.commit()
    return ReceiptReport(
        asked=len(outcomes),
        delivered=outcomes.count("delivered"),
        undelivered=outcomes.count("undelivered"),
        waiting=outcomes.count("waiting"),
        unreachable=outcomes.count("unreachable"),
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
    gateway: AnySmsGateway, clock: Clock, message: OutboxMessage
) -> tuple[MessageStatus, str | None, dt.datetime | None, str | None]:
    """Hand one message to the gateway: its new status, the error, when to try again, and the
    provider's id of the message (a gateway with receipts)."""
    ref = None
    try:
        if isinstance(gateway, TemplateSmsGateway):
            ref = gateway.submit(
                message.phone, message.kind.value, _params(message), message.dedupe_key
            )
        else:
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
        return status, exc.message, retry_at, None
    return MessageStatus.SENT, None, None, ref


def _params(message: OutboxMessage) -> dict[str, str]:
    """The message's template parameters; a message stored without them cannot go through a
    provider that sends only templates (an attempt that fails, for staff to see)."""
    if message.params is None:
        raise DeliveryFailed(
            f"message {message.dedupe_key} has no template parameters: the SMS provider sends "
            "registered templates only"
        )
    params = json.loads(message.params)
    assert isinstance(params, dict), message.dedupe_key
    return {str(k): str(v) for k, v in params.items()}


def _receipt_of(
    gateway: TemplateSmsGateway, message: OutboxMessage, now: dt.datetime
) -> tuple[str, str | None, dt.datetime | None, str | None, dt.datetime | None]:
    """Ask for one message's receipt: (what happened, receipt, at, error code, next check)."""
    assert message.provider_ref is not None and message.sent_at is not None
    try:
        report = gateway.receipt(message.phone, message.provider_ref, message.sent_at)
    except DeliveryFailed:
        report, outcome = None, "unreachable"
    else:
        outcome = "waiting"
    if report is not None:
        if report.delivered:
            return "delivered", Receipt.DELIVERED.value, report.at or now, None, None
        return "undelivered", Receipt.UNDELIVERED.value, report.at or now, report.error_code, None
    waited_s = (now - message.sent_at).total_seconds()
    if waited_s >= limits.sms_receipt_wait_max_s:
        hours = limits.sms_receipt_wait_max_s / 3_600
        return "undelivered", Receipt.UNDELIVERED.value, now, f"no receipt in {hours:g} h", None
    next_check = now + dt.timedelta(seconds=limits.sms_receipt_check_every_s)
    return outcome, None, None, None, next_check


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
        receipt=row["receipt"],
        delivered_at=row["delivered_at"],
        delivery_error=row["delivery_error"],
    )
