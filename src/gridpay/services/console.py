"""The office console's reads: what a signed-in member may see, masked as their role needs.

Clerks and supervisors see their own office's households and queues; finance and admins see
every office. A clerk sees phone numbers masked (138****5678); the others see them whole.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, replace

from gridpay import limits
from gridpay.domain.actors import OFFICE_ROLES, Actor, Role, check_office_scope
from gridpay.domain.audit_trail import AuditEntry, AuditQuery
from gridpay.domain.credit_policy import AccountCreditState
from gridpay.domain.enrolment import NOT_DIRECT_SUPPLY_REASON, Agreement, Protection
from gridpay.domain.payments import format_account_no, parse_account_no
from gridpay.domain.registry import Account, SupplyType
from gridpay.domain.text import mask_phones
from gridpay.errors import InvalidInput, NotFound
from gridpay.ports.console import ArrearsRow, CommandCount, HouseholdRow, TaskRow
from gridpay.ports.store import Store
from gridpay.services.registry import existing_account

_DIGITS = re.compile(r"\+?[0-9][0-9 \-]*")


def office_of(actor: Actor) -> int | None:
    """The office a member's lists are limited to (None: every office)."""
    return actor.office_id if actor.role in OFFICE_ROLES else None


def show_phone(actor: Actor, phone: str | None) -> str | None:
    if phone is None or actor.role is not Role.CLERK:
        return phone
    return mask_phones(phone)


def find_households(store: Store, actor: Actor, text: str) -> list[HouseholdRow]:
    """By account number (10 digits), phone (other digits) or a part of the name."""
    query = text.strip()
    if not query:
        raise InvalidInput("type an account number, a phone number or a name")
    account_id = phone = name = None
    if query.isdigit() and len(query) == 10:
        account_id = parse_account_no(query)
    elif _DIGITS.fullmatch(query):
        phone = query.replace(" ", "").replace("-", "")
    else:
        name = query[: limits.staff_display_name_chars_max]
    with store.reader() as uow:
        found = uow.console.find_households(
            account_id, phone, name, office_of(actor), limits.console_rows_max
        )
    return [replace(h, phone=show_phone(actor, h.phone)) for h in found]


@dataclass(frozen=True)
class Household:
    account: Account
    phone: str | None  # as the member may see it
    office_name: str
    balance_fen: int
    agreement: Agreement | None
    credit: AccountCreditState | None
    protection: Protection | None
    can_enrol_reason: str | None  # why it cannot enrol (None: it can, or is enrolled)
    decisions: list[tuple[dt.datetime, str, str]]  # newest first: at, action, reason
    pending_phone: str | None  # a new phone waiting for its code


def household(store: Store, actor: Actor, account_no: str) -> Household:
    account_id = parse_account_no(account_no)
    # Not a reader: the pending phone change is read as its confirmation reads it (locked).
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        check_office_scope(actor, account.office_id, f"account {account.account_no}")
        decisions = uow.credit.decisions(account_id, 5)
        pending = uow.account_changes.pending_phone_change(account_id)
        contacts = uow.enrolment.contacts(account_id)
        customer = next((c.phone for c in contacts if c.role.value == "customer"), account.phone)
        return Household(
            account=account,
            phone=show_phone(actor, customer),
            office_name=uow.registry.offices().get(account.office_id, "?"),
            balance_fen=uow.ledger.balance_fen(account_id),
            agreement=uow.enrolment.open_enrolment(account_id),
            credit=uow.credit.state_of(account_id),
            protection=uow.enrolment.protection(account_id),
            can_enrol_reason=(
                NOT_DIRECT_SUPPLY_REASON if account.supply_type is not SupplyType.DIRECT else None
            ),
            decisions=[
                (r["at"], r["action"], r["reason"]) for r in decisions.iter_rows(named=True)
            ],
            pending_phone=show_phone(actor, pending.new_phone) if pending is not None else None,
        )


def arrears_queue(store: Store, actor: Actor) -> list[ArrearsRow]:
    with store.reader() as uow:
        return uow.console.arrears_queue(office_of(actor), limits.console_rows_max)


def open_tasks(store: Store, actor: Actor) -> list[TaskRow]:
    with store.reader() as uow:
        return uow.console.open_tasks(office_of(actor), limits.console_rows_max)


@dataclass(frozen=True)
class CommandStatus:
    counts: list[CommandCount]
    restorations: int  # acknowledged reconnects measured (the latest ones)
    restoration_p50_s: float | None
    restoration_p95_s: float | None
    restoration_max_s: float | None


def command_status(store: Store) -> CommandStatus:
    with store.reader() as uow:
        counts = uow.console.command_counts()
        latencies = sorted(uow.console.restoration_latencies_s(limits.console_latency_rows_max))

    def quantile(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return CommandStatus(
        counts=counts,
        restorations=len(latencies),
        restoration_p50_s=quantile(0.5),
        restoration_p95_s=quantile(0.95),
        restoration_max_s=latencies[-1] if latencies else None,
    )


@dataclass(frozen=True)
class PaymentReceipt:
    entry: AuditEntry
    account: Account
    balance_fen: int  # right after the payment, as recorded with it
    office_name: str


def payment_receipt(store: Store, actor: Actor, entry_id: int) -> PaymentReceipt:
    """A payment's receipt from its audit entry; only the account's office (or finance,
    admins) may print it."""
    with store.reader() as uow:
        found = uow.audit_log.search(AuditQuery(action="payment.take", entry_id=entry_id, limit=1))
        if not found or found[0].account_id is None:
            raise NotFound(f"no payment receipt {entry_id}")
        entry = found[0]
        assert entry.account_id is not None
        account = existing_account(uow, entry.account_id)
        check_office_scope(actor, account.office_id, f"account {format_account_no(account.id)}")
        detail = json.loads(entry.detail or "{}")
        office = detail.get("office_id") or account.office_id
        return PaymentReceipt(
            entry=entry,
            account=account,
            balance_fen=int(detail["balance_fen"]),
            office_name=uow.registry.offices().get(office, "?"),
        )


def payment_entry_id(store: Store, transfer_id: str) -> int:
    """The audit entry of a payment (its receipt's number)."""
    with store.reader() as uow:
        found = uow.audit_log.search(
            AuditQuery(action="payment.take", subject=transfer_id, limit=1)
        )
    if not found or found[0].id is None:
        raise NotFound(f"payment {transfer_id} has no audit entry")
    return found[0].id
