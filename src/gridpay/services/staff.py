"""Use cases: staff accounts, signing in to the console, a clerk's shift, holding a cut.

Passwords are hashed with argon2id (``argon2-cffi``); a session is a random token of which only
the SHA-256 is stored. Failed sign-ins are counted in the database, per username and per client
address, and past ``limits.staff_signin_failures_max`` in the window the password is not even
checked. Every change is recorded in the audit log in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gridpay import limits
from gridpay.domain.actors import (
    COUNTER_ROLES,
    OFFICE_ROLES,
    SUPERVISOR_ROLES,
    Actor,
    ActorKind,
    check_office_scope,
    check_role,
    parse_role,
    parse_username,
)
from gridpay.domain.enrolment import ProtectionReason
from gridpay.domain.money import format_fen, parse_yuan
from gridpay.domain.payments import parse_account_no
from gridpay.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotSignedIn,
    RateLimited,
    Refused,
)
from gridpay.ports.clock import Clock
from gridpay.ports.staff import CashTaken, ShiftClose, StaffMember
from gridpay.ports.store import Store
from gridpay.services.audit_trail import record
from gridpay.services.registry import existing_account

_hasher = PasswordHasher()
# Verified when the username is unknown, so that a wrong name takes as long as a wrong password
# (the time would otherwise tell which usernames exist).
_DUMMY_HASH = _hasher.hash("not a password of anyone")
SIGNIN_REFUSED = "wrong username or password"


def actor_of(member: StaffMember) -> Actor:
    return Actor(ActorKind.STAFF, member.username, member.role, member.office_id)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- staff accounts (the CLI: gridpay staff ...) ---------------------------------------------


def add_staff(
    store: Store,
    clock: Clock,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str,
    office_id: int | None,
    actor: Actor,
) -> StaffMember:
    name = parse_username(username)
    checked_role = parse_role(role)
    display = _text(display_name, "display name", limits.staff_display_name_chars_max)
    _check_password(password)
    if (checked_role in OFFICE_ROLES) != (office_id is not None):
        raise InvalidInput(
            f"a {checked_role.value} "
            + ("works at one office: give --office" if office_id is None else "has no office")
        )
    with store.unit_of_work() as uow:
        if office_id is not None and office_id not in uow.registry.offices():
            raise InvalidInput(f"office {office_id} does not exist")
        now = clock.now()
        staff_id = uow.staff.add_staff(
            name, display, _hasher.hash(password), checked_role, office_id, now
        )
        if staff_id is None:
            raise Conflict(f"username {name!r} is taken")
        record(
            uow,
            actor,
            "staff.add",
            now,
            subject=name,
            detail={"role": checked_role.value, "office_id": office_id},
        )
        member = uow.staff.staff_by_id(staff_id)
        assert member is not None
        uow.commit()
    return member


def list_staff(store: Store) -> list[StaffMember]:
    with store.reader() as uow:
        return uow.staff.list_staff()


def disable_staff(store: Store, clock: Clock, username: str, *, actor: Actor) -> StaffMember:
    """Disabled: cannot sign in, and every open session ends now."""
    with store.unit_of_work() as uow:
        member = _existing(uow.staff.staff_by_username(parse_username(username)), username)
        if member.active:
            now = clock.now()
            uow.staff.set_active(member.id, False)
            ended = uow.staff.end_sessions(member.id, now)
            record(
                uow,
                actor,
                "staff.disable",
                now,
                subject=member.username,
                detail={"sessions_ended": ended},
            )
            uow.commit()
        changed = uow.staff.staff_by_id(member.id)
    assert changed is not None
    return changed


def set_password(store: Store, clock: Clock, username: str, password: str, *, actor: Actor) -> None:
    """A new password; the member's open sessions end (a leaked session dies with the old one)."""
    _check_password(password)
    with store.unit_of_work() as uow:
        member = _existing(uow.staff.staff_by_username(parse_username(username)), username)
        now = clock.now()
        uow.staff.set_password_hash(member.id, _hasher.hash(password), now)
        uow.staff.end_sessions(member.id, now)
        record(uow, actor, "staff.set_password", now, subject=member.username)
        uow.commit()


