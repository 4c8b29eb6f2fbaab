"""Use cases: a household signs in with a code sent by SMS, stays signed in, signs out; the owner
lets a trusted contact read the account.

- **A code** goes through the outbox (message kind ``sign_in_code``) to the account's phone, or
  to a trusted contact's phone when the owner has given that contact access. Only a salted
  PBKDF2 hash of it is stored (the phone change's helper), with the hash of a random challenge
  the browser keeps while the code is typed. It expires, works once, allows a few tries.
- **Rate limits** count the codes sent in a window per account, per phone and per client
  address, from the stored rows: they hold across restarts and across server processes.
- **A session** is a random token in an http-only cookie; the database keeps its hash, the
  account, the role (owner, or trusted: read-only), an absolute and an idle expiry.

Every refusal raises before anything is written, except a wrong code, which counts its try.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.account_changes import code_matches, hash_code
from gridpay.domain.enrolment import ContactRole
from gridpay.domain.household import CodeStatus, Role, Session, mask_phone, parse_phone, token_hash
from gridpay.domain.messages import OUTBOX_SCHEMA, MessageKind, render, template_params
from gridpay.domain.payments import format_account_no, parse_account_no
from gridpay.errors import Forbidden, InvalidInput, NotFound, NotSignedIn, RateLimited, Refused
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.messaging import brand_from_settings
from gridpay.services.registry import existing_account

# A session's last-seen time is written at most this often: a page view is then a read only.
_TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class CodeSent:
    challenge: str  # random; the browser keeps it (a cookie) while the code is typed
    phone_masked: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Challenge:
    """What the code page shows: where the code went, and until when."""

    phone_masked: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class SignedIn:
    token: str  # for the cookie; never stored
    session: Session


@dataclass(frozen=True)
class TrustedContact:
    phone_masked: str
    phone: str
    name: str | None
    has_access: bool


def client_key(client_address: str) -> str:
    """The rate limit's key for a client address: a hash, so no address is stored."""
    return hashlib.sha256(f"client:{client_address}".encode()).hexdigest()


