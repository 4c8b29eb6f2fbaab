"""The households' home page under load: signed-in sessions for random accounts of a city
(``reads_city``: days of history made inside the database, built once and reusable), and the
page's work measured without HTTP (the floor).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gridpay.domain.household import Role, Session, token_hash
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store
from gridpay.services.credit import Policy
from gridpay.services.household_view import home


@dataclass(frozen=True)
class PageFloor:
    pages: int
    seconds: float
    p50_ms: float
    p95_ms: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


def open_sessions(
    store: Store, clock: Clock, account_ids: list[int], count: int, seed: int, valid_days: int
) -> list[str]:
    """Signed-in sessions for ``count`` random accounts (as the code page would leave them):
    their cookie tokens."""
    rng = random.Random(seed)
    chosen = rng.sample(account_ids, min(count, len(account_ids)))
    now = clock.now()
    tokens = []
    with store.unit_of_work() as uow:
        for account_id in chosen:
            account = uow.registry.account(account_id)
            assert account is not None and account.phone, account_id
            token = secrets.token_urlsafe(32)
            uow.household.add_session(
                Session(
                    token_hash=token_hash(token),
                    account_id=account_id,
                    phone=account.phone,
                    role=Role.OWNER,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + dt.timedelta(days=valid_days),
                )
            )
            tokens.append(token)
        uow.commit()
    return tokens


def measure_floor(
    store: Store,
    clock: Clock,
    policy: Policy,
    account_ids: list[int],
    pages: int,
    seed: int,
    render: Callable[[object], object] | None = None,
) -> PageFloor:
    """The home page's work without HTTP, one page after another for random accounts: the
    service's reads and arithmetic, and ``render`` (the entrypoint's chart and template) if
    given."""
    rng = random.Random(seed)
    times_s = []
    started = time.perf_counter()
    for _ in range(pages):
        t0 = time.perf_counter()
        view = home(store, clock, policy, rng.choice(account_ids), 30)
        if render is not None:
            render(view)
        times_s.append(time.perf_counter() - t0)
    total_s = time.perf_counter() - started
    times_s.sort()
    return PageFloor(
        pages=pages,
        seconds=total_s,
        p50_ms=times_s[len(times_s) // 2] * 1000,
        p95_ms=times_s[int(len(times_s) * 0.95) - 1] * 1000,
    )
