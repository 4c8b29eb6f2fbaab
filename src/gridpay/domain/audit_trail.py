"""The audit log's entries: who did what to which account, why, with a detail safe to show.

An entry is built here, pure, from the actor and the write; the detail is JSON with phone
numbers masked and never a secret (passwords, codes, tokens are not passed in at all).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from gridpay import limits
from gridpay.domain.actors import Actor
from gridpay.domain.text import mask_phones


@dataclass(frozen=True)
class AuditEntry:
    """One write, as recorded (``id`` is None until stored)."""

    at: dt.datetime
    actor_kind: str
    actor_id: str
    actor_role: str | None
    actor_office_id: int | None
    action: str
    account_id: int | None
    subject: str | None
    amount_fen: int | None
    reason: str | None
    detail: str | None  # JSON
    id: int | None = None

    @property
    def actor_label(self) -> str:
        return f"{self.actor_kind}:{self.actor_id}"


@dataclass(frozen=True)
class AuditQuery:
    account_id: int | None = None
    actor_id: str | None = None
    action: str | None = None  # an action, or a prefix ending in "." (e.g. "payment.")
    since: dt.datetime | None = None
    entry_id: int | None = None
    subject: str | None = None
    limit: int = limits.audit_search_rows_default


def entry(
    actor: Actor,
    action: str,
    at: dt.datetime,
    *,
    account_id: int | None = None,
    subject: str | None = None,
    amount_fen: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    assert at.tzinfo is not None, at
    assert "." in action, action
    text = None
    if detail:
        text = mask_phones(json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str))
        assert len(text) <= limits.audit_detail_chars_max, text
    return AuditEntry(
        at=at,
        actor_kind=actor.kind.value,
        actor_id=actor.id,
        actor_role=actor.role.value if actor.role is not None else None,
        actor_office_id=actor.office_id,
        action=action,
        account_id=account_id,
        subject=subject,
        amount_fen=amount_fen,
        reason=mask_phones(reason)[: limits.audit_reason_chars_max] if reason else None,
        detail=text,
    )
