"""Use cases: account changes a counter handles every day (a tariff from a day on, a new phone).

Each is one unit of work that records who made the change and why next to the change itself.

- **Change of tariff from a day.** The days before ``from_day`` keep the tariff they were (or
  will be) charged at; from ``from_day`` on, settlement prices each day at the new tariff
  (``adapters.sql.settlement_repo._TARIFF_JOIN``), so a settle across the change charges each
  day at its own tariff. The year-to-date energy is the account's, so the tier year continues:
  a household 2,500 kWh into its year is still 2,500 kWh in the day after the change. A change
  may take effect only after the account's last settled day: settled days are in the ledger at
  the tariff then in force, and re-pricing them is a correction, not a change of tariff.
- **Change of owner (过户).** The old owner's agreement ends the day before the change with a
  final statement: the balance refunded, or a debt handed to monthly billing, as on leaving;
  the new owner's begins on the day of the change, in a fresh credit state.
  The new owner continues the account's tier year (``domain.account_changes``).
- **Change of phone.** A code goes through the outbox to the NEW number; only its salted hash
  is stored. Until the code is confirmed (in time, once, within a few tries) the account's
  messages keep going to the old number.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.account_changes import (
    ChangeOwner,
    ChangePhone,
    ChangeTariff,
    ConfirmPhone,
    OwnerChange,
    PhoneChangeStatus,
    TariffChange,
    code_matches,
    hash_code,
    parse_code,
    validate_change_owner,
    validate_change_phone,
    validate_change_tariff,
)
from gridpay.domain.actors import COUNTER_ROLES, SYSTEM, Actor, check_office_scope, check_role
from gridpay.domain.commands import CommandAction
from gridpay.domain.credit_policy import STATE_SCHEMA, CreditState
from gridpay.domain.credit_rules import task_closings
from gridpay.domain.enrolment import ContactRole, EnrolChannel
from gridpay.domain.ledger import RECEIVABLES_ID, REFUNDS_ID, Transfer
from gridpay.domain.messages import OUTBOX_SCHEMA, MessageKind, render, template_params
from gridpay.domain.payments import parse_account_no
from gridpay.domain.registry import Account
from gridpay.domain.tariff import tariff_in_force
from gridpay.errors import Conflict, NotFound, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services import leaving
from gridpay.services.audit_trail import record
from gridpay.services.messaging import brand_from_settings
from gridpay.services.registry import existing_account


@dataclass(frozen=True)
class TariffChangeReceipt:
    account_no: str
    old_tariff_code: str  # in force the day before ``from_day``
    change: TariffChange
    already_recorded: bool  # the same change was recorded before: nothing written


def change_tariff(
    store: Store, clock: Clock, cmd: ChangeTariff, *, actor: Actor = SYSTEM
) -> TariffChangeReceipt:
    """Put the account on ``cmd.tariff_code`` from ``cmd.from_day`` on; the tier year goes on.

    Idempotent: the same change again is a no-op; another tariff for a day that already has a
    change is a ``Conflict``.
    """
    account_id, code, who = validate_change_tariff(cmd)
    now = clock.now()
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        _check_staff(actor, account.office_id, account.account_no, "a change of tariff")
        tariff_in_force(uow.registry.tariffs(), code, cmd.from_day)  # InvalidInput if none
        old = uow.account_changes.tariff_on(account_id, cmd.from_day - dt.timedelta(days=1))
        assert old is not None
        recorded = uow.account_changes.tariff_change_on(account_id, cmd.from_day)
        if recorded is not None:
            if recorded.tariff_code != code:
                raise Conflict(
                    f"account {account.account_no} already changes to tariff "
                    f"{recorded.tariff_code} from {cmd.from_day.isoformat()} "
                    f"(by {recorded.changed_by}: {recorded.reason})"
                )
            return TariffChangeReceipt(account.account_no, old, recorded, already_recorded=True)
        last = uow.account_changes.last_settled_day(account_id)
        if last is not None and cmd.from_day <= last:
            raise Refused(
                f"account {account.account_no} is settled up to {last.isoformat()} at the tariff "
                f"in force then; a change of tariff can start on "
                f"{(last + dt.timedelta(days=1)).isoformat()} at the earliest"
            )
        if old == code:
            raise Refused(
                f"account {account.account_no} is already on tariff {code} on "
                f"{cmd.from_day.isoformat()}"
            )
        change = TariffChange(account_id, code, cmd.from_day, who.by, who.reason, now)
        uow.account_changes.add_tariff_change(change)
        record(
            uow,
            actor,
            "account.change_tariff",
            now,
            account_id=account_id,
            reason=who.reason,
            detail={"tariff_code": code, "from_day": cmd.from_day, "by": who.by},
        )
        uow.commit()
    return TariffChangeReceipt(account.account_no, old, change, already_recorded=False)


def tariff_changes(store: Store, account_no: str) -> list[TariffChange]:
    account_id = parse_account_no(account_no)
    with store.reader() as uow:
        existing_account(uow, account_id)
        return uow.account_changes.tariff_changes(account_id)


# --- change of phone -------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneChangeReceipt:
    account_no: str
    old_phone: str | None
    new_phone: str
    expires_at: dt.datetime
    code_sent: bool


@dataclass(frozen=True)
class PhoneConfirmation:
    account_no: str
    old_phone: str | None
    new_phone: str
    confirmed: bool
    attempts_left: int  # 0 once confirmed or locked


def request_phone_change(
    store: Store, clock: Clock, settings: Settings, cmd: ChangePhone, *, actor: Actor = SYSTEM
) -> PhoneChangeReceipt:
    """Send a code to the new phone; the change waits for it (``confirm_phone_change``).

    A new request supersedes a pending one (its code no longer works).
    """
    account_id, new_phone, who = validate_change_phone(cmd)
    now = clock.now()
    code = "".join(secrets.choice("0123456789") for _ in range(limits.phone_code_digits))
    code_hash = hash_code(code, secrets.token_bytes(16))
    expires_at = now + dt.timedelta(seconds=limits.phone_code_valid_s)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        _check_staff(actor, account.office_id, account.account_no, "a change of phone")
        contacts = uow.enrolment.contacts(account_id)
        customer = next((c for c in contacts if c.role is ContactRole.CUSTOMER), None)
        old_phone = customer.phone if customer is not None else account.phone
        language = customer.language.value if customer is not None else account.language.value
        if new_phone == old_phone:
            raise Refused(f"{new_phone} is already the phone of account {account.account_no}")
        if any(c.phone == new_phone for c in contacts):
            raise Refused(
                f"{new_phone} is a contact of account {account.account_no} already; remove it "
                "first or give another number"
            )
        change_id = uow.account_changes.add_phone_change(
            account_id, old_phone, new_phone, code_hash, expires_at, who.by, who.reason, now
        )
        values: dict[str, object] = {
            "account_no": account.account_no,
            "code": code,
            "minutes": str(limits.phone_code_valid_s // 60),
        }
        body = render(MessageKind.PHONE_CODE, language, brand_from_settings(settings), **values)
        # One key per request: each request's code is a message of its own.
        message = pl.DataFrame(
            {
                "dedupe_key": [f"{MessageKind.PHONE_CODE.value}/{account_id:010d}/{change_id}"],
                "account_id": [account_id],
                "phone": [new_phone],
                "language": [language],
                "kind": [MessageKind.PHONE_CODE.value],
                "body": [body],
                "created_at": [now],
                "params": [template_params(MessageKind.PHONE_CODE, **values)],
            },
            schema=OUTBOX_SCHEMA,
        )
        sent = uow.outbox.add(message) == 1
        # The code itself is never recorded: only that one was sent, and to which (masked) phone.
        record(
            uow,
            actor,
            "account.request_phone",
            now,
            account_id=account_id,
            subject=f"phone_change/{change_id}",
            reason=who.reason,
            detail={"new_phone": new_phone, "by": who.by},
        )
        uow.commit()
    return PhoneChangeReceipt(account.account_no, old_phone, new_phone, expires_at, sent)


def confirm_phone_change(
    store: Store, clock: Clock, cmd: ConfirmPhone, *, actor: Actor = SYSTEM
) -> PhoneConfirmation:
    """The code the new phone received: right, in time and first used, the phone changes."""
    account_id = parse_account_no(cmd.account_no)
    code = parse_code(cmd.code)
    now = clock.now()
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        _check_staff(actor, account.office_id, account.account_no, "a change of phone")
        pending = uow.account_changes.pending_phone_change(account_id)
        if pending is None:
            raise NotFound(
                f"account {account.account_no} has no change of phone waiting for a code "
                "(used, replaced, locked, or never asked): ask for a new code"
            )
        if now >= pending.expires_at:
            raise Refused(f"the code for {pending.new_phone} has expired: ask for a new code")
        attempts = pending.attempts + 1
        if not code_matches(code, pending.code_hash):
            lock = attempts >= limits.phone_code_attempts_max
            uow.account_changes.count_wrong_code(pending.id, lock)
            uow.commit()
            left = limits.phone_code_attempts_max - attempts
            raise Refused(
                "wrong code; too many tries, ask for a new code"
                if lock
                else f"wrong code; {left} tries left"
            )
        uow.account_changes.finish_phone_change(pending.id, PhoneChangeStatus.CONFIRMED, now)
        uow.account_changes.set_customer_phone(account_id, pending.old_phone, pending.new_phone)
        record(
            uow,
            actor,
            "account.confirm_phone",
            now,
            account_id=account_id,
            subject=f"phone_change/{pending.id}",
            detail={"old_phone": pending.old_phone, "new_phone": pending.new_phone},
        )
        uow.commit()
    return PhoneConfirmation(
        account.account_no, pending.old_phone, pending.new_phone, confirmed=True, attempts_left=0
    )


# --- change of owner (过户) --------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerChangeReceipt:
    account_no: str
    change: OwnerChange
    refund: Transfer | None  # the old owner's balance paid back (to "refunds payable")
    sms_queued: bool  # the agreement SMS to the new owner
    # The old owner's debt handed to monthly billing as a receivable (as on leaving).
    handed_over: Transfer | None = None
    final_sms_queued: bool = False  # the old owner's final statement, to the old phone


def change_owner(
    store: Store, clock: Clock, settings: Settings, cmd: ChangeOwner, *, actor: Actor = SYSTEM
) -> OwnerChangeReceipt:
    """The old owner's agreement ends the day before ``cmd.from_day`` with a final statement;
    the new owner's starts on ``cmd.from_day``, on the same account, meter and tier year.

    The final statement needs every day up to the old owner's last settled, and no day after
    it: the new owner's days are charged to the new owner. The old agreement is closed out as
    a leaving is (``services.leaving.close_out``): a positive balance refunded to the old owner,
    a debt handed to monthly billing as a receivable, both in the hand-over file; the old owner
    gets a final statement by SMS. None of it passes to the new owner, who starts in a fresh
    credit state under the grace of a new agreement.
    """
    account_id, name, phone, language, who = validate_change_owner(cmd)
    now, from_day = clock.now(), cmd.from_day
    last_day = from_day - dt.timedelta(days=1)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        _check_staff(actor, account.office_id, account.account_no, "a change of owner")
        agreement = uow.enrolment.open_enrolment(account_id)
        if agreement is None:
            raise Refused(
                f"account {account.account_no} has no smart-payment agreement in force: a "
                "change of owner of a monthly-billed account is the billing system's"
            )
        if from_day <= agreement.enrolled_on:
            raise Refused(
                f"the agreement of account {account.account_no} began on "
                f"{agreement.enrolled_on.isoformat()}: a change of owner can start the day "
                "after at the earliest"
            )
        settled = uow.account_changes.last_settled_day(account_id)
        if settled is None or settled < last_day:
            raise Refused(
                f"settle account {account.account_no} up to {last_day.isoformat()} first: the "
                "old owner's final statement needs the closing reading of that day"
            )
        if settled > last_day:
            raise Refused(
                f"account {account.account_no} is settled up to {settled.isoformat()}: a change "
                f"of owner can start on {(settled + dt.timedelta(days=1)).isoformat()} at the "
                "earliest"
            )
        # A true-up after the change would land on the new owner's balance.
        if not uow.account_changes.settled_on_a_real_reading(account_id, last_day):
            raise Refused(
                f"account {account.account_no} was settled on {last_day.isoformat()} on an "
                "estimate (or a late reading waits to true it up): the old owner's final "
                "statement needs a real closing reading of that day; read the meter first"
            )
        uow.ledger.lock_ledger_accounts(sorted([account_id, REFUNDS_ID, RECEIVABLES_ID]))
        balance_fen = uow.ledger.balance_fen(account_id)
        if uow.enrolment.supply(account_id)[0] == "off":
            raise Refused(
                f"supply of account {account.account_no} is off: restore it before the change"
            )
        if not uow.enrolment.close_enrolment(account_id, last_day, now):
            raise Refused(f"the agreement of account {account.account_no} has just ended")
        # The old owner's agreement ends as a leaving does: its close-out refunds a positive
        # balance or hands a debt to monthly billing, and puts it in the hand-over file.
        uow.leaving.add_leaving(
            agreement.id, account_id, agreement.enrolled_on, last_day, now, OWNER_CHANGE_NOTE
        )
        uow.commands.cancel_queued(account_id, CommandAction.DISCONNECT.value, now)
        uow.credit.close_staff_tasks(
            task_closings(
                account_id, "agreement_ended", f"the owner changed on {from_day.isoformat()}", now
            )
        )
        _fresh_credit_state(uow, account_id, now)
        uow.enrolment.set_protection(account_id, None, None, now)  # the old owner's
        old_phone = account.phone
        new_language = language or account.language
        uow.account_changes.set_owner(account_id, name, phone, new_language, now)
        new_id = uow.enrolment.add_enrolment(
            account_id, from_day, now, EnrolChannel.OFFICE.value, account.office_id
        )
        assert new_id is not None  # the old one was closed in this transaction
        # After the new agreement is in force: the close-out leaves the account prepaid.
        [leaving_day] = uow.leaving.settled_leaving_days(account_id)
        closed = leaving.close_out(uow, leaving_day, now)
        assert closed is not None and closed.balance_fen == balance_fen, closed
        refund = closed.transfer if balance_fen > 0 else None
        handed_over = closed.transfer if balance_fen < 0 else None
        change = OwnerChange(
            account_id=account_id,
            from_day=from_day,
            old_enrolment_id=agreement.id,
            new_enrolment_id=new_id,
            old_name=account.name,
            old_phone=old_phone,
            new_name=name,
            new_phone=phone,
            final_balance_fen=balance_fen,
            refund_transfer_id=refund.id if refund is not None else None,
            changed_by=who.by,
            reason=who.reason,
            changed_at=now,
        )
        uow.account_changes.add_owner_change(change)
        body = render(
            MessageKind.AGREEMENT,
            new_language.value,
            brand_from_settings(settings),
            account_no=account.account_no,
        )
        # Keyed by the new agreement: the old owner's agreement SMS had its own.
        message = pl.DataFrame(
            {
                "dedupe_key": [f"{MessageKind.AGREEMENT.value}/{account_id:010d}/owner-{new_id}"],
                "account_id": [account_id],
                "phone": [phone],
                "language": [new_language.value],
                "kind": [MessageKind.AGREEMENT.value],
                "body": [body],
                "created_at": [now],
                "params": [template_params(MessageKind.AGREEMENT, account_no=account.account_no)],
            },
            schema=OUTBOX_SCHEMA,
        )
        sms = uow.outbox.add(message) == 1
        final_sms = _queue_final_statement(
            uow, settings, account, agreement.id, last_day, balance_fen, now
        )
        record(
            uow,
            actor,
            "account.change_owner",
            now,
            account_id=account_id,
            subject=f"enrolment/{new_id}",
            amount_fen=balance_fen,
            reason=who.reason,
            detail={"from_day": from_day, "refund": change.refund_transfer_id, "by": who.by},
        )
        uow.commit()
    return OwnerChangeReceipt(account.account_no, change, refund, sms, handed_over, final_sms)


# Marks the leaving row of an agreement that ended by a change of owner (the hand-over file).
OWNER_CHANGE_NOTE = "change of owner"


def _fresh_credit_state(uow: UnitOfWork, account_id: int, now: dt.datetime) -> None:
    """The new owner owes nothing and was told nothing: normal, no warning, notice or pay-by,
    in a new cycle (so the new owner's first warning is not taken for the old owner's)."""
    state = uow.credit.state_of(account_id)
    if state is None:
        return  # never judged: the policy gives it a fresh state on its first run
    fresh = pl.DataFrame(
        [
            {
                "account_id": account_id,
                "state": CreditState.NORMAL.value,
                "cycle": state.cycle + 1,
                "warned_at": None,
                "notice_at": None,
                "pay_by": None,
                "second_notice_at": None,
                "supply": state.supply,
                "updated_at": now,
            }
        ],
        schema=STATE_SCHEMA,
    )
    uow.credit.save_states(fresh)


def _queue_final_statement(
    uow: UnitOfWork,
    settings: Settings,
    account: Account,
    enrolment_id: int,
    last_day: dt.date,
    balance_fen: int,
    now: dt.datetime,
) -> bool:
    """The old owner's final statement, to the old owner's phone (None: nobody to tell)."""
    if account.phone is None:
        return False
    values = {"account_no": account.account_no, "last_day": last_day, "balance_fen": balance_fen}
    body = render(
        MessageKind.OWNER_FINAL, account.language.value, brand_from_settings(settings), **values
    )
    message = pl.DataFrame(
        {
            "dedupe_key": [f"{MessageKind.OWNER_FINAL.value}/{account.id:010d}/{enrolment_id}"],
            "account_id": [account.id],
            "phone": [account.phone],
            "language": [account.language.value],
            "kind": [MessageKind.OWNER_FINAL.value],
            "body": [body],
            # the template's parameters, for a provider that sends templates (Alibaba Cloud)
            "params": [template_params(MessageKind.OWNER_FINAL, **values)],
            "created_at": [now],
        },
        schema=OUTBOX_SCHEMA,
    )
    return uow.outbox.add(message) == 1


def owner_changes(store: Store, account_no: str) -> list[OwnerChange]:
    account_id = parse_account_no(account_no)
    with store.reader() as uow:
        existing_account(uow, account_id)
        return uow.account_changes.owner_changes(account_id)


def _check_staff(actor: Actor, office_id: int, account_no: str, what: str) -> None:
    """Staff change an account at a counter, for their own office's households."""
    check_role(actor, COUNTER_ROLES, what)
    check_office_scope(actor, office_id, f"account {account_no}")
