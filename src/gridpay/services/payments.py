"""Use cases: take a payment, refund a balance, reverse a payment or a refund.

Each is one function and one unit of work, committed explicitly (rolled back on any error). All
three post a single transfer with a deterministic id, so a retry is a no-op that returns the
original, and the same id asked for a different operation is refused with ``Conflict``. Nothing
is ever edited or deleted: a mistake is undone by a reversal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.actors import (
    COUNTER_ROLES,
    FINANCE_ROLES,
    SYSTEM,
    Actor,
    Role,
    check_office_scope,
    check_role,
)
from gridpay.domain.audit_trail import AuditEntry, entry
from gridpay.domain.credit_policy import RESTORABLE_STATES
from gridpay.domain.ledger import Channel, Transfer, TransferKind, customer_ledger_id, payout_id
from gridpay.domain.money import format_fen
from gridpay.domain.payments import (
    Refund,
    Reverse,
    TakePayment,
    conflict_message,
    parse_note,
    payment_transfer,
    refund_transfer,
    reversal_transfer,
    same_request,
    validate_payment,
    validate_refund,
)
from gridpay.domain.registry import Account, BillingMode
from gridpay.errors import Conflict, GridpayError, NotFound, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.credit import Policy, after_adjustment, after_payment
from gridpay.services.registry import existing_account


@dataclass(frozen=True)
class Receipt:
    """What was posted (or found already posted) and the account's balance afterwards."""

    transfer: Transfer
    account_no: str
    customer_name: str
    balance_fen: int  # the balance now: after this posting, or today's for a retry
    already_recorded: bool  # True: a retry of an operation posted before; nothing was written


def take_payment(
    store: Store,
    clock: Clock,
    settings: Settings,
    cmd: TakePayment,
    credit: Policy | None = None,
    *,
    actor: Actor = SYSTEM,
) -> Receipt:
    """Credit a prepaid account with a payment from a channel, at most once per (channel, ref).

    With the credit policy given (every entry point passes it), a payment that brings the
    balance back above zero queues the reconnect command and SMS 4 in its own transaction.
    ``actor`` is recorded in the audit log with it (a clerk: their own office's households, at
    their own office's counter; the shift close counts their payments from there).
    """
    with store.unit_of_work() as uow:
        receipt = take_payment_in(uow, clock, settings, cmd, credit, actor=actor)
        uow.commit()
    return receipt


def take_payment_in(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    cmd: TakePayment,
    credit: Policy | None = None,
    *,
    actor: Actor = SYSTEM,
    account: Account | None = None,
) -> Receipt:
    """``take_payment`` inside the caller's unit of work (committed by the caller), for a use
    case whose own records must land in the same transaction as the payment (a wallet order).

    ``account``: the paid account as the caller read it in this unit of work, if it did."""
    request = validate_payment(
        cmd,
        amount_fen_max=settings.payment_amount_fen_max,
        ref_chars_max=limits.payment_ref_chars_max,
        # the offices are read only when they matter: a counter payment names one
        office_ids=_OfficeIds(uow),
    )
    if account is None:
        account = existing_account(uow, request.account_id)
    assert account.id == request.account_id, (account, request)
    # Finance may post a partner's payment (a statement line it confirmed), never counter cash.
    roles = COUNTER_ROLES if request.channel is Channel.COUNTER else COUNTER_ROLES | FINANCE_ROLES
    _check_counter_staff(actor, account, request.office_id, "taking a payment", roles)
    transfer = payment_transfer(request, clock.today())
    _lock(uow, transfer)
    if account.billing_mode is not BillingMode.PREPAID:
        retry = _find_retry(uow, transfer)
        if retry is not None:  # the original receipt, even if the account has changed since
            return _receipt(uow, account, retry, already_recorded=True)
        raise Refused(
            f"account {account.account_no} is {account.billing_mode.value}: only prepaid "
            f"accounts take payments into a prepaid balance"
        )
    # Posted first, judged as a retry only if the id is taken: a new payment (nearly every
    # one) then costs no read of the transfers before its insert.
    receipt = _post_new(uow, account, transfer, clock.now())
    if not receipt.already_recorded:
        _record(uow, actor, "payment.take", clock, receipt.transfer, receipt.balance_fen)
    if credit is not None and not receipt.already_recorded:
        after_payment(
            uow, clock, credit, request.account_id, request.amount_fen, receipt.balance_fen
        )
    return receipt


