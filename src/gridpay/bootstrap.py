"""The composition root: the one place where adapters are chosen and wired to services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gridpay.adapters.clock import FixedClock, MovingClock, SystemClock, parse_instant
from gridpay.adapters.dlt645.head_end import ClientOptions, Dlt645HeadEnd
from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import load_policy
from gridpay.adapters.sms import sms_gateway_from_settings
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.wallet_rsa2 import wallet_from_settings
from gridpay.config import Settings, load_settings
from gridpay.domain.commands import RateLimiter
from gridpay.errors import ConfigError, GridpayError
from gridpay.ports.clock import Clock
from gridpay.ports.gateways import AnySmsGateway, HeadEnd
from gridpay.ports.meters import MeterClockSync
from gridpay.ports.payments_online import PaymentProvider
from gridpay.ports.readings import ReadingsCollector
from gridpay.ports.store import Store
from gridpay.services.collection import HeadEndCollector
from gridpay.services.credit import Policy


@dataclass
class App:
    settings: Settings
    store: SqlStore
    clock: Clock
    credit: Policy  # the credit policy with its holiday calendar
    as_of: dt.datetime | None = None  # the business date the clock starts at, if not real time

    def close(self) -> None:
        self.store.dispose()


def credit_policy(settings: Settings) -> Policy:
    """The configured credit policy and holiday calendar (no database needed)."""
    override = settings.holiday_override_file
    return Policy(
        policy=load_policy(settings.credit_policy, settings.credit_policy_file),
        calendar=ChineseHolidayCalendar(Path(override) if override else None),
        settings=settings,
    )


def sms_gateway(settings: Settings) -> AnySmsGateway:
    return sms_gateway_from_settings(settings)


def build(
    settings: Settings | None = None,
    *,
    db: str | None = None,
    clock: Clock | None = None,
    as_of: str | None = None,
    clock_moves: bool = False,
    check_database: Literal["existing", "create"] | None = None,
) -> App:
    """``as_of`` (an operator's ISO 8601 instant) puts the clock on a business date: fixed, or
    moving with real time from there when ``clock_moves`` (for the workers).

    ``check_database``: refuse, before any work, a database that is missing ("existing") or
    unreachable (both); None skips the check (benches and tests make their own databases)."""
    settings = settings or load_settings(db=db)
    at = parse_instant(as_of, settings.time_zone, "--now (GRIDPAY_NOW)") if as_of else None
    store = SqlStore(settings.database_url)
    if check_database is not None:
        try:
            store.check_open(schema_required=check_database == "existing")
        except GridpayError:
            store.dispose()
            raise
    return App(
        settings=settings,
        store=store,
        clock=clock or business_clock(settings, at, moves=clock_moves),
        credit=credit_policy(settings),
        as_of=at,
    )


def business_clock(settings: Settings, at: dt.datetime | None, *, moves: bool) -> Clock:
    if at is None:
        return SystemClock(settings.time_zone)
    if moves:
        return MovingClock(at, settings.time_zone)
    return FixedClock(at, settings.time_zone)


def head_end(settings: Settings, simulated: Callable[[], HeadEnd] | None = None) -> HeadEnd:
    """The configured head-end, the one every command path uses (``settings.head_end``).

    The simulated head-end lives in the simulation wing, which nothing here may import: an
    entrypoint that may use it passes its factory (``entrypoints.head_ends``), and without one
    a configured "simulated" is refused rather than replaced by anything else."""
    if settings.head_end == "dlt645":
        return dlt645_head_end(settings)
    if settings.head_end == "simulated" and simulated is not None:
        return simulated()
    raise ConfigError(f"head_end {settings.head_end!r} is not available here")


def dlt645_head_end(settings: Settings) -> Dlt645HeadEnd:
    options = ClientOptions(
        connections=settings.head_end_connections,
        in_flight_max=settings.head_end_in_flight,
        reply_timeout_s=settings.head_end_reply_timeout_s,
        attempts_max=settings.head_end_attempts,
    )
    return Dlt645HeadEnd(
        settings.head_end_host,
        settings.head_end_port,
        time_zone=settings.time_zone,
        options=options,
    )


def command_limiter(settings: Settings) -> RateLimiter:
    """The dispatcher's rate limit for the configured head-end (one per running worker)."""
    return RateLimiter(settings.head_end_commands_per_s, settings.head_end_command_burst)


def readings_collector(store: Store, clock: Clock, head: HeadEnd) -> ReadingsCollector | None:
    """The night's collection through the head-end when it reads meters (DL/T 645); None when
    readings arrive as files only (the simulated head-end switches relays, it reads nothing)."""
    if isinstance(head, Dlt645HeadEnd):
        return HeadEndCollector(store, clock, head)
    return None


def meter_clock_sync(head: HeadEnd) -> MeterClockSync | None:
    """The head-end's broadcast time sync, if it has one."""
    return head if isinstance(head, Dlt645HeadEnd) else None


def payment_provider(settings: Settings) -> PaymentProvider | None:
    """The configured wallet for paying online, or None when none is configured."""
    return wallet_from_settings(settings)