# --- signing in -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    token: str  # the cookie's value; only its hash is stored
    member: StaffMember
    expires_at: dt.datetime


def sign_in(store: Store, clock: Clock, username: str, password: str, client: str) -> SignedIn:
    """A new session, or ``NotSignedIn`` (one message for a wrong name or password), or
    ``RateLimited`` after too many failures for this name or from this client."""
    name = username.strip().lower()[: limits.staff_username_chars_max]
    now = clock.now()
    since = now - dt.timedelta(seconds=limits.staff_signin_window_s)
    with store.unit_of_work() as uow:
        if uow.staff.signin_failures(name, client, since) >= limits.staff_signin_failures_max:
            minutes = limits.staff_signin_window_s // 60
            raise RateLimited(f"too many failed sign-ins: wait {minutes} minutes and try again")
        member = uow.staff.staff_by_username(name)
        if member is None or not member.active or not _verified(member, password):
            uow.staff.add_signin_failure(name, client, now)
            uow.commit()
            raise NotSignedIn(SIGNIN_REFUSED)
        token = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=limits.staff_session_s)
        uow.staff.add_session(token_hash(token), member.id, now, expires_at)
        record(uow, actor_of(member), "staff.sign_in", now, subject=member.username)
        uow.commit()
    return SignedIn(token, member, expires_at)


def signed_in(store: Store, clock: Clock, token: str | None) -> StaffMember | None:
    """The active member behind a session token; None if it is unknown, ended or expired."""
    if not token or len(token) > 100:
        return None
    with store.reader() as uow:
        return uow.staff.session_staff(token_hash(token), clock.now())


def sign_out(store: Store, clock: Clock, token: str) -> None:
    with store.unit_of_work() as uow:
        uow.staff.end_session(token_hash(token), clock.now())
        uow.commit()


# --- the shift ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftSoFar:
    """What the ledger says a clerk took in cash since their last close."""

    since: dt.datetime | None  # the last close, None before the first
    taken: CashTaken


def shift_so_far(store: Store, actor: Actor) -> ShiftSoFar:
    check_role(actor, COUNTER_ROLES, "a shift")
    with store.reader() as uow:
        member = _staff_member(uow.staff.staff_by_username(actor.id), actor)
        last = uow.staff.last_shift_close(member.id)
        taken = uow.staff.cash_taken(actor.id, last.last_audit_id if last else 0)
    return ShiftSoFar(last.closed_at if last else None, taken)


def close_shift(
    store: Store, clock: Clock, counted_yuan: str, note: str | None, *, actor: Actor
) -> ShiftClose:
    """Close the clerk's shift: the cash counted beside the ledger's cash transfers by that
    clerk since their last close. A difference is recorded and waits for a supervisor."""
    check_role(actor, COUNTER_ROLES, "closing a shift")
    counted_fen = parse_yuan(counted_yuan)
    if counted_fen < 0:
        raise InvalidInput(f"cash counted cannot be negative: {format_fen(counted_fen)} yuan")
    clean_note = _optional_text(note, "note", limits.audit_reason_chars_max)
    with store.unit_of_work() as uow:
        member = _staff_member(uow.staff.staff_by_username(actor.id), actor)
        if member.office_id is None:
            raise Forbidden(f"{actor.id} has no office: a shift is an office counter's")
        now = clock.now()
        last = uow.staff.last_shift_close(member.id)
        taken = uow.staff.cash_taken(actor.id, last.last_audit_id if last else 0)
        close_id = uow.staff.add_shift_close(
            member.id, member.office_id, now, taken, counted_fen, clean_note
        )
        record(
            uow,
            actor,
            "shift.close",
            now,
            subject=f"shift/{close_id}",
            amount_fen=counted_fen,
            reason=clean_note,
            detail={
                "ledger_fen": taken.amount_fen,
                "payments": taken.payments,
                "difference_fen": counted_fen - taken.amount_fen,
            },
        )
        closed = uow.staff.shift_close(close_id)
        assert closed is not None
        uow.commit()
    return closed


