"""Use cases of paying online: make an order, take the wallet's callback, ask about stale orders.

A credit lands only after the notification's signature (the adapter), app id, order, amount,
account and status are verified; it goes through ``take_payment`` on channel ``app`` with the
order id as the reference, so the transfer id ``pay/app/<order id>`` makes every retry, replay or
concurrent duplicate a no-op. Every callback is recorded with its outcome; a refused one credits
nothing and is logged (masked).

A notification that passes every check for an order already credited (the wallet resends one
until it reads "success": a lost answer would make it retry for a day) is answered "success"
and recorded as a ``duplicate``: nothing is credited twice, and nothing about it needs staff.
Tampered, mismatched and unsigned notifications are refused, resent or not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.credit_policy import CreditState
from gridpay.domain.payments import (
    TakePayment,
    format_account_no,
    parse_account_no,
    parse_amount_fen,
)
from gridpay.domain.registry import BillingMode
from gridpay.domain.text import mask_phones
from gridpay.domain.wallet import (
    CLOSED_STATUS,
    NOT_FOUND_STATUS,
    OPEN_STATES,
    SUCCESS_STATUSES,
    CallbackRecord,
    Notification,
    OrderState,
    Refusal,
    WalletOrder,
    amount_text,
    check_notification,
    is_order_id,
    new_order_id,
)
from gridpay.errors import DeliveryFailed, InvalidInput, NotFound, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.payments_online import PaymentProvider
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.credit import Policy
from gridpay.services.group_commit import each_in_savepoint
from gridpay.services.payments import take_payment_in
from gridpay.services.registry import existing_account

log = logging.getLogger("gridpay.wallet")

WALLET_CHANNEL = "app"
# An order a late payment may still credit: closed at our side does not mean unpaid at the
# wallet's, and the household's money must land.
_CREDITABLE = frozenset({OrderState.CREATED, OrderState.PAID, OrderState.CLOSED})


@dataclass(frozen=True)
class OrderMade:
    order_id: str
    pay_url: str  # the wallet's page where the household confirms


@dataclass(frozen=True)
class CallbackOutcome:
    """What a callback did. ``accepted``: answer the wallet ``success`` (it stops resending)."""

    accepted: bool
    outcome: str  # "credited", "duplicate", "closed", "failed", or a ``Refusal`` value
    order_id: str | None = None
    refusal: Refusal | None = None


@dataclass
class QueryReport:
    """One pass of the query fallback over orders left open."""

    asked: int = 0
    credited: int = 0
    closed: int = 0
    still_open: int = 0
    unanswered: int = 0  # the wallet could not be asked


def make_order(
    store: Store,
    clock: Clock,
    settings: Settings,
    wallet: PaymentProvider,
    account_no: str,
    amount_yuan: str,
) -> OrderMade:
    """Record an order for a prepaid account and register it at the wallet."""
    account_id = parse_account_no(account_no)
    amount_fen = parse_amount_fen(amount_yuan, settings.payment_amount_fen_max)
    now = clock.now()
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        if account.billing_mode is not BillingMode.PREPAID:
            raise Refused(f"account {account.account_no} is not prepaid: it cannot pay online")
        order = WalletOrder(
            order_id=new_order_id(secrets.token_hex(12)),
            account_id=account_id,
            amount_fen=amount_fen,
            state=OrderState.CREATED,
            created_at=now,
            updated_at=now,
        )
        uow.wallet.insert_order(order)
        uow.commit()
    # Outside the transaction: a wallet that does not answer leaves a created order, which the
    # query fallback closes.
    subject = f"{settings.company_name_zh} 电费 {format_account_no(account_id)}"
    pay_url = wallet.create_order(order, format_account_no(account_id), subject)
    if len(pay_url) > limits.wallet_pay_url_chars_max or not pay_url.startswith(
        ("http://", "https://")
    ):
        raise DeliveryFailed(f"the wallet's page for order {order.order_id} is not a web address")
    with store.unit_of_work() as uow:
        uow.wallet.set_pay_url(order.order_id, pay_url)
        uow.commit()
    return OrderMade(order.order_id, pay_url)


def accept_callback(
    store: Store,
    clock: Clock,
    settings: Settings,
    wallet: PaymentProvider,
    credit: Policy | None,
    params: Mapping[str, str],
) -> CallbackOutcome:
    """Judge one notification; credit its order exactly once if every check passes.

    One transaction: the order is claimed (or locked), judged, credited and marked together, so
    concurrent duplicates queue behind each other and the second finds the first's credit."""
    verified = wallet.verify_notification(params)
    try:
        with store.unit_of_work() as uow:
            outcome = _accept_in(uow, clock, settings, credit, params, verified)
            uow.commit()
    except Refused as exc:  # the account refused the credit: nothing of the attempt stays
        assert isinstance(verified, Notification)  # only a credit refuses
        with store.unit_of_work() as uow:
            outcome = _fail_in(
                uow, clock, verified.order_id, verified.trade_no, verified.notify_id, exc
            )
            uow.commit()
    return outcome


