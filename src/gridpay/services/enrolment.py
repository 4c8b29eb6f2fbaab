"""Use cases: sign the smart-payment agreement, leave it, contacts, protected customers, progress.

Enrolling and leaving are each one unit of work: the agreement, the billing mode, the contacts,
the protection flag, the refund of a remaining balance, a reconnect command and the customer's
SMS are written together or not at all (the SMS through the outbox, so it is sent only if the
change it announces was committed). An opening payment is taken after the enrolment commits,
through ``services.payments.take_payment``, so it is idempotent by its channel reference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.actors import COUNTER_ROLES, SYSTEM, Actor, check_office_scope, check_role
from gridpay.domain.commands import COMMAND_SCHEMA, PRIORITY, CommandAction, correlation_id
from gridpay.domain.credit_rules import task_closings
from gridpay.domain.enrolment import (
    AddContact,
    Agreement,
    Contact,
    ContactRole,
    Enrol,
    EnrolmentRequest,
    Leave,
    PositionSource,
    Protect,
    check_can_enrol,
    customer_contact,
    not_enrolled_message,
    opening_position_task,
    position_entered_closing,
    position_line,
    validate_contact,
    validate_enrolment,
    validate_leave,
    validate_protection,
)
from gridpay.domain.ledger import Transfer
from gridpay.domain.messages import (
    OUTBOX_SCHEMA,
    MessageKind,
    dedupe_key,
    render,
    template_params,
)
from gridpay.domain.payments import parse_account_no, validate_payment
from gridpay.domain.registry import Account, BillingMode
from gridpay.domain.settlement import position_transfers
from gridpay.errors import Conflict, InvalidInput, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services import leaving, payments
from gridpay.services.audit_trail import record
from gridpay.services.messaging import brand_from_settings
from gridpay.services.registry import existing_account
from gridpay.services.settlement import resettle_days


@dataclass(frozen=True)
class EnrolmentReceipt:
    account_no: str
    customer_name: str
    enrolment_id: int
    enrolled_on: dt.date
    channel: str  # office | online
    office_id: int | None
    contacts: tuple[Contact, ...]
    protection: str | None
    already_recorded: bool  # True: the account was enrolled already; nothing was written
    sms_queued: bool  # the agreement SMS went into the outbox with this enrolment
    # Taken after the enrolment committed (a failure there leaves the enrolment in place).
    opening_payment: payments.Receipt | None = None
    position: str = ""  # the opening position the first days are priced from, for people
    position_missing: bool = False  # flagged: a staff task asks for monthly billing's position
    # A position entered after some of the agreement's days were settled: they were re-priced
    # from it, and this is the net of the corrections (positive: the customer owes more).
    position_corrected_fen: int = 0


@dataclass(frozen=True)
class LeaveReceipt:
    account_no: str
    customer_name: str
    enrolment_id: int
    enrolled_on: dt.date
    left_on: dt.date
    # Known once the leaving day is settled (``closed_out``); else the night closes it out.
    refund: Transfer | None  # the remaining balance paid back (customer -> refunds payable)
    debt_fen: int  # a negative balance handed to monthly billing as a receivable (0 if none)
    balance_fen: int  # the prepaid ledger balance after leaving
    reconnect_queued: bool  # supply was off: a reconnect command was queued
    reconnect_impossible: str | None  # why a needed reconnect could not be queued
    sms_queued: int  # leave notices put in the outbox
    closed_out: bool = False  # the leaving day was settled already: the balance is settled up


@dataclass(frozen=True)
class ProtectionReceipt:
    account_no: str
    reason: str | None  # None: not (or no longer) protected
    note: str | None
    changed: bool


@dataclass(frozen=True)
class ContactsReceipt:
    account_no: str
    contacts: tuple[Contact, ...]
    added: bool | None = None  # None: only listed; False: that phone was a contact already


@dataclass(frozen=True)
class EnrolmentReport:
    first_day: dt.date
    last_day: dt.date
    rows: pl.DataFrame  # domain.enrolment.PROGRESS_SCHEMA


# --- enrol --------------------------------------------------------------------------------


def enrol(
    store: Store, clock: Clock, settings: Settings, cmd: Enrol, *, actor: Actor = SYSTEM
) -> EnrolmentReceipt:
    """Sign the agreement: prepaid from now on, contacts kept, SMS 1 queued; idempotent.

    ``actor`` is recorded in the audit log; a clerk enrols their own office's households."""
    with store.unit_of_work() as uow:
        office_ids = uow.registry.offices().keys()
        request = validate_enrolment(cmd, office_ids)
        if request.opening is not None:  # refuse a bad opening payment before anything is written
            validate_payment(
                request.opening,
                amount_fen_max=settings.payment_amount_fen_max,
                ref_chars_max=limits.payment_ref_chars_max,
                office_ids=office_ids,
            )
        account = existing_account(uow, request.account_id)
        _check_staff(actor, account.office_id, account.account_no, "enrolling")
        if request.office_id is not None:
            check_office_scope(actor, request.office_id, f"office {request.office_id}")
        check_can_enrol(account)
        receipt = _enrol_once(uow, clock, settings, account, request)
        if not receipt.already_recorded:
            record(
                uow,
                actor,
                "enrolment.enrol",
                clock.now(),
                account_id=account.id,
                subject=f"enrolment/{receipt.enrolment_id}",
                detail={"channel": receipt.channel, "office_id": receipt.office_id},
            )
            uow.commit()
    if request.opening is None:
        return receipt
    # Also on a retry: the payment is idempotent by its reference, so a retry after a crash
    # between the two transactions completes it, and a plain retry changes nothing.
    paid = payments.take_payment(store, clock, settings, request.opening, actor=actor)
    return replace(receipt, opening_payment=paid)