def request_code(
    store: Store,
    clock: Clock,
    settings: Settings,
    account_no: str,
    *,
    contact_phone: str | None,
    client_address: str,
) -> CodeSent:
    """Send a sign-in code to the account's phone, or (``contact_phone``) to a trusted contact
    the owner gave access to. ``RateLimited`` when the account, the phone or the client has
    had its codes for the window."""
    account_id = parse_account_no(account_no)
    asked_phone = parse_phone(contact_phone) if contact_phone else None
    now = clock.now()
    client = client_key(client_address)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        phone, role, language = _recipient(
            uow, account_id, account.phone, account.language.value, asked_phone
        )
        _check_rates(uow, now, account_id, phone, client)
        code = "".join(secrets.choice("0123456789") for _ in range(limits.sign_in_code_digits))
        challenge = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=limits.sign_in_code_valid_s)
        code_id = uow.household.add_code(
            challenge_hash=token_hash(challenge),
            account_id=account_id,
            phone=phone,
            role=role,
            code_hash=hash_code(code, secrets.token_bytes(16)),
            client_key=client,
            requested_at=now,
            expires_at=expires_at,
        )
        values = {
            "account_no": format_account_no(account_id),
            "code": code,
            "minutes": str(limits.sign_in_code_valid_s // 60),
        }
        body = render(MessageKind.SIGN_IN_CODE, language, brand_from_settings(settings), **values)
        params = template_params(MessageKind.SIGN_IN_CODE, **values)
        uow.outbox.add(_message(code_id, account_id, phone, language, (body, params), now))
        uow.commit()
    return CodeSent(challenge, mask_phone(phone), expires_at)


def challenge_of(store: Store, clock: Clock, challenge: str) -> Challenge:
    """Where the pending code of this challenge went; ``NotSignedIn`` if none is pending."""
    with store.reader() as uow:
        row = uow.household.code_by_challenge(token_hash(challenge))
    if row is None or row.status is not CodeStatus.PENDING or row.expires_at <= clock.now():
        raise NotSignedIn("no code is waiting: ask for a new one")
    return Challenge(mask_phone(row.phone), row.expires_at)


def sign_in(store: Store, clock: Clock, settings: Settings, challenge: str, code: str) -> SignedIn:
    """Exchange the code for a session. A wrong code counts a try (the last one locks it)."""
    typed = code.strip()
    if not (typed.isdigit() and len(typed) == limits.sign_in_code_digits):
        raise InvalidInput(f"the code is {limits.sign_in_code_digits} digits")
    now = clock.now()
    with store.unit_of_work() as uow:
        row = uow.household.code_by_challenge(token_hash(challenge))
        if row is None:
            raise NotSignedIn("no code is waiting: ask for a new one")
        if row.status is CodeStatus.USED:
            raise NotSignedIn("this code has been used already: ask for a new one")
        if row.status is CodeStatus.SUPERSEDED:
            raise NotSignedIn("a newer code was sent: use the newest, or ask again")
        if row.status is CodeStatus.LOCKED:
            raise RateLimited("too many wrong codes: ask for a new one")
        if row.expires_at <= now:
            raise NotSignedIn("the code has expired: ask for a new one")
        if row.role is Role.TRUSTED and row.phone not in uow.household.granted_phones(
            row.account_id
        ):
            raise Forbidden("the account's owner no longer gives this phone access")
        if not code_matches(typed, row.code_hash):
            tries_left = limits.sign_in_code_attempts_max - row.attempts - 1
            status = CodeStatus.PENDING if tries_left > 0 else CodeStatus.LOCKED
            uow.household.count_attempt(row.id, status, now)
            uow.commit()
            if tries_left <= 0:
                raise RateLimited("too many wrong codes: ask for a new one")
            raise NotSignedIn(f"wrong code: {tries_left} tries left")
        uow.household.count_attempt(row.id, CodeStatus.USED, now)
        token = secrets.token_urlsafe(32)
        session = Session(
            token_hash=token_hash(token),
            account_id=row.account_id,
            phone=row.phone,
            role=row.role,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(days=settings.household_session_days),
        )
        uow.household.add_session(session)
        uow.commit()
    return SignedIn(token, session)


def current_session(store: Store, clock: Clock, settings: Settings, token: str | None) -> Session:
    """The session of a cookie's token, or ``NotSignedIn`` (none, signed out, expired, idle)."""
    if not token:
        raise NotSignedIn("please sign in")
    with store.reader() as uow:
        session = session_in(uow, clock, settings, token)
    touch_if_due(store, clock, session)
    return session


def session_in(uow: UnitOfWork, clock: Clock, settings: Settings, token: str | None) -> Session:
    """``current_session`` inside the caller's unit of work (a page then reads its session and
    its data in one transaction); the caller calls ``touch_if_due`` after it."""
    if not token:
        raise NotSignedIn("please sign in")
    session = uow.household.session(token_hash(token))
    if session is None:
        raise NotSignedIn("please sign in")
    now = clock.now()
    idle = dt.timedelta(minutes=settings.household_session_idle_minutes)
    if session.expires_at <= now or session.last_seen_at + idle <= now:
        raise NotSignedIn("you were signed out after a while: please sign in again")
    return session


def touch_if_due(store: Store, clock: Clock, session: Session) -> None:
    """Record that the session was used (at most once a minute: reads stay reads)."""
    now = clock.now()
    if now - session.last_seen_at >= _TOUCH_EVERY:
        with store.unit_of_work() as uow:
            uow.household.touch_session(session.token_hash, now)
            uow.commit()


def sign_out(store: Store, clock: Clock, session: Session, *, everywhere: bool) -> int:
    """End this session, or every session: the owner's "everywhere" is every browser signed in
    to the account (trusted contacts' too); a trusted contact's is its own phone's."""
    with store.unit_of_work() as uow:
        if not everywhere:
            ended = uow.household.end_sessions(clock.now(), token_hash=session.token_hash)
        else:
            phone = None if session.role is Role.OWNER else session.phone
            ended = uow.household.end_sessions(
                clock.now(), account_id=session.account_id, phone=phone
            )
        uow.commit()
    return ended


def trusted_contacts(store: Store, session: Session) -> list[TrustedContact]:
    """The account's trusted contacts and whether each may read the account."""
    with store.reader() as uow:
        contacts = uow.enrolment.contacts(session.account_id)
        granted = uow.household.granted_phones(session.account_id)
    return [
        TrustedContact(mask_phone(c.phone), c.phone, c.name, c.phone in granted)
        for c in contacts
        if c.role is ContactRole.TRUSTED
    ]


def set_access(store: Store, clock: Clock, session: Session, phone: str, *, allow: bool) -> bool:
    """The owner gives or takes back a trusted contact's read-only access; taking it back signs
    that contact out. False when nothing changed."""
    if session.role is not Role.OWNER:
        raise Forbidden("only the account's owner can change who may read it")
    with store.unit_of_work() as uow:
        trusted = {
            c.phone
            for c in uow.enrolment.contacts(session.account_id)
            if c.role is ContactRole.TRUSTED
        }
        if phone not in trusted:
            raise NotFound("that phone is not one of the account's trusted contacts")
        if allow:
            changed = uow.household.grant(session.account_id, phone, clock.now())
        else:
            changed = uow.household.revoke(session.account_id, phone)
            uow.household.end_sessions(clock.now(), account_id=session.account_id, phone=phone)
        uow.commit()
    return changed


# --- helpers: decisions above, work here -------------------------------------------------


def _recipient(
    uow: UnitOfWork,
    account_id: int,
    owner_phone: str | None,
    owner_language: str,
    asked: str | None,
) -> tuple[str, Role, str]:
    """Where the code goes: (phone, role, language)."""
    if asked is None:
        if not owner_phone:
            raise Refused("the account has no phone for codes: please call or visit the office")
        return owner_phone, Role.OWNER, owner_language
    contact = next(
        (
            c
            for c in uow.enrolment.contacts(account_id)
            if c.phone == asked and c.role is ContactRole.TRUSTED
        ),
        None,
    )
    if contact is None or asked not in uow.household.granted_phones(account_id):
        raise Forbidden("this phone has not been given access to the account by its owner")
    return asked, Role.TRUSTED, contact.language.value


def _check_rates(
    uow: UnitOfWork, now: dt.datetime, account_id: int, phone: str, client: str
) -> None:
    since = now - dt.timedelta(seconds=limits.sign_in_rate_window_s)
    minutes = limits.sign_in_rate_window_s // 60
    checks = (
        (
            uow.household.codes_since(since, account_id=account_id),
            limits.sign_in_codes_per_account_max,
            "this account",
        ),
        (
            uow.household.codes_since(since, phone=phone),
            limits.sign_in_codes_per_phone_max,
            "this phone",
        ),
        (
            uow.household.codes_since(since, client_key=client),
            limits.sign_in_codes_per_client_max,
            "this device",
        ),
    )
    for sent, most, what in checks:
        if sent >= most:
            raise RateLimited(
                f"too many codes for {what}: at most {most} in {minutes} minutes; try later"
            )


def _message(
    code_id: int,
    account_id: int,
    phone: str,
    language: str,
    texts: tuple[str, str],
    at: dt.datetime,
) -> pl.DataFrame:
    """The code's SMS: its text, and the template's parameters for a provider that sends only
    registered templates."""
    body, params = texts
    return pl.DataFrame(
        {
            "dedupe_key": [f"{MessageKind.SIGN_IN_CODE.value}/{code_id}"],
            "account_id": [account_id],
            "phone": [phone],
            "language": [language],
            "kind": [MessageKind.SIGN_IN_CODE.value],
            "body": [body],
            "params": [params],
            "created_at": [at],
        },
        schema=OUTBOX_SCHEMA,
    )