@dataclass(frozen=True)
class PaymentIn:
    """One payment of ``take_payments_in``: what to post, into which account, by whom."""

    cmd: TakePayment
    account: Account  # the paid account as the caller read it in this unit of work
    actor: Actor


def take_payments_in(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    payments: Sequence[PaymentIn],
    credit: Policy | None = None,
) -> list[Receipt | GridpayError]:
    """``take_payment_in`` for several payments in the caller's unit of work, each one's
    receipt or refusal in order; a refused payment writes nothing.

    The same rules, with the writes of all of them made together: their ledger rows locked in
    one statement, their transfers inserted in one, every moved balance updated in one (a
    channel's clearing row once, however many payments it takes), their audit entries in one
    executemany and their credit states read in one. Only a payment that restores an account
    in debt, one into an account that is not prepaid, or one whose id is taken already (a retry
    or a conflict) goes the way ``take_payment_in`` goes, on its own."""
    outcomes: list[Receipt | GridpayError | None] = [None] * len(payments)
    today, now = clock.today(), clock.now()
    office_ids = _OfficeIds(uow)
    fresh: list[tuple[int, Transfer]] = []  # (index, transfer) to post together
    alone: list[int] = []  # taken one by one after them (their outcome needs a read first)
    ids: set[str] = set()
    for i, payment in enumerate(payments):
        try:
            request = validate_payment(
                payment.cmd,
                amount_fen_max=settings.payment_amount_fen_max,
                ref_chars_max=limits.payment_ref_chars_max,
                office_ids=office_ids,
            )
            assert payment.account.id == request.account_id, (payment.account, request)
            roles = (
                COUNTER_ROLES
                if request.channel is Channel.COUNTER
                else COUNTER_ROLES | FINANCE_ROLES
            )
            _check_counter_staff(
                payment.actor, payment.account, request.office_id, "taking a payment", roles
            )
        except GridpayError as exc:
            outcomes[i] = exc
            continue
        transfer = payment_transfer(request, today)
        if payment.account.billing_mode is not BillingMode.PREPAID or transfer.id in ids:
            alone.append(i)
            continue
        ids.add(transfer.id)
        fresh.append((i, transfer))
    transfers = [t for _, t in fresh]
    uow.ledger.lock_ledger_accounts(
        [a for t in transfers for a in (t.debit_account_id, t.credit_account_id)]
    )
    posted, balances = uow.ledger.post_many_returning_balances(transfers, now)
    # Each receipt shows the balance right after its own payment: the balance after all of
    # them, less the batch's later payments into the same account.
    later_fen: dict[int, int] = {}
    receipts: list[tuple[int, Receipt]] = []
    for i, transfer in reversed(fresh):
        if transfer.id not in posted:
            alone.append(i)
            continue
        ledger_id = transfer.credit_account_id
        account = payments[i].account
        receipts.append(
            (
                i,
                Receipt(
                    transfer=transfer,
                    account_no=account.account_no,
                    customer_name=account.name,
                    balance_fen=balances[ledger_id] - later_fen.get(ledger_id, 0),
                    already_recorded=False,
                ),
            )
        )
        later_fen[ledger_id] = later_fen.get(ledger_id, 0) + transfer.amount_fen
    receipts.reverse()
    uow.audit_log.record_many(
        [
            _audit_entry(payments[i].actor, "payment.take", now, r.transfer, r.balance_fen)
            for i, r in receipts
        ]
    )
    states = (
        uow.credit.states_of(
            [r.transfer.account_id for _, r in receipts if r.transfer.account_id], lock=True
        )
        if credit is not None and receipts
        else {}
    )
    for i, receipt in receipts:
        outcomes[i] = receipt
        account_id = payments[i].account.id
        state = states.get(account_id)
        if credit is not None and state is not None and state.state in RESTORABLE_STATES:
            after_payment(
                uow, clock, credit, account_id, receipt.transfer.amount_fen, receipt.balance_fen
            )
    for i in sorted(alone):
        payment = payments[i]
        try:
            outcomes[i] = take_payment_in(
                uow,
                clock,
                settings,
                payment.cmd,
                credit,
                actor=payment.actor,
                account=payment.account,
            )
        except GridpayError as exc:  # refused before anything of it was written
            outcomes[i] = exc
    assert all(o is not None for o in outcomes), outcomes
    return [o for o in outcomes if o is not None]