def accept_many(
    store: Store,
    clock: Clock,
    settings: Settings,
    wallet: PaymentProvider,
    credit: Policy | None,
    batch: Sequence[Mapping[str, str]],
) -> list[CallbackOutcome | Exception]:
    """``accept_callback`` for several notifications in one transaction (one commit for all:
    ``services.group_commit`` joins the callbacks that arrive together), each in a savepoint of
    its own, so one refused or failing callback writes only its record and takes nothing from
    the others. Each callback's outcome, in order."""
    if len(batch) == 1:  # alone: the one-transaction path, no savepoints needed
        try:
            return [accept_callback(store, clock, settings, wallet, credit, batch[0])]
        except Exception as exc:  # noqa: BLE001 (answered to its own request)
            return [exc]
    verified = [wallet.verify_notification(params) for params in batch]  # CPU only, no I/O
    with store.unit_of_work() as uow:
        pairs = list(zip(batch, verified, strict=True))
        outcomes = each_in_savepoint(
            uow.wallet.savepoint,
            pairs,
            lambda one: _accept_in(uow, clock, settings, credit, one[0], one[1]),
        )
        # A credit the account refused was undone with its savepoint (the order's claim too);
        # the order's failure is recorded now, each in a savepoint of its own again.
        refused = [(i, exc) for i, exc in enumerate(outcomes) if isinstance(exc, Refused)]
        failures = each_in_savepoint(
            uow.wallet.savepoint,
            refused,
            lambda one: _fail_saved(uow, clock, pairs[one[0]][1], one[1]),
        )
        for (i, _), failure in zip(refused, failures, strict=True):
            outcomes[i] = failure
        uow.commit()
    return outcomes


def _fail_saved(
    uow: UnitOfWork, clock: Clock, verified: Notification | Refusal, exc: Refused
) -> CallbackOutcome:
    assert isinstance(verified, Notification)  # only a credit refuses
    return _fail_in(uow, clock, verified.order_id, verified.trade_no, verified.notify_id, exc)


def _accept_in(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    credit: Policy | None,
    params: Mapping[str, str],
    verified: Notification | Refusal,
) -> CallbackOutcome:
    """One callback in the caller's transaction. A good first notification (nearly every one)
    claims its order in one statement and credits it; any other is judged on the order as it
    stands: refused, a close, or a repeat of a credit (answered success, nothing credited).
    Raises ``Refused`` if the account refuses the credit (the caller undoes the attempt)."""
    if isinstance(verified, Refusal):
        return _refuse(uow, clock, params, verified, f"signature check: {verified.value}")
    claimed = _claim(uow, clock, settings, verified)
    if claimed is not None:
        return _credit_in(uow, clock, settings, credit, claimed, verified.notify_id)
    order = uow.wallet.get_order(verified.order_id, lock=True)
    return _judge(uow, clock, settings, credit, params, verified, order)


