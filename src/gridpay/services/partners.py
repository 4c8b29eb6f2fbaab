"""Use cases of partners: manage them, and answer their signed requests.

Every request is authenticated first, in the transaction that records its nonce: an unsigned,
wrongly signed, stale or replayed request is refused before anything is written. Once the
signature verifies, the nonce is spent for good (committed even when the request is then
refused for a business reason: suspended, over a limit, a conflicting reference), so a refused
request cannot be replayed later to succeed, after the partner is resumed for instance.

A payment is the nonce, the reservation under the partner's reference (with the day's
allowance taken), the posting by ``services.payments.take_payments_in`` (the counter's use case
inside this transaction, idempotent by the ledger id ``pay/<channel>/<CODE>-<reference>``) and
the answer kept for retries. A refusal, by the rules here or by the ledger, takes back all but
the nonce, which is still committed. The commit (a log flush, a turn of the write lock, the
channel's clearing row and the partner's day total held until it) and the statements are most
of what a payment costs, so ``pay_many`` carries several payments in one transaction, judged
first and then written with a statement per table for all of them (the HTTP app joins
concurrent requests through ``services.group_commit``); ``pay`` is a batch of one.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.actors import Actor, ActorKind
from gridpay.domain.ledger import payment_id
from gridpay.domain.money import format_fen, parse_yuan
from gridpay.domain.partners import (
    Partner,
    PartnerPayment,
    PayOrder,
    SignedHeaders,
    check_fresh,
    check_limits,
    check_signed,
    ledger_ref,
    mask_name,
    new_secret,
    parse_code,
    parse_kind,
    parse_name,
    parse_pay_order,
    parse_reference,
    parse_signature,
)
from gridpay.domain.payments import Reverse, TakePayment, parse_account_no
from gridpay.domain.registry import Account, BillingMode
from gridpay.errors import (
    Conflict,
    Forbidden,
    GridpayError,
    InvalidInput,
    NotFound,
    NotSignedIn,
    Refused,
)
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services import housekeeping, payments
from gridpay.services.credit import Policy
from gridpay.services.group_commit import each_in_savepoint
from gridpay.services.registry import existing_account


@dataclass(frozen=True)
class SignedRequest:
    """A partner's request as it reached the app: what the signature covers."""

    method: str
    path: str
    headers: SignedHeaders
    body: bytes


@dataclass(frozen=True)
class PaymentAnswer:
    payment: PartnerPayment
    replayed: bool  # True: a retry, answered with the first answer; nothing was written


@dataclass(frozen=True)
class AccountView:
    """What a partner may see of an account before paying into it."""

    account_no: str
    name_masked: str
    balance_fen: int
    prepaid: bool


