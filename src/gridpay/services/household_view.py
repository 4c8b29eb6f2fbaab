"""Use cases: what a signed-in household reads on its pages.

``home`` is the page households open most (the bench's page): one read-only unit of work, a
handful of indexed reads (the account, its balance, its settled days for the chart, its tariff,
its credit state and newest decision), and the arithmetic of ``domain.household``. The other
pages reuse ``services.queries`` (statements) and the outbox's listing (messages received).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.credit_policy import CreditState
from gridpay.domain.household import (
    HomeFacts,
    Session,
    UsageRow,
    days_of_credit,
    next_kwh_price_uyuan,
    next_tier_day,
    register_energy_wh,
)
from gridpay.domain.ledger import TransferKind
from gridpay.domain.messages import MessageKind
from gridpay.domain.payments import format_account_no
from gridpay.domain.tariff import Tariff, tariff_in_force
from gridpay.errors import InvalidInput, NotFound
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.credit import Policy, context, cut_window
from gridpay.services.household_access import session_in, touch_if_due
from gridpay.services.queries import TierPosition, TransferLine, tier_position

# The recent pace (days of credit left, the next tier's day) is the average of this many days.
PACE_DAYS = 30


@dataclass(frozen=True)
class ChartDay:
    day: dt.date
    energy_wh: int
    charge_fen: int
    estimated: bool
    registers_wh: dict[str, int] | None  # by TOU register, when the meter has them


@dataclass(frozen=True)
class Period:
    energy_wh: int
    charge_fen: int


@dataclass(frozen=True)
class TierView:
    position: TierPosition
    ytd_wh: int
    next_kwh_price_uyuan: int
    tou: bool  # prices differ by time of day: the price shown is the flat period's
    next_tier_day: dt.date | None  # at the recent pace, within this tier year


@dataclass(frozen=True)
class SupplyView:
    """The credit state in the words of ``gridpay explain``, with what comes next."""

    state: CreditState
    supply: str  # on | off, as the meter last confirmed
    pay_by: dt.date | None
    earliest_cut_at: dt.datetime | None  # local: the first cut window after the pay-by date
    last_action: str | None
    last_reason: str | None
    last_at: dt.datetime | None
    now_line: str  # what the calendar says about a cut right now


@dataclass(frozen=True)
class Home:
    account_no: str
    name: str
    as_of: dt.date
    balance_fen: int
    days_left: int | None
    yesterday: ChartDay | None
    month: Period
    year: Period  # this tier year so far (the calendar year)
    last_settled_day: dt.date | None
    chart: tuple[ChartDay, ...]  # oldest first, the chosen days (missing days left out)
    chart_days: int
    has_registers: bool
    tier: TierView | None
    supply: SupplyView


@dataclass(frozen=True)
class Activity:
    payments: tuple[TransferLine, ...]  # payments, refunds and their reversals, newest first
    messages: tuple[tuple[dt.datetime, str, str], ...]  # (created_at, kind, body), newest first


def home(store: Store, clock: Clock, p: Policy, account_id: int, chart_days: int) -> Home:
    _check_chart_days(chart_days)
    with store.reader() as uow:
        return _home_in(uow, clock, p, account_id, chart_days)


def signed_in_home(
    store: Store, clock: Clock, settings: Settings, p: Policy, token: str | None, chart_days: int
) -> tuple[Session, Home]:
    """The page households open most: the browser's session and its home in one read-only
    transaction (on PostgreSQL each transaction is round trips of its own)."""
    _check_chart_days(chart_days)
    with store.reader() as uow:
        session = session_in(uow, clock, settings, token)
        view = _home_in(uow, clock, p, session.account_id, chart_days)
    touch_if_due(store, clock, session)
    return session, view


def _check_chart_days(chart_days: int) -> None:
    if chart_days not in limits.household_chart_days:
        choices = ", ".join(str(d) for d in limits.household_chart_days)
        raise InvalidInput(f"the chart shows {choices} days")


def _home_in(uow: UnitOfWork, clock: Clock, p: Policy, account_id: int, chart_days: int) -> Home:
    today = clock.today()
    yesterday = today - dt.timedelta(days=1)
    month_first = today.replace(day=1)
    # One read from the day before the earliest day any figure needs (a TOU day's energy is
    # the difference of two end-of-day register values).
    first = min(today - dt.timedelta(days=chart_days), month_first) - dt.timedelta(days=1)
    facts = uow.household.home_facts(account_id, today)
    if facts is None:
        raise NotFound(f"account {format_account_no(account_id)} does not exist")
    usage = uow.household.usage_with_registers(account_id, first, yesterday)
    latest = (
        uow.queries.latest_usage(account_id, dt.date(today.year, 1, 1), yesterday)
        if not usage
        else None
    )
    tariffs = uow.registry.tariffs()
    days = _chart_days(usage, first)
    by_day = {d.day: d for d in days}
    last_day = days[-1].day if days else None
    if days:
        ytd_wh, ytd_fen = usage[-1].ytd_wh, usage[-1].ytd_charged_fen
    elif latest is not None and latest.height:
        ytd_wh, ytd_fen = int(latest["ytd_wh"][0]), int(latest["ytd_charged_fen"][0])
        last_day = latest["day"][0]
    else:
        ytd_wh, ytd_fen = 0, 0
    if last_day is not None and last_day.year != today.year:
        ytd_wh, ytd_fen = 0, 0  # a new tier year has begun; nothing settled in it yet
    pace = [d for d in days if d.day > today - dt.timedelta(days=PACE_DAYS + 1)]
    month = [d for d in days if d.day >= month_first]
    chart = tuple(d for d in days if d.day >= today - dt.timedelta(days=chart_days))
    return Home(
        account_no=format_account_no(account_id),
        name=facts.name,
        as_of=today,
        balance_fen=facts.balance_fen,
        days_left=days_of_credit(facts.balance_fen, [d.charge_fen for d in pace]),
        yesterday=by_day.get(yesterday),
        month=Period(sum(d.energy_wh for d in month), sum(d.charge_fen for d in month)),
        year=Period(ytd_wh, ytd_fen),
        last_settled_day=last_day,
        chart=chart,
        chart_days=chart_days,
        has_registers=any(d.registers_wh is not None for d in chart),
        tier=_tier(tariffs, facts.tariff_code, today, ytd_wh, last_day, pace),
        supply=_supply(clock, p, facts),
    )


def activity(store: Store, account_id: int) -> Activity:
    """Payments and refunds, and the messages the household was sent (never its codes)."""
    money_kinds = {
        TransferKind.PAYMENT.value,
        TransferKind.REFUND.value,
        TransferKind.REVERSAL.value,
    }
    private = {MessageKind.SIGN_IN_CODE.value, MessageKind.PHONE_CODE.value}
    with store.reader() as uow:
        # Payments, refunds and reversals are never a day's own charge: those are not read.
        transfers = uow.queries.recent_transfers(
            account_id, limits.account_recent_transfers_max * 5, own_charges=False
        )
        messages = uow.outbox.list(account_id, None, None, limits.household_messages_shown_max * 2)
    payments = tuple(
        TransferLine(**r) for r in transfers.iter_rows(named=True) if r["kind"] in money_kinds
    )[: limits.account_recent_transfers_max]
    shown = tuple(
        (r["created_at"], r["kind"], r["body"])
        for r in messages.iter_rows(named=True)
        if r["kind"] not in private
    )[: limits.household_messages_shown_max]
    return Activity(payments, shown)


def statement_months(clock: Clock) -> list[str]:
    """The months a household can open, newest first (this month included)."""
    today = clock.today()
    months = []
    year, month = today.year, today.month
    for _ in range(limits.household_statement_months_max):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


# --- helpers: decisions above, work here -------------------------------------------------


def _chart_days(rows: list[UsageRow], lead_in: dt.date) -> list[ChartDay]:
    """Settled days after ``lead_in`` (whose row only lends its registers to the next day)."""
    out = []
    previous: UsageRow | None = None
    for row in rows:
        registers = None
        if previous is not None and (row.day - previous.day).days == 1:
            registers = register_energy_wh(previous.registers(), row.registers())
        previous = row
        if row.day <= lead_in:
            continue
        out.append(ChartDay(row.day, row.energy_wh, row.charge_fen, row.estimated, registers))
    return out


def _tier(
    tariffs: list[Tariff],
    code: str,
    today: dt.date,
    ytd_wh: int,
    last_day: dt.date | None,
    pace: list[ChartDay],
) -> TierView | None:
    try:
        tariff = tariff_in_force(tariffs, code, today)
    except InvalidInput:
        return None
    position = tier_position(tariff, ytd_wh)
    pace_wh = sum(d.energy_wh for d in pace) // len(pace) if pace else 0
    forecast = None
    if position.wh_to_next_tier is not None:
        forecast = next_tier_day(last_day or today, position.wh_to_next_tier, pace_wh)
    register = "flat" if tariff.is_tou else "rest"
    return TierView(
        position=position,
        ytd_wh=ytd_wh,
        next_kwh_price_uyuan=next_kwh_price_uyuan(tariff, ytd_wh, register),
        tou=tariff.is_tou,
        next_tier_day=forecast,
    )


def _supply(clock: Clock, p: Policy, facts: HomeFacts) -> SupplyView:
    zone = ZoneInfo(p.settings.time_zone)
    credit_state = CreditState(facts.state) if facts.state is not None else CreditState.NORMAL
    earliest_cut = None
    if facts.pay_by is not None and credit_state in (
        CreditState.ARREARS,
        CreditState.DISCONNECTING,
    ):
        after_pay_by = dt.datetime.combine(facts.pay_by + dt.timedelta(days=1), dt.time(), zone)
        found = cut_window(p)(max(after_pay_by, clock.now()))
        earliest_cut = found.astimezone(zone) if found is not None else None
    last = facts.decision
    return SupplyView(
        state=credit_state,
        supply=facts.supply or "on",
        pay_by=facts.pay_by,
        earliest_cut_at=earliest_cut,
        last_action=last.action if last else None,
        last_reason=last.reason if last else None,
        last_at=last.at.astimezone(zone) if last else None,
        now_line=context(clock, p).cut_hold_reason or "a cut would be allowed now",
    )