def query_open_orders(
    store: Store,
    clock: Clock,
    settings: Settings,
    wallet: PaymentProvider,
    credit: Policy | None,
    limit: int = limits.wallet_query_orders_max,
) -> QueryReport:
    """Ask the wallet about orders still open ``wallet_query_after_s`` after they were made:
    credit the paid ones (the same way a callback does), close the expired or closed ones."""
    now = clock.now()
    report = QueryReport()
    asked_before = now - dt.timedelta(seconds=settings.wallet_query_after_s)
    with store.reader() as uow:
        orders = uow.wallet.orders_in(OPEN_STATES, asked_before, limit)
    for order in orders:
        report.asked += 1
        try:
            status = wallet.query_order(order.order_id)
        except DeliveryFailed as exc:
            report.unanswered += 1
            log.warning(mask_phones(f"wallet query for {order.order_id} failed: {exc.message}"))
            continue
        account_no = format_account_no(order.account_id)
        if (
            status.trade_status in SUCCESS_STATUSES
            and status.amount_fen == order.amount_fen
            and status.account_no == account_no
        ):
            outcome = _credit(store, clock, settings, credit, order, status.trade_no)
            report.credited += outcome.outcome == "credited"
        elif status.trade_status in (CLOSED_STATUS, NOT_FOUND_STATUS) or _expired(
            order, now, settings
        ):
            with store.unit_of_work() as uow:
                uow.wallet.set_state(
                    order.order_id, OrderState.CLOSED, now, from_states=OPEN_STATES
                )
                uow.commit()
            report.closed += 1
        else:
            report.still_open += 1
    return report


def recent_callbacks(
    store: Store,
    *,
    refused_only: bool,
    since: dt.datetime | None = None,
    limit: int = limits.wallet_callbacks_listed_default,
) -> list[CallbackRecord]:
    """The callbacks received since ``since``, newest first: all, or the refused ones only
        (signature, order, amount, account or status wrong: nothing credited). A resent notification
    of a credited order is no refusal: it is listed among all callbacks as a ``duplicate``."""
    if not 1 <= limit <= limits.wallet_callbacks_listed_max:
        raise InvalidInput(f"limit must be 1..{limits.wallet_callbacks_listed_max}, not {limit}")
    outcomes = {r.value for r in Refusal} if refused_only else None
    with store.reader() as uow:
        return list(uow.wallet.recent_callbacks(outcomes, since, limit))


@dataclass(frozen=True)
class OrderView:
    """An order as its household sees it, with the account's balance and supply afterwards."""

    order: WalletOrder
    balance_fen: int
    restoring: bool  # a reconnect is on its way (the credit policy queued it)
    supply_on: bool


def order_view(store: Store, order_id: str, account_no: str) -> OrderView:
    """The order if it is this account's; another household's order is as good as missing."""
    with store.reader() as uow:
        order = uow.wallet.get_order(order_id) if is_order_id(order_id) else None
        if order is None or format_account_no(order.account_id) != account_no:
            raise NotFound("no such order for this account")
        state = uow.credit.state_of(order.account_id)
        balance_fen = uow.ledger.balance_fen(order.account_id)
    return OrderView(
        order=order,
        balance_fen=balance_fen,
        restoring=state is not None and state.state is CreditState.RECONNECTING,
        supply_on=state is None or state.supply == "on",
    )


# --- helpers: decisions above, work here -------------------------------------------------


def _expired(order: WalletOrder, now: dt.datetime, settings: Settings) -> bool:
    return (now - order.created_at).total_seconds() > settings.wallet_order_expire_s


def _claim(
    uow: UnitOfWork, clock: Clock, settings: Settings, verified: Notification
) -> WalletOrder | None:
    """The order moved to credited, if the notification passes every check against it
    (``check_notification``'s rules, asked of the database in the move); else None."""
    if verified.app_id != settings.wallet_app_id or verified.trade_status not in SUCCESS_STATUSES:
        return None
    try:
        account_id = parse_account_no(verified.account_no)
    except InvalidInput:
        return None
    if format_account_no(account_id) != verified.account_no:
        return None
    return uow.wallet.claim_order(
        verified.order_id,
        amount_fen=verified.amount_fen,
        account_id=account_id,
        from_states=_CREDITABLE,
        state=OrderState.CREDITED,
        now=clock.now(),
        trade_no=verified.trade_no,
    )


def _judge(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    credit: Policy | None,
    params: Mapping[str, str],
    verified: Notification,
    order: WalletOrder | None,
) -> CallbackOutcome:
    """A notification that could not claim its order: why not, from the order as it stands."""
    account_no = format_account_no(order.account_id) if order is not None else None
    broken = check_notification(verified, order, settings.wallet_app_id or "", account_no)
    if broken is not None and verified.trade_status == CLOSED_STATUS and order is not None:
        return _close(uow, clock, verified, order)
    if broken is not None:
        return _refuse(uow, clock, params, *broken)
    assert order is not None
    # Every check passes, so the order was credited already (by this very notification, which
    # the wallet resends until it reads "success", by another of the same payment, or by the
    # query), or it failed. Through the payment again: its transfer id finds the credit, and
    # the wallet is answered success with nothing credited twice.
    _mark_credited(uow, clock, order, verified.trade_no)
    return _credit_in(uow, clock, settings, credit, order, verified.notify_id)