def _check_staff(actor: Actor, office_id: int, account_no: str, what: str) -> None:
    """Staff change an agreement at a counter, for their own office's households."""
    check_role(actor, COUNTER_ROLES, what)
    check_office_scope(actor, office_id, f"account {account_no}")


def _enrol_once(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    account: Account,
    request: EnrolmentRequest,
) -> EnrolmentReceipt:
    account_id = request.account_id
    existing = uow.enrolment.open_enrolment(account_id)
    if existing is not None and request.position is not None:
        if existing.opening is None:
            return _enter_position(uow, clock, account, existing, request)
        if existing.opening != request.position:
            raise Conflict(_position_conflict(account, existing, request))
    if existing is not None:
        return _receipt(uow, account, existing, already_recorded=True, sms_queued=False)
    contact = customer_contact(request, account)
    today, now = clock.today(), clock.now()
    _check_not_leaving(uow, account)
    start = _agreement_start(uow, account, today)
    # Only a household coming from monthly billing has a position there; one already prepaid
    # (before agreements were recorded) has its tier year in its own usage rows.
    from_monthly_billing = account.billing_mode != BillingMode.PREPAID
    enrolment_id = uow.enrolment.add_enrolment(
        account_id,
        start,
        now,
        request.channel.value,
        request.office_id,
        request.position,
        request.position_source if from_monthly_billing or request.position else None,
    )
    if enrolment_id is None:  # enrolled a moment ago by another clerk: theirs stands
        agreement = uow.enrolment.open_enrolment(account_id)
        assert agreement is not None
        return _receipt(uow, account, agreement, already_recorded=True, sms_queued=False)
    if request.position is None and from_monthly_billing:
        # Not left at zero silently: staff fetch the closing position from monthly billing.
        uow.credit.add_staff_tasks(opening_position_task(account, enrolment_id, today, now))
    uow.enrolment.set_billing_mode(account_id, BillingMode.PREPAID.value)
    _add_contact(uow, account_id, contact, now)
    if request.trusted is not None:
        _add_contact(uow, account_id, request.trusted, now)
    if request.protection is not None:
        uow.enrolment.set_protection(account_id, request.protection.value, None, now)
    values: dict[str, object] = {"account_no": account.account_no}
    body = render(
        MessageKind.AGREEMENT, contact.language.value, brand_from_settings(settings), **values
    )
    params = template_params(MessageKind.AGREEMENT, **values)
    # The agreement's id is the message's cycle: enrolling again after leaving sends it again.
    queued = _queue_sms(
        uow, MessageKind.AGREEMENT, account_id, enrolment_id, contact, (body, params), now
    )
    agreement = uow.enrolment.open_enrolment(account_id)
    assert agreement is not None
    return _receipt(uow, account, agreement, already_recorded=False, sms_queued=queued == 1)