def explain_shift(
    store: Store, clock: Clock, close_id: int, explanation: str, *, actor: Actor
) -> ShiftClose:
    """A supervisor's note on a shift closed with a difference (their own office only)."""
    check_role(actor, SUPERVISOR_ROLES, "explaining a shift's difference")
    text = _text(explanation, "the supervisor's note", limits.audit_reason_chars_max)
    with store.unit_of_work() as uow:
        close = uow.staff.shift_close(close_id)
        if close is None:
            raise NotFound(f"shift close {close_id} does not exist")
        check_office_scope(actor, close.office_id, f"shift close {close_id}")
        if close.difference_fen == 0:
            raise Refused(f"shift close {close_id} has no difference to explain")
        if close.username == actor.id:
            raise Forbidden("a supervisor cannot explain the difference of their own shift")
        now = clock.now()
        if not uow.staff.explain_shift_close(close_id, actor.id, text, now):
            raise Conflict(f"shift close {close_id} was explained already")
        record(
            uow,
            actor,
            "shift.explain",
            now,
            subject=f"shift/{close_id}",
            amount_fen=close.difference_fen,
            reason=text,
        )
        explained = uow.staff.shift_close(close_id)
        assert explained is not None
        uow.commit()
    return explained


def shift_closes(
    store: Store, actor: Actor, limit: int = limits.console_rows_max
) -> list[ShiftClose]:
    """The closes a member may see: their office's (office roles), every office's (others)."""
    office = actor.office_id if actor.role in OFFICE_ROLES else None
    with store.reader() as uow:
        return uow.staff.shift_closes(office, limit)


# --- holding a cut -----------------------------------------------------------------------


def hold_cut(store: Store, clock: Clock, account_no: str, reason: str, *, actor: Actor) -> None:
    """A supervisor holds the remote cut of a household in arrears, with a reason: the account
    is flagged in ``protections`` (reason ``held``), which the credit policy already never cuts
    (staff and the trusted contact are told instead). ``gridpay protect`` lifts it."""
    check_role(actor, SUPERVISOR_ROLES, "holding a cut")
    why = _text(reason, "the reason", limits.audit_reason_chars_max)
    account_id = parse_account_no(account_no)
    with store.unit_of_work() as uow:
        account = existing_account(uow, account_id)
        check_office_scope(actor, account.office_id, f"account {account.account_no}")
        before = uow.enrolment.protection(account_id)
        if before is not None:
            raise Refused(
                f"account {account.account_no} is never cut already: protected "
                f"({before.reason.value})"
            )
        now = clock.now()
        note = why[: limits.transfer_note_chars_max]
        uow.enrolment.set_protection(account_id, ProtectionReason.HELD.value, note, now)
        record(uow, actor, "credit.hold_cut", now, account_id=account_id, reason=why)
        uow.commit()


# --- helpers -----------------------------------------------------------------------------


def _verified(member: StaffMember, password: str) -> bool:
    if len(password) > limits.staff_password_chars_max:
        return False
    try:
        return _hasher.verify(member.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _check_password(password: str) -> None:
    if not limits.staff_password_chars_min <= len(password) <= limits.staff_password_chars_max:
        raise InvalidInput(
            f"a password needs {limits.staff_password_chars_min} to "
            f"{limits.staff_password_chars_max} characters"
        )


def _existing(member: StaffMember | None, username: str) -> StaffMember:
    if member is None:
        raise NotFound(f"no staff member {username!r}")
    return member


def _staff_member(member: StaffMember | None, actor: Actor) -> StaffMember:
    if member is None or not member.active or actor.kind is not ActorKind.STAFF:
        raise Forbidden(f"{actor.label} is not an active staff member")
    return member


def _text(value: str, what: str, chars_max: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{what} is required")
    if len(text) > chars_max or not text.isprintable():
        raise InvalidInput(f"{what}: printable text of at most {chars_max} characters")
    return text


def _optional_text(value: str | None, what: str, chars_max: int) -> str | None:
    return _text(value, what, chars_max) if value and value.strip() else None