class PartnerCache:
    """Partners as one process last read them, each for ``limits.partner_cache_s``.

    Every signed request needs its partner (the secret, suspension, limits); reading it once a
    second instead of once a request takes a statement off every payment. A change made through
    this module forgets the partner here at once; one made by another process (the CLI beside a
    running server) is seen within ``ttl_s``.
    """

    def __init__(
        self,
        ttl_s: float = limits.partner_cache_s,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.monotonic_s = monotonic_s  # replaceable: tests move it
        self._partners: dict[str, tuple[float, Partner]] = {}
        self._lock = threading.Lock()

    def partner(self, uow: UnitOfWork, code: str) -> Partner | None:
        now_s = self.monotonic_s()
        with self._lock:
            kept = self._partners.get(code)
        if kept is not None and now_s - kept[0] < self.ttl_s:
            return kept[1]
        partner = uow.partners.partner(code)
        with self._lock:
            if partner is None:
                self._partners.pop(code, None)  # unknown codes are not kept: no memory to fill
            else:
                self._partners[code] = (now_s, partner)
        return partner

    def forget(self, code: str) -> None:
        with self._lock:
            self._partners.pop(code, None)


_caches: weakref.WeakKeyDictionary[Store, PartnerCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def partner_cache(store: Store) -> PartnerCache:
    """The cache of this store's partners (one per store: tests build many stores)."""
    with _caches_lock:
        cache = _caches.get(store)
        if cache is None:
            cache = _caches[store] = PartnerCache()
        return cache


# --- managing partners (the CLI) ----------------------------------------------------------


def add_partner(
    store: Store,
    clock: Clock,
    *,
    code: str,
    name: str,
    kind: str,
    payment_max_yuan: str | None = None,
    day_max_yuan: str | None = None,
) -> Partner:
    """A new partner with a fresh secret (returned: shown to the operator this once)."""
    payment_max = _fen_or(payment_max_yuan, limits.partner_payment_amount_fen_max_default)
    day_max = _fen_or(day_max_yuan, limits.partner_day_amount_fen_max_default)
    check_limits(payment_max, day_max)
    partner = Partner(
        code=parse_code(code),
        name=parse_name(name),
        kind=parse_kind(kind),
        secret=new_secret(),
        suspended=False,
        payment_amount_fen_max=payment_max,
        day_amount_fen_max=day_max,
        created_at=clock.now(),
    )
    with store.unit_of_work() as uow:
        if not uow.partners.add_partner(partner):
            raise Conflict(f"partner {partner.code} exists already")
        uow.commit()
    return partner


def list_partners(store: Store) -> list[Partner]:
    with store.reader() as uow:
        return uow.partners.partners()


def set_suspended(store: Store, clock: Clock, code: str, *, suspended: bool) -> Partner:
    return _update(store, clock, code, suspended=suspended)


def rotate_secret(store: Store, clock: Clock, code: str) -> Partner:
    """A new secret at once; the old one stops working (the partner deploys the new one)."""
    return _update(store, clock, code, secret=new_secret())


def set_limits(
    store: Store,
    clock: Clock,
    code: str,
    *,
    payment_max_yuan: str | None,
    day_max_yuan: str | None,
) -> Partner:
    if payment_max_yuan is None and day_max_yuan is None:
        raise InvalidInput("give --payment-max or --day-max (yuan)")
    with store.unit_of_work() as uow:
        partner = _existing(uow, parse_code(code), for_update=True)
        payment_max = _fen_or(payment_max_yuan, partner.payment_amount_fen_max)
        day_max = _fen_or(day_max_yuan, partner.day_amount_fen_max)
        check_limits(payment_max, day_max)
        uow.partners.update_partner(
            partner.code,
            clock.now(),
            payment_amount_fen_max=payment_max,
            day_amount_fen_max=day_max,
        )
        updated = _existing(uow, partner.code)
        uow.commit()
    partner_cache(store).forget(partner.code)
    return updated


def _update(store: Store, clock: Clock, code: str, **fields: bool | str) -> Partner:
    with store.unit_of_work() as uow:
        partner = _existing(uow, parse_code(code), for_update=True)
        uow.partners.update_partner(partner.code, clock.now(), **fields)  # type: ignore[arg-type]
        updated = _existing(uow, partner.code)
        uow.commit()
    partner_cache(store).forget(partner.code)
    return updated


def _existing(uow: UnitOfWork, code: str, *, for_update: bool = False) -> Partner:
    partner = uow.partners.partner(code, for_update=for_update)
    if partner is None:
        raise NotFound(f"partner {code} does not exist")
    return partner


def _fen_or(yuan: str | None, default_fen: int) -> int:
    if yuan is None:
        return default_fen
    amount_fen = parse_yuan(yuan)
    if amount_fen <= 0:
        raise InvalidInput(f"a limit must be above zero; got {yuan!r}")
    return amount_fen


# --- the partner API ----------------------------------------------------------------------


def look_up_account(
    store: Store, clock: Clock, settings: Settings, request: SignedRequest, account_no: str
) -> AccountView:
    """An account's masked name and balance, for a partner to check before paying."""
    refusal: GridpayError | None = None
    view = None
    with store.unit_of_work() as uow:
        uow.partners.commit_without_flush()  # only the nonce is written
        partner = _authenticate(uow, clock, settings, request, partner_cache(store))
        try:
            _check_active(partner)
            account = existing_account(uow, parse_account_no(account_no))
            view = AccountView(
                account_no=account.account_no,
                name_masked=mask_name(account.name),
                balance_fen=uow.ledger.balance_fen(account.id),
                prepaid=account.billing_mode is BillingMode.PREPAID,
            )
        except GridpayError as exc:
            refusal = exc
        uow.commit()  # the nonce: spent once the signature verified
    if refusal is not None:
        raise refusal
    assert view is not None
    return view


def pay(
    store: Store, clock: Clock, settings: Settings, credit: Policy, request: SignedRequest
) -> PaymentAnswer:
    """Pay into an account, at most once per partner reference (a retry gets the first answer)."""
    (outcome,) = pay_many(store, clock, settings, credit, [request])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def pay_many(
    store: Store,
    clock: Clock,
    settings: Settings,
    credit: Policy,
    requests: Sequence[SignedRequest],
) -> list[PaymentAnswer | Exception]:
    """``pay`` for several requests in one transaction: one commit (one log flush, one turn of
    the write lock) for all of them. Each request's answer or refusal, in order.

    They are judged as requests one after the other would be (a reference or a nonce used
    twice in a batch is a retry or a replay; a day's limit is taken in their order), all of
    them first, then written together: a statement per table for the batch, not one per
    payment (``_pay_batch``). A refused request leaves nothing but its nonce. Should the batch
    fail on something it cannot pin on one request (a statement or its commit failing), it is
    rolled back and each request is taken again in a new transaction, in a savepoint of its
    own, so that failure stays with its own request. If that commit fails too, every request
    fails with it (the caller raises it to each).
    """
    cache = partner_cache(store)
    try:
        with store.unit_of_work() as uow:
            outcomes = _pay_batch(uow, clock, settings, credit, requests, cache)
            uow.commit()
        return outcomes
    except Exception:
        if len(requests) == 1:  # alone: its failure is its own
            raise
    # Nothing of the batch was written: each request again, on its own.
    with store.unit_of_work() as uow:
        outcomes = each_in_savepoint(
            uow.partners.savepoint,
            requests,
            lambda request: _pay_signed(uow, clock, settings, credit, request, cache),
        )
        uow.commit()
    return outcomes


@dataclass
class _Order:
    """A request whose signature verified and whose nonce is spent, being judged."""

    index: int
    partner: Partner
    order: PayOrder


def _pay_batch(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    credit: Policy,
    requests: Sequence[SignedRequest],
    cache: PartnerCache,
) -> list[PaymentAnswer | Exception]:
    outcomes: list[PaymentAnswer | Exception | None] = [None] * len(requests)
    now = clock.now()
    signed: list[tuple[int, Partner, str]] = []  # (index, partner, nonce)
    for i, request in enumerate(requests):
        try:
            partner, nonce = _verify(uow, clock, settings, request, cache)
        except GridpayError as exc:  # refused before its nonce: nothing is written for it
            outcomes[i] = exc
            continue
        signed.append((i, partner, nonce))
    # A nonce twice in the batch: the second is a replay, as it would be one request later.
    first: dict[tuple[str, str], int] = {}
    for i, partner, nonce in signed:
        first.setdefault((partner.code, nonce), i)
    spent = uow.partners.spend_nonces(list(first), now)
    if random.randrange(limits.partner_nonce_prune_every) < len(first):  # noqa: S311
        uow.partners.prune_nonces(housekeeping.cutoffs(now, settings).nonces_seen_before)
    orders: list[_Order] = []
    for i, partner, nonce in signed:
        if first[(partner.code, nonce)] != i or (partner.code, nonce) not in spent:
            outcomes[i] = NotSignedIn("replayed request: this X-Nonce was used before")
            continue
        try:  # from here on the nonce stays spent whatever the answer
            _check_active(partner)
            order = parse_pay_order(requests[i].body, settings.payment_amount_fen_max)
        except GridpayError as exc:
            outcomes[i] = exc
            continue
        orders.append(_Order(i, partner, order))
    # A reference twice in the batch: the later one waits for a later round, and then finds
    # the first one's payment (a retry or a conflict), as it would one request later.
    while orders:
        keys: set[tuple[str, str]] = set()
        this_round: list[_Order] = []
        later: list[_Order] = []
        for o in orders:
            key = (o.partner.code, o.order.reference)
            (later if key in keys else this_round).append(o)
            keys.add(key)
        for o, outcome in zip(
            this_round, _pay_round(uow, clock, settings, credit, this_round), strict=True
        ):
            outcomes[o.index] = outcome
        orders = later
    assert all(o is not None for o in outcomes), outcomes
    return [o for o in outcomes if o is not None]


def _pay_round(
    uow: UnitOfWork, clock: Clock, settings: Settings, credit: Policy, orders: Sequence[_Order]
) -> list[PaymentAnswer | Exception]:
    """Orders of different references: reserved together, judged, then posted together."""
    today, now = clock.today(), clock.now()
    outcomes: list[PaymentAnswer | Exception | None] = [None] * len(orders)
    reserved = [
        PartnerPayment(
            partner_code=o.partner.code,
            reference=o.order.reference,
            account_no=o.order.account_no,
            amount_fen=o.order.amount_fen,
            day=today,
            status="pending",
            transfer_id=payment_id(
                o.partner.channel, ledger_ref(o.partner.code, o.order.reference)
            ),
            balance_fen=None,
            reversal_id=None,
            created_at=now,
        )
        for o in orders
    ]
    # The reservations first: a new reference (nearly every one) costs no read before it. On
    # PostgreSQL a request racing under the same reference waits here for the first to commit
    # (or roll back), then finds its row, or makes its own.
    added = uow.partners.add_payments(reserved)
    taken = [(k, r) for k, r in enumerate(reserved) if (r.partner_code, r.reference) not in added]
    found = uow.partners.payments_of([(r.partner_code, r.reference) for _, r in taken])
    for k, r in taken:
        try:
            existing = found[(r.partner_code, r.reference)]
            outcomes[k] = PaymentAnswer(_same_order(existing, orders[k].order), replayed=True)
        except GridpayError as exc:
            outcomes[k] = exc
    judged = [k for k in range(len(orders)) if outcomes[k] is None]
    accounts = uow.registry.accounts([parse_account_no(orders[k].order.account_no) for k in judged])
    refused: list[int] = []  # reserved, then refused: their reservations are taken back
    within: list[int] = []
    for k in judged:
        try:
            _check_payable(orders[k], accounts)
        except GridpayError as exc:
            outcomes[k] = exc
            refused.append(k)
            continue
        within.append(k)
    # The day's limit, in the orders' order, against each partner's total held until commit.
    by_partner: dict[str, list[int]] = {}
    for k in within:
        by_partner.setdefault(orders[k].partner.code, []).append(k)
    to_post: list[int] = []
    for code, ks in by_partner.items():
        partner = orders[ks[0]].partner
        sum_fen = sum(orders[k].order.amount_fen for k in ks)
        if sum_fen <= partner.day_amount_fen_max and uow.partners.take_day_amount(
            code, today, sum_fen, partner.day_amount_fen_max
        ):  # all of them within the day's limit (nearly every batch): one statement
            to_post.extend(ks)
            continue
        total_fen = uow.partners.day_amount_for_update(code, today)
        taken_fen = 0
        for k in ks:
            amount_fen = orders[k].order.amount_fen
            if total_fen + taken_fen + amount_fen > partner.day_amount_fen_max:
                outcomes[k] = Refused(
                    f"over the limit per day: {format_fen(amount_fen)} yuan more would take "
                    f"partner {code} above its {format_fen(partner.day_amount_fen_max)} yuan "
                    f"for {today.isoformat()}"
                )
                refused.append(k)
                continue
            taken_fen += amount_fen
            to_post.append(k)
        if taken_fen:
            uow.partners.add_day_amount(code, today, taken_fen)
    to_post.sort()
    receipts = payments.take_payments_in(
        uow,
        clock,
        settings,
        [
            payments.PaymentIn(
                cmd=TakePayment(
                    account_no=orders[k].order.account_no,
                    amount_yuan=format_fen(orders[k].order.amount_fen),
                    channel=orders[k].partner.channel.value,
                    ref=ledger_ref(orders[k].partner.code, orders[k].order.reference),
                ),
                account=accounts[parse_account_no(orders[k].order.account_no)],
                actor=partner_actor(orders[k].partner),
            )
            for k in to_post
        ],
        credit,
    )
    posted: dict[str, list[tuple[str, int]]] = {}
    for k, receipt in zip(to_post, receipts, strict=True):
        r = reserved[k]
        if isinstance(receipt, GridpayError):  # refused by the ledger: its day's amount back
            outcomes[k] = receipt
            refused.append(k)
            uow.partners.add_day_amount(r.partner_code, today, -r.amount_fen)
            continue
        posted.setdefault(r.partner_code, []).append((r.reference, receipt.balance_fen))
        outcomes[k] = PaymentAnswer(
            replace(r, status="posted", balance_fen=receipt.balance_fen), replayed=False
        )
    for code, balances in posted.items():
        uow.partners.mark_posted_many(code, balances)
    uow.partners.drop_pending_many(
        {(reserved[k].partner_code, reserved[k].reference) for k in refused}
    )
    assert all(o is not None for o in outcomes), outcomes
    return [o for o in outcomes if o is not None]


def _check_payable(o: _Order, accounts: dict[int, Account]) -> None:
    """Refuse an order over the partner's limit per payment, or into an account that does not
    exist or is not prepaid (the day's limit is judged over the batch)."""
    if o.order.amount_fen > o.partner.payment_amount_fen_max:
        raise Refused(
            f"over the limit per payment: {format_fen(o.order.amount_fen)} yuan is above "
            f"partner {o.partner.code}'s {format_fen(o.partner.payment_amount_fen_max)} yuan"
        )
    account_id = parse_account_no(o.order.account_no)
    account = accounts.get(account_id)
    if account is None:
        raise NotFound(f"account {o.order.account_no} does not exist")
    if account.billing_mode is not BillingMode.PREPAID:
        raise Refused(f"account {account.account_no} is not prepaid: it takes no payments here")


def _pay_signed(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    credit: Policy,
    request: SignedRequest,
    cache: PartnerCache,
) -> PaymentAnswer | GridpayError:
    """One request: its answer, or its refusal once its nonce is spent (the nonce stays
    written); raises, with nothing written, before that."""
    partner = _authenticate(uow, clock, settings, request, cache)
    try:
        with uow.partners.savepoint():
            return _pay(uow, clock, settings, credit, partner, request.body)
    except GridpayError as exc:
        return exc  # everything but the nonce was undone with the savepoint


def _pay(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    credit: Policy,
    partner: Partner,
    body: bytes,
) -> PaymentAnswer:
    _check_active(partner)
    order = parse_pay_order(body, settings.payment_amount_fen_max)
    reserved, account = _reserve(uow, clock, partner, order)
    if account is None:
        return PaymentAnswer(reserved, replayed=True)
    cmd = TakePayment(
        account_no=reserved.account_no,
        amount_yuan=format_fen(reserved.amount_fen),
        channel=partner.channel.value,
        ref=ledger_ref(partner.code, reserved.reference),
    )
    receipt = payments.take_payment_in(
        uow, clock, settings, cmd, credit, actor=partner_actor(partner), account=account
    )
    uow.partners.mark_posted(partner.code, reserved.reference, receipt.balance_fen)
    return PaymentAnswer(replace(reserved, status="posted", balance_fen=receipt.balance_fen), False)


def reverse_payment(
    store: Store,
    clock: Clock,
    settings: Settings,
    credit: Policy,
    request: SignedRequest,
    reference: str,
) -> PaymentAnswer:
    """Undo a partner's payment of today (a reversal in the ledger); twice is a no-op."""
    refusal: GridpayError | None = None
    found: PartnerPayment | None = None
    with store.unit_of_work() as uow:
        uow.partners.commit_without_flush()  # only the nonce: the reversal's commit flushes it
        partner = _authenticate(uow, clock, settings, request, partner_cache(store))
        try:
            _check_active(partner)
            found = _reversible(uow, clock, partner, parse_reference(reference))
        except GridpayError as exc:
            refusal = exc
        uow.commit()
    if refusal is not None:
        raise refusal
    assert found is not None
    if found.status == "reversed":
        return PaymentAnswer(found, replayed=True)
    receipt = payments.reverse(
        store,
        clock,
        Reverse(found.transfer_id, note=f"reversed by partner {partner.code}"),
        credit,
        actor=partner_actor(partner),
    )
    with store.unit_of_work() as uow:
        if uow.partners.mark_reversed(partner.code, found.reference, receipt.transfer.id):
            uow.partners.give_back_day_amount(partner.code, found.day, found.amount_fen)
        after = uow.partners.payment(partner.code, found.reference)
        uow.commit()
    assert after is not None
    return PaymentAnswer(after, replayed=False)


# --- helpers: decisions above, work here -------------------------------------------------


def _verify(
    uow: UnitOfWork, clock: Clock, settings: Settings, request: SignedRequest, cache: PartnerCache
) -> tuple[Partner, str]:
    """The partner whose valid, fresh signature this is, and its nonce (not yet spent).

    Raises ``NotSignedIn`` for every other request (nothing is written)."""
    signature = parse_signature(request.headers)
    check_fresh(signature, clock.now(), settings.partner_signature_window_s)
    partner = cache.partner(uow, signature.partner_code)
    if partner is None:
        raise NotSignedIn(f"unknown partner {signature.partner_code}")
    check_signed(signature, partner.secret, request.method, request.path, request.body)
    return partner, signature.nonce


def _authenticate(
    uow: UnitOfWork, clock: Clock, settings: Settings, request: SignedRequest, cache: PartnerCache
) -> Partner:
    """The partner whose valid, fresh, first-seen signature this is; its nonce recorded.

    Raises ``NotSignedIn`` before writing anything for every other request."""
    partner, nonce = _verify(uow, clock, settings, request, cache)
    now = clock.now()
    if not uow.partners.spend_nonce(partner.code, nonce, now):
        raise NotSignedIn("replayed request: this X-Nonce was used before")
    if random.randrange(limits.partner_nonce_prune_every) == 0:  # noqa: S311 (not a secret)
        uow.partners.prune_nonces(housekeeping.cutoffs(now, settings).nonces_seen_before)
    return partner


def _check_active(partner: Partner) -> None:
    if partner.suspended:
        raise Forbidden(f"partner {partner.code} is suspended: ask the power company")


def _reserve(
    uow: UnitOfWork, clock: Clock, partner: Partner, order: PayOrder
) -> tuple[PartnerPayment, Account | None]:
    """The payment reserved under its reference (and the day's limit taken) with the account
    it pays into; or the payment already there, with None (a retry: answered, not posted).

    The reservation is tried first: a new reference (nearly every request) then costs no read
    before it. A refusal raises inside the caller's savepoint, which takes the reservation and
    the day's amount back, so the caller can still commit the nonce.
    """
    today = clock.today()
    reserved = PartnerPayment(
        partner_code=partner.code,
        reference=order.reference,
        account_no=order.account_no,
        amount_fen=order.amount_fen,
        day=today,
        status="pending",
        transfer_id=payment_id(partner.channel, ledger_ref(partner.code, order.reference)),
        balance_fen=None,
        reversal_id=None,
        created_at=clock.now(),
    )
    # On PostgreSQL a request racing under the same reference waits here for the first to
    # commit (or roll back its savepoint), then finds its row, or makes its own.
    if not uow.partners.add_payment(reserved):
        existing = uow.partners.payment(partner.code, order.reference)
        assert existing is not None
        return _same_order(existing, order), None
    if order.amount_fen > partner.payment_amount_fen_max:
        raise Refused(
            f"over the limit per payment: {format_fen(order.amount_fen)} yuan is above "
            f"partner {partner.code}'s {format_fen(partner.payment_amount_fen_max)} yuan"
        )
    account = existing_account(uow, parse_account_no(order.account_no))
    if account.billing_mode is not BillingMode.PREPAID:
        raise Refused(f"account {account.account_no} is not prepaid: it takes no payments here")
    if not uow.partners.take_day_amount(
        partner.code, today, order.amount_fen, partner.day_amount_fen_max
    ):
        raise Refused(
            f"over the limit per day: {format_fen(order.amount_fen)} yuan more would take "
            f"partner {partner.code} above its {format_fen(partner.day_amount_fen_max)} yuan "
            f"for {today.isoformat()}"
        )
    return reserved, account


def _same_order(existing: PartnerPayment, order: PayOrder) -> PartnerPayment:
    """The payment recorded under the order's reference if the order is a retry of it."""
    if (existing.account_no, existing.amount_fen) != (order.account_no, order.amount_fen):
        raise Conflict(
            f"reference {order.reference} was used for {format_fen(existing.amount_fen)} "
            f"yuan into account {existing.account_no}; this request is "
            f"{format_fen(order.amount_fen)} yuan into account {order.account_no}: refused "
            f"(a new payment needs a new reference)"
        )
    return existing


def _reversible(uow: UnitOfWork, clock: Clock, partner: Partner, reference: str) -> PartnerPayment:
    found = uow.partners.payment(partner.code, reference)
    if found is None:
        raise NotFound(f"no payment of partner {partner.code} with reference {reference}")
    if found.day != clock.today():
        raise Refused(
            f"payment {reference} was taken on {found.day.isoformat()}: only a payment of "
            f"today ({clock.today().isoformat()}) can be reversed; ask the power company"
        )
    if found.status == "pending":
        raise Refused(f"payment {reference} is still being posted: retry the payment first")
    return found


def partner_actor(partner: Partner) -> Actor:
    """The partner as the audit log records it (``partner:<code>``)."""
    return Actor(ActorKind.PARTNER, partner.code)