def _check_not_leaving(uow: UnitOfWork, account: Account) -> None:
    """A new agreement waits for the last one's close-out: until its leaving day is settled,
    the balance still belongs to it."""
    pending = uow.leaving.pending(account.id)
    if pending is not None:
        raise Refused(
            f"account {account.account_no} left smart payment on {pending.left_on.isoformat()} "
            f"and that day is not settled yet: enrol again once it is (after the night's "
            f"settlement)"
        )


def _enter_position(
    uow: UnitOfWork,
    clock: Clock,
    account: Account,
    agreement: Agreement,
    request: EnrolmentRequest,
) -> EnrolmentReceipt:
    """The opening position staff fetched for an agreement signed without it.

    Days of the agreement already settled (priced from the reading of the day before and 0 kWh
    this tier year) are settled again from the position, and the differences posted as
    correcting transfers (``trueup/<account>/<day>/position-<agreement>``): never an edit of
    the charges posted. The position is entered once: the same figures again change nothing,
    other figures are refused (``_enrol_once``).
    """
    assert request.position is not None
    # Under the settlement lock: no night settles the agreement's days meanwhile.
    uow.lock_settlement(shared=False)
    if not uow.enrolment.set_opening_position(
        agreement.id, request.position, request.position_source
    ):
        raise Conflict(f"account {account.account_no}: the opening position changed meanwhile")
    uow.credit.close_staff_tasks(position_entered_closing(account.id, clock.today(), clock.now()))
    corrected_fen = resettle_days(
        uow,
        clock,
        [account.id],
        agreement.enrolled_on,
        lambda old, new: position_transfers(old, new, agreement.id),
    )
    entered = uow.enrolment.open_enrolment(account.id)
    assert entered is not None
    receipt = _receipt(uow, account, entered, already_recorded=False, sms_queued=False)
    return replace(receipt, position_corrected_fen=corrected_fen)


def _position_conflict(account: Account, agreement: Agreement, request: EnrolmentRequest) -> str:
    assert agreement.opening is not None and request.position is not None
    return (
        f"account {account.account_no} already has its opening position "
        f"({position_line(agreement)}); other figures are not typed over at the counter: if "
        "monthly billing's figures were wrong, billing corrects them"
    )


def _agreement_start(uow: UnitOfWork, account: Account, today: dt.date) -> dt.date:
    """Today, except for an account prepaid before agreements were recorded (prepaid, no
    agreement row): signing records the agreement it has been settled under since its first
    settled day, so none of its earlier charges falls outside an agreement."""
    account_id = account.id
    if account.billing_mode != BillingMode.PREPAID:
        return today
    if uow.enrolment.latest_enrolment(account_id) is not None:
        return today
    first = uow.enrolment.first_settled_day(account_id)
    return min(first, today) if first is not None else today


# --- leave --------------------------------------------------------------------------------


