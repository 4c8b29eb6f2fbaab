"""Use case: record the delivery receipts an SMS provider pushes to us.

A pushed receipt lands exactly as a polled one (``messaging.poll_receipts``): the same
``record_receipt``, which takes a message's first receipt and leaves a message that has one as
it is, so a receipt both pushed and polled (or pushed twice: the provider pushes again until it
is answered) is recorded once. A receipt naming no sent message of ours (another system's
message on the same account, or a forged push) is logged and ignored: nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gridpay.domain.messages import Receipt
from gridpay.ports.clock import Clock
from gridpay.ports.gateways import PushedReceipt
from gridpay.ports.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushReport:
    received: int = 0
    recorded: int = 0  # taken as the message's receipt (or already its receipt)
    unknown: int = 0  # naming no sent message of ours: ignored


def record_pushed_receipts(
    store: Store, clock: Clock, receipts: Sequence[PushedReceipt]
) -> PushReport:
    """Record a push's receipts in one transaction (the provider pushes again on an error)."""
    now = clock.now()
    unknown = 0
    with store.unit_of_work() as uow:
        refs = sorted({r.provider_ref for r in receipts})
        messages = {m.provider_ref: m for m in uow.outbox.sent_with_refs(refs)}
        for receipt in receipts:
            message = messages.get(receipt.provider_ref)
            # The provider echoes SendSms's OutId, our dedupe key: a mismatch is not ours.
            if message is None or receipt.out_id not in (None, message.dedupe_key):
                log.warning("SMS receipt for unknown message %s ignored", receipt.provider_ref)
                unknown += 1
                continue
            report = receipt.report
            kept, at = _receipt(report.delivered), report.at or now
            uow.outbox.record_receipt(message.id, kept, at, report.error_code, None)
        uow.commit()
    return PushReport(len(receipts), len(receipts) - unknown, unknown)


def _receipt(delivered: bool) -> str:
    return Receipt.DELIVERED.value if delivered else Receipt.UNDELIVERED.value
