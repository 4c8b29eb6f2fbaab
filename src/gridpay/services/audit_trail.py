"""The audit log: every write service records who made it here, in the write's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridpay import limits
from gridpay.domain.actors import Actor
from gridpay.domain.audit_trail import AuditEntry, AuditQuery, entry
from gridpay.domain.payments import parse_account_no
from gridpay.errors import InvalidInput
from gridpay.ports.store import Store, UnitOfWork


def record(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    at: dt.datetime,
    *,
    account_id: int | None = None,
    subject: str | None = None,
    amount_fen: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append who made this write (the caller commits it with the write, or neither)."""
    return uow.audit_log.record(
        entry(
            actor,
            action,
            at,
            account_id=account_id,
            subject=subject,
            amount_fen=amount_fen,
            reason=reason,
            detail=detail,
        )
    )


def search(
    store: Store,
    *,
    account_no: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    limit: int = limits.audit_search_rows_default,
) -> list[AuditEntry]:
    """Entries matching every filter given, newest first (``actor``: an id or ``kind:id``)."""
    if not 1 <= limit <= limits.audit_search_rows_max:
        raise InvalidInput(f"limit must be 1..{limits.audit_search_rows_max}, not {limit}")
    query = AuditQuery(
        account_id=parse_account_no(account_no) if account_no else None,
        actor_id=actor.strip() if actor else None,
        action=action.strip() if action else None,
        since=since,
        limit=limit,
    )
    with store.reader() as uow:
        return uow.audit_log.search(query)