def leave(
    store: Store,
    clock: Clock,
    settings: Settings,
    account_no: str,
    note: str | None = None,
    *,
    actor: Actor = SYSTEM,
) -> LeaveReceipt:
    """End the agreement at the end of today: supply back on, no cut or task left behind.

    The leaving day is still prepaid: the night settles it with the meter's reading of the day
    (the closing reading), then closes the agreement out (``services.leaving``): the balance
    refunded or handed to monthly billing as owed, the account postpaid. If the leaving day is
    settled already, the close-out happens here, in the same transaction.
    """
    cmd = validate_leave(Leave(account_no, note))
    today, now = clock.today(), clock.now()
    with store.unit_of_work() as uow:
        account = existing_account(uow, cmd.account_id)
        _check_staff(actor, account.office_id, account.account_no, "leaving smart payment")
        agreement = uow.enrolment.open_enrolment(cmd.account_id)
        # Closing first takes the agreement's row: a second leave at the same moment waits here
        # and then finds nothing to close, so the balance cannot be settled up twice.
        if agreement is None or not uow.enrolment.close_enrolment(cmd.account_id, today, now):
            latest = uow.enrolment.latest_enrolment(cmd.account_id)
            left_on = latest.left_on if latest is not None else None
            raise Refused(not_enrolled_message(account.account_no, left_on))
        uow.leaving.add_leaving(
            agreement.id, cmd.account_id, agreement.enrolled_on, today, now, cmd.note
        )
        settled = uow.leaving.settled_leaving_days(cmd.account_id)
        closed = leaving.close_out(uow, settled[0], now) if settled else None
        reconnect_queued, impossible = _reconnect_if_off(uow, cmd.account_id, now)
        # The debt's tasks (call, read the meter, cut on site) end with the agreement.
        uow.credit.close_staff_tasks(
            task_closings(cmd.account_id, "agreement_ended", f"the agreement ended on {today}", now)
        )
        refund = _refund_of(closed)
        sms = _queue_leave_sms(uow, settings, account, agreement.id, refund, now)
        balance_fen = uow.ledger.balance_fen(cmd.account_id)
        record(
            uow,
            actor,
            "enrolment.leave",
            now,
            account_id=cmd.account_id,
            subject=f"enrolment/{agreement.id}",
            reason=cmd.note,
            detail={"closed_out": closed is not None, "balance_fen": balance_fen},
        )
        uow.commit()
    return LeaveReceipt(
        account_no=account.account_no,
        customer_name=account.name,
        enrolment_id=agreement.id,
        enrolled_on=agreement.enrolled_on,
        left_on=today,
        refund=refund,
        debt_fen=max(0, -closed.balance_fen) if closed is not None else 0,
        balance_fen=balance_fen,
        reconnect_queued=reconnect_queued,
        reconnect_impossible=impossible,
        sms_queued=sms,
        closed_out=closed is not None,
    )


def _refund_of(closed: leaving.ClosedOut | None) -> Transfer | None:
    if closed is None or closed.transfer is None or closed.balance_fen <= 0:
        return None
    return closed.transfer


def _reconnect_if_off(
    uow: UnitOfWork, account_id: int, now: dt.datetime
) -> tuple[bool, str | None]:
    """A customer who leaves while cut off gets supply back; no queued cut survives them."""
    uow.commands.cancel_queued(account_id, CommandAction.DISCONNECT.value, now)
    supply, cycle = uow.enrolment.supply(account_id)
    if supply != "off":
        return False, None
    in_service = [m for m in uow.registry.meters_of(account_id) if m.in_service]
    if len(in_service) != 1:
        return False, (
            f"supply is off but the account has {len(in_service)} meters in service: "
            f"reconnect it by hand"
        )
    meter_id = in_service[0].id
    action = CommandAction.RECONNECT
    command = pl.DataFrame(
        {
            "correlation_id": [correlation_id(action, account_id, cycle)],
            "account_id": [account_id],
            "meter_id": [meter_id],
            "action": [action.value],
            "priority": [PRIORITY[action]],
            "created_at": [now],
        },
        schema=COMMAND_SCHEMA,
    )
    # Skipped if the credit policy already queued this cycle's reconnect: one is enough.
    uow.commands.enqueue(command)
    return True, None


def _queue_leave_sms(
    uow: UnitOfWork,
    settings: Settings,
    account: Account,
    enrolment_id: int,
    refund: Transfer | None,
    now: dt.datetime,
) -> int:
    account_id = account.id
    customers = [c for c in uow.enrolment.contacts(account_id) if c.role is ContactRole.CUSTOMER]
    queued = 0
    for contact in customers:  # one or two phones, not a loop over accounts
        values: dict[str, object] = {
            "account_no": account.account_no,
            "refund_fen": refund.amount_fen if refund is not None else 0,
        }
        body = render(
            MessageKind.LEFT, contact.language.value, brand_from_settings(settings), **values
        )
        texts = (body, template_params(MessageKind.LEFT, **values))
        queued += _queue_sms(uow, MessageKind.LEFT, account_id, enrolment_id, contact, texts, now)
    return queued


# --- contacts and protection --------------------------------------------------------------