def _credit(
    store: Store,
    clock: Clock,
    settings: Settings,
    credit: Policy | None,
    order: WalletOrder,
    trade_no: str | None,
) -> CallbackOutcome:
    """Credit an order the wallet says is paid (the query fallback's path)."""
    try:
        with store.unit_of_work() as uow:
            locked = uow.wallet.get_order(order.order_id, lock=True)
            assert locked is not None  # orders are never deleted
            _mark_credited(uow, clock, locked, trade_no)
            outcome = _credit_in(uow, clock, settings, credit, locked, None)
            uow.commit()
    except Refused as exc:
        with store.unit_of_work() as uow:
            outcome = _fail_in(uow, clock, order.order_id, trade_no, None, exc)
            uow.commit()
    return outcome


def _mark_credited(uow: UnitOfWork, clock: Clock, order: WalletOrder, trade_no: str | None) -> None:
    """The order credited (if it may be: a failed or credited one stays as it is)."""
    uow.wallet.set_state(
        order.order_id, OrderState.CREDITED, clock.now(), from_states=_CREDITABLE, trade_no=trade_no
    )


def _credit_in(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    credit: Policy | None,
    order: WalletOrder,
    notify_id: str | None,
) -> CallbackOutcome:
    """The payment and the callback's record, in the caller's transaction (the order already
    marked credited in it)."""
    account_no = format_account_no(order.account_id)
    cmd = TakePayment(account_no, amount_text(order.amount_fen), WALLET_CHANNEL, order.order_id)
    receipt = take_payment_in(uow, clock, settings, cmd, credit)
    outcome = "duplicate" if receipt.already_recorded else "credited"
    uow.wallet.record_callback(
        CallbackRecord(notify_id, order.order_id, outcome, receipt.transfer.id, clock.now())
    )
    return CallbackOutcome(True, outcome, order.order_id)


def _fail_in(
    uow: UnitOfWork,
    clock: Clock,
    order_id: str,
    trade_no: str | None,
    notify_id: str | None,
    exc: Refused,
) -> CallbackOutcome:
    """Paid at the wallet but refused here (the account left prepaid meanwhile): the wallet
    must stop resending; staff refund it from the failed order."""
    now = clock.now()
    uow.wallet.set_state(
        order_id, OrderState.FAILED, now, from_states=_CREDITABLE, trade_no=trade_no
    )
    uow.wallet.record_callback(CallbackRecord(notify_id, order_id, "failed", exc.message, now))
    log.warning(mask_phones(f"wallet order {order_id} paid but not credited: {exc}"))
    return CallbackOutcome(True, "failed", order_id)


def _close(
    uow: UnitOfWork, clock: Clock, notification: Notification, order: WalletOrder
) -> CallbackOutcome:
    now = clock.now()
    uow.wallet.set_state(order.order_id, OrderState.CLOSED, now, from_states=OPEN_STATES)
    uow.wallet.record_callback(
        CallbackRecord(notification.notify_id, order.order_id, "closed", "TRADE_CLOSED", now)
    )
    return CallbackOutcome(True, "closed", order.order_id)


def _refuse(
    uow: UnitOfWork, clock: Clock, params: Mapping[str, str], refusal: Refusal, detail: str
) -> CallbackOutcome:
    """Record and log a refused callback; nothing else is written."""
    notify_id = _field(params, "notify_id")
    order_id = _field(params, "out_trade_no")
    uow.wallet.record_callback(
        CallbackRecord(notify_id, order_id, refusal.value, detail, clock.now())
    )
    line = {"refused": refusal.value, "notify_id": notify_id, "order_id": order_id, "why": detail}
    log.warning(mask_phones(json.dumps(line, ensure_ascii=False)))
    return CallbackOutcome(False, refusal.value, order_id, refusal)


def _field(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value[:64] if value else None
