"""Housekeeping: delete the rows of signing in and signing requests that can never be used again.

Each kind is dead by the same rule its own check applies, so a row still usable is never
deleted:

- a household's sign-in code once it has expired *and* left the rate-limit window (the codes
  are the rate limits' memory: deleting one sooner would let more codes be sent);
- a household's session once expired, idle past the idle limit, or ended (signed out);
- a staff session once expired or ended;
- a staff sign-in failure once outside the sign-in rate window;
- a partner's nonce once older than twice the signature window (and a second): a request's
  timestamp may be a window ahead of the time its nonce was seen, and is stale a window after
  that, so no request carrying it can pass the freshness check any more.

The audit log is not touched (append-only). Each batch is its own short transaction of at most
``limits.housekeeping_batch_rows_max`` rows, so sign-ins and partner requests never wait long
behind it; a pass stops after ``limits.housekeeping_batches_max`` batches of a kind and leaves
the rest to the next pass. Running it again deletes nothing more: it is idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from gridpay import limits
from gridpay.config import Settings
from gridpay.ports.clock import Clock
from gridpay.ports.housekeeping import Cutoffs, HousekeepingRepo
from gridpay.ports.store import Store

KINDS = (
    "household_codes",
    "household_sessions",
    "staff_sessions",
    "staff_signin_failures",
    "partner_nonces",
)


@dataclass(frozen=True)
class HousekeepingReport:
    deleted: dict[str, int]  # rows deleted by kind (every kind named, 0 included)
    unfinished: tuple[str, ...]  # kinds with dead rows left for the next pass

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())


def cutoffs(now: dt.datetime, settings: Settings) -> Cutoffs:
    """What is dead at ``now`` (the module's doc says why for each)."""
    assert limits.sign_in_rate_window_s >= limits.sign_in_code_valid_s
    return Cutoffs(
        now=now,
        codes_requested_before=now - dt.timedelta(seconds=limits.sign_in_rate_window_s),
        household_idle_before=now - dt.timedelta(minutes=settings.household_session_idle_minutes),
        signin_failures_before=now - dt.timedelta(seconds=limits.staff_signin_window_s),
        # One second more: timestamps are whole seconds, compared with the truncated time.
        nonces_seen_before=now - dt.timedelta(seconds=2 * settings.partner_signature_window_s + 1),
    )


def sweep(
    store: Store,
    clock: Clock,
    settings: Settings,
    *,
    batch_rows_max: int = limits.housekeeping_batch_rows_max,
    batches_max: int = limits.housekeeping_batches_max,
) -> HousekeepingReport:
    """Delete the dead rows of every kind, in bounded batches (one transaction each)."""
    assert batch_rows_max >= 1 and batches_max >= 1
    dead = cutoffs(clock.now(), settings)
    deleted = dict.fromkeys(KINDS, 0)
    unfinished = []
    for kind in KINDS:
        for _ in range(batches_max):
            with store.unit_of_work() as uow:
                rows = _deleter(uow.housekeeping, kind)(dead, batch_rows_max)
                uow.commit()
            deleted[kind] += rows
            if rows < batch_rows_max:
                break
        else:
            unfinished.append(kind)
    return HousekeepingReport(deleted, tuple(unfinished))


def _deleter(repo: HousekeepingRepo, kind: str) -> Callable[[Cutoffs, int], int]:
    deleter: Callable[[Cutoffs, int], int] = getattr(repo, f"delete_{kind}")
    return deleter