def protect(
    store: Store, clock: Clock, cmd: Protect, *, actor: Actor = SYSTEM
) -> ProtectionReceipt:
    """Flag a protected customer (never cut remotely: staff and family are told instead)."""
    account_id, reason, note = validate_protection(cmd)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        _check_staff(actor, account.office_id, account.account_no, "protecting a customer")
        before = uow.enrolment.protection(account_id)
        unchanged = (before is None and reason is None) or (
            before is not None
            and reason is not None
            and before.reason is reason
            and before.note == note
        )
        if not unchanged:
            uow.enrolment.set_protection(
                account_id, reason.value if reason else None, note, clock.now()
            )
            record(
                uow,
                actor,
                "enrolment.protect",
                clock.now(),
                account_id=account_id,
                reason=note,
                detail={"protection": reason.value if reason else None},
            )
            uow.commit()
    return ProtectionReceipt(
        account_no=account.account_no,
        reason=reason.value if reason else None,
        note=note if reason else None,
        changed=not unchanged,
    )


def add_contact(store: Store, clock: Clock, cmd: AddContact) -> ContactsReceipt:
    account_id, contact = validate_contact(cmd)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        added = _add_contact(uow, account_id, contact, clock.now())
        if added:
            uow.commit()
        listed = tuple(uow.enrolment.contacts(account_id))
    return ContactsReceipt(account.account_no, listed, added=added)


def list_contacts(store: Store, account_no: str) -> ContactsReceipt:
    account_id = parse_account_no(account_no)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        return ContactsReceipt(account.account_no, tuple(uow.enrolment.contacts(account_id)))


# --- the progress report ------------------------------------------------------------------


def enrolment_report(
    store: Store, clock: Clock, first_day: dt.date | None = None, last_day: dt.date | None = None
) -> EnrolmentReport:
    """Per day and office: enrolled that day, in force so far, eligible, the share.

    By default from the first agreement on record to today.
    """
    with store.unit_of_work() as uow:
        last = last_day or clock.today()
        first = first_day or uow.enrolment.first_enrolled_on() or last
        if first > last:
            raise InvalidInput(f"--from {first.isoformat()} is after --to {last.isoformat()}")
        days = (last - first).days + 1
        if days > limits.enrolment_report_days_max:
            raise InvalidInput(
                f"the report covers {days} days; at most {limits.enrolment_report_days_max} "
                f"(narrow --from/--to)"
            )
        rows = uow.enrolment.report(first, last)
    return EnrolmentReport(first, last, rows)


# --- helpers ------------------------------------------------------------------------------


def _add_contact(uow: UnitOfWork, account_id: int, contact: Contact, now: dt.datetime) -> bool:
    return uow.enrolment.add_contact(
        account_id, contact.phone, contact.role.value, contact.language.value, contact.name, now
    )


def _queue_sms(
    uow: UnitOfWork,
    kind: MessageKind,
    account_id: int,
    cycle: int,
    contact: Contact,
    texts: tuple[str, str],  # the body and the template parameters (JSON)
    now: dt.datetime,
) -> int:
    body, params = texts
    message = pl.DataFrame(
        {
            "dedupe_key": [dedupe_key(kind, account_id, cycle, contact.phone)],
            "account_id": [account_id],
            "phone": [contact.phone],
            "language": [contact.language.value],
            "kind": [kind.value],
            "body": [body],
            "created_at": [now],
            "params": [params],
        },
        schema=OUTBOX_SCHEMA,
    )
    return uow.outbox.add(message)


def _receipt(
    uow: UnitOfWork,
    account: Account,
    agreement: Agreement,
    *,
    already_recorded: bool,
    sms_queued: bool,
) -> EnrolmentReceipt:
    protection = uow.enrolment.protection(account.id)
    return EnrolmentReceipt(
        account_no=account.account_no,
        customer_name=account.name,
        enrolment_id=agreement.id,
        enrolled_on=agreement.enrolled_on,
        channel=agreement.channel.value,
        office_id=agreement.office_id,
        contacts=tuple(uow.enrolment.contacts(account.id)),
        protection=protection.reason.value if protection else None,
        already_recorded=already_recorded,
        sms_queued=sms_queued,
        position=position_line(agreement),
        position_missing=agreement.position_source is PositionSource.MISSING,
    )