def refund(
    store: Store,
    clock: Clock,
    settings: Settings,
    cmd: Refund,
    credit: Policy | None = None,
    *,
    actor: Actor = SYSTEM,
) -> Receipt:
    """Pay back part of a prepaid balance (customer -> refunds payable); never more than it.

    With the credit policy given, the account is judged in the same transaction (a refund can
    take it below its warning line)."""
    with store.unit_of_work() as uow:
        request = validate_refund(
            cmd,
            amount_fen_max=settings.payment_amount_fen_max,
            ref_chars_max=limits.payment_ref_chars_max,
        )
        account = existing_account(uow, request.account_id)
        _check_counter_staff(actor, account, None, "a refund")
        transfer = refund_transfer(request, clock.today())
        _lock(uow, transfer)
        retry = _find_retry(uow, transfer)
        if retry is not None:
            return _receipt(uow, account, retry, already_recorded=True)
        balance_fen = uow.ledger.balance_fen(request.account_id)
        if request.amount_fen > balance_fen:
            raise Refused(
                f"refund of {format_fen(request.amount_fen)} yuan exceeds the balance of "
                f"account {account.account_no}, {format_fen(balance_fen)} yuan"
            )
        receipt = _post_new(uow, account, transfer, clock.now())
        if not receipt.already_recorded:
            _record(uow, actor, "payment.refund", clock, receipt.transfer, receipt.balance_fen)
        if credit is not None and not receipt.already_recorded:
            after_adjustment(uow, clock, credit, request.account_id)
        uow.commit()
    return receipt


def reverse(
    store: Store,
    clock: Clock,
    cmd: Reverse,
    credit: Policy | None = None,
    *,
    actor: Actor = SYSTEM,
) -> Receipt:
    """Undo a payment or a refund with its mirror transfer; reversing twice is a no-op.

    With the credit policy given, the account is judged in the same transaction: a reversed
    payment can put it in arrears (notice at once), a reversed refund restore it."""
    transfer_id = cmd.transfer_id.strip()
    with store.unit_of_work() as uow:
        original = uow.ledger.get_transfer(transfer_id)
        if original is None:
            raise NotFound(f"transfer {transfer_id!r} does not exist")
        reversal = reversal_transfer(original, clock.today(), parse_note(cmd.note))
        if original.kind is TransferKind.REFUND and _paid_out(uow, original):
            # The money has left: undoing the refund would give it to the household twice.
            raise Refused(f"refund {original.id} was paid out already: it cannot be reversed")
        assert original.account_id is not None  # payments and refunds always name the account
        account = existing_account(uow, original.account_id)
        _check_counter_staff(actor, account, original.office_id, "a reversal")
        receipt = _post_once(uow, account, reversal, clock.now())
        if not receipt.already_recorded:
            _record(uow, actor, "payment.reverse", clock, receipt.transfer, receipt.balance_fen)
        if credit is not None and not receipt.already_recorded:
            after_adjustment(uow, clock, credit, original.account_id)
        uow.commit()
    return receipt


