"""Who makes a write, and what each staff role may do.

Every write service takes an ``Actor`` and records it in the audit log in the write's own
transaction. The role rules are here, pure, so that the console, the CLI and the partner API
are refused by the same code (a page hiding a button is a convenience, never the rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from gridpay import limits
from gridpay.errors import Forbidden, InvalidInput


class ActorKind(StrEnum):
    STAFF = "staff"  # signed in to the office console
    PARTNER = "partner"  # a bank, collection agent or wallet through the signed API
    HOUSEHOLD = "household"  # the household's own pages
    CLI = "cli"  # an operator on the server (the OS user, or --by)
    SYSTEM = "system"  # the workers and the night


class Role(StrEnum):
    CLERK = "clerk"  # a counter at one office
    SUPERVISOR = "supervisor"  # an office's supervisor: holds, shift differences
    FINANCE = "finance"  # reconciliation, every office, no counter work
    ADMIN = "admin"  # everything, every office


# Roles tied to one office: they act on that office's households only.
OFFICE_ROLES = frozenset({Role.CLERK, Role.SUPERVISOR})
_ROLE_TEXT = {
    Role.CLERK: "a clerk",
    Role.SUPERVISOR: "a supervisor",
    Role.FINANCE: "finance",
    Role.ADMIN: "an admin",
}
_USERNAME = re.compile(r"[a-z][a-z0-9_.-]*")


@dataclass(frozen=True)
class Actor:
    """Who acts: its kind, its id in that kind (a username, a partner code, an account number,
    an OS user) and, for office staff, their role and office."""

    kind: ActorKind
    id: str
    role: Role | None = None
    office_id: int | None = None

    def __post_init__(self) -> None:
        assert self.id, self
        assert (self.role is not None) == (self.kind is ActorKind.STAFF), self
        assert self.role not in OFFICE_ROLES or self.office_id is not None, self

    @property
    def label(self) -> str:
        """``kind:id``, as the audit log and its search show it."""
        return f"{self.kind.value}:{self.id}"


SYSTEM = Actor(ActorKind.SYSTEM, "system")


def cli_actor(user: str) -> Actor:
    """The CLI's operator: the OS user, or who ``--by`` names."""
    name = user.strip()[: limits.actor_id_chars_max]
    if not name:
        raise InvalidInput("--by must name who acts")
    return Actor(ActorKind.CLI, name)


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {text!r}: one of {roles}") from None


def parse_username(text: str) -> str:
    name = text.strip().lower()
    if not _USERNAME.fullmatch(name) or len(name) > limits.staff_username_chars_max:
        raise InvalidInput(
            f"username {text!r}: lower-case letters, digits, '.', '_' or '-', starting with a "
            f"letter, at most {limits.staff_username_chars_max} characters"
        )
    return name


def check_office_scope(actor: Actor, office_id: int, what: str) -> None:
    """A clerk or supervisor acts only on their own office's households (staff only: the CLI,
    partners and the system are not tied to an office)."""
    if actor.kind is not ActorKind.STAFF or actor.role not in OFFICE_ROLES:
        return
    if actor.office_id != office_id:
        raise Forbidden(
            f"{actor.id} works at office {actor.office_id}: {what} belongs to office "
            f"{office_id}, ask that office"
        )


def check_role(actor: Actor, allowed: frozenset[Role], what: str) -> None:
    """Staff need one of ``allowed`` (admin always may); other actors are not staff-gated."""
    if actor.kind is not ActorKind.STAFF:
        return
    assert actor.role is not None
    if actor.role is Role.ADMIN or actor.role in allowed:
        return
    needed = " or ".join(_ROLE_TEXT[r] for r in sorted(allowed))
    raise Forbidden(f"{what} needs {needed}; {actor.id} is {_ROLE_TEXT[actor.role]}")


COUNTER_ROLES = frozenset({Role.CLERK, Role.SUPERVISOR})
SUPERVISOR_ROLES = frozenset({Role.SUPERVISOR})
FINANCE_ROLES = frozenset({Role.FINANCE})