# --- helpers: decisions above, work here -------------------------------------------------


def _check_counter_staff(
    actor: Actor,
    account: Account,
    office_id: int | None,
    what: str,
    roles: frozenset[Role] = COUNTER_ROLES,
) -> None:
    """Staff move money at a counter only, for their own office's households, and a counter
    payment they take names their own office."""
    check_role(actor, roles, what)
    check_office_scope(actor, account.office_id, f"account {account.account_no}")
    if office_id is not None:
        check_office_scope(actor, office_id, f"the counter of office {office_id}")


def _record(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    clock: Clock,
    transfer: Transfer,
    balance_fen: int,
) -> None:
    uow.audit_log.record(_audit_entry(actor, action, clock.now(), transfer, balance_fen))


def _audit_entry(
    actor: Actor, action: str, at: dt.datetime, transfer: Transfer, balance_fen: int
) -> AuditEntry:
    return entry(
        actor,
        action,
        at,
        account_id=transfer.account_id,
        subject=transfer.id,
        amount_fen=transfer.amount_fen,
        reason=transfer.note,
        detail={
            "channel": transfer.channel,
            "office_id": transfer.office_id,
            "ref": transfer.ref,
            "balance_fen": balance_fen,  # after this posting: what the printed receipt shows
        },
    )


class _OfficeIds(Collection[int]):
    """The service offices' ids, read from the store the first time they are asked about."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._ids: Collection[int] | None = None

    def _load(self) -> Collection[int]:
        if self._ids is None:
            self._ids = set(self._uow.registry.offices())
        return self._ids

    def __contains__(self, office_id: object) -> bool:
        return office_id in self._load()

    def __iter__(self) -> Iterator[int]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _paid_out(uow: UnitOfWork, refund: Transfer) -> bool:
    return refund.ref is not None and uow.ledger.get_transfer(payout_id(refund.ref)) is not None


def _lock(uow: UnitOfWork, transfer: Transfer) -> None:
    uow.ledger.lock_ledger_accounts([transfer.debit_account_id, transfer.credit_account_id])


def _find_retry(uow: UnitOfWork, transfer: Transfer) -> Transfer | None:
    """The transfer already posted under this id if it is the same operation; else Conflict."""
    existing = uow.ledger.get_transfer(transfer.id)
    if existing is None:
        return None
    if not same_request(existing, transfer):
        raise Conflict(conflict_message(existing, transfer))
    return existing


def _post_once(uow: UnitOfWork, account: Account, transfer: Transfer, now: dt.datetime) -> Receipt:
    _lock(uow, transfer)
    retry = _find_retry(uow, transfer)
    if retry is not None:
        return _receipt(uow, account, retry, already_recorded=True)
    return _post_new(uow, account, transfer, now)


def _post_new(uow: UnitOfWork, account: Account, transfer: Transfer, now: dt.datetime) -> Receipt:
    """Post a transfer, or find it a retry of one posted under its id (under this unit of work's
    locks): Conflict if it is another operation under the same id."""
    try:
        balances = uow.ledger.post_returning_balances(transfer, now)
    except Conflict:
        balances = None  # posted before with another day or note: judged as a retry below
    if balances is not None:
        return Receipt(
            transfer=transfer,
            account_no=account.account_no,
            customer_name=account.name,
            balance_fen=balances[customer_ledger_id(account.id)],
            already_recorded=False,
        )
    retry = _find_retry(uow, transfer)
    assert retry is not None
    return _receipt(uow, account, retry, already_recorded=True)


def _receipt(
    uow: UnitOfWork, account: Account, transfer: Transfer, *, already_recorded: bool
) -> Receipt:
    return Receipt(
        transfer=transfer,
        account_no=account.account_no,
        customer_name=account.name,
        balance_fen=uow.ledger.balance_fen(account.id),
        already_recorded=already_recorded,
    )
