"""Use cases for people: an account at a glance, and a month's statement.

Both read one unit of work (one consistent view) and return plain frozen dataclasses that the
CLI prints as Rich tables or JSON. Money stays integer fen here; formatting is the caller's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.domain.ledger import TransferKind
from gridpay.domain.payments import parse_account_no
from gridpay.domain.tariff import Tariff, tariff_in_force
from gridpay.errors import InvalidInput
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store
from gridpay.services.registry import existing_account

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TierPosition:
    """Where the year-to-date energy sits in the tariff's annual tiers (阶梯)."""

    tier: int  # 1 = first tier
    tiers: int
    tier_from_wh: int
    next_tier_from_wh: int | None  # None in the last tier
    wh_to_next_tier: int | None


@dataclass(frozen=True)
class UsageDay:
    day: dt.date
    energy_wh: int
    charge_fen: int
    estimated: bool


@dataclass(frozen=True)
class TransferLine:
    seq: int
    id: str
    kind: str
    day: dt.date | None
    amount_fen: int  # signed from the customer's side: + pays in, - takes out
    channel: str | None
    ref: str | None
    office_id: int | None
    reverses_id: str | None
    note: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class AccountView:
    account_no: str
    name: str
    phone: str | None
    language: str
    supply_type: str
    billing_mode: str
    tariff_code: str
    office_id: int
    office_name: str
    created_at: dt.datetime
    meter_nos: tuple[str, ...]
    as_of: dt.date
    balance_fen: int
    ytd_year: int
    ytd_wh: int  # energy billed this calendar year, up to the last settled day
    ytd_charged_fen: int
    last_settled_day: dt.date | None
    tier: TierPosition | None  # None when no version of the tariff is in force
    usage: tuple[UsageDay, ...]  # the last ``account_history_days_max`` days, oldest first
    usage_energy_wh: int
    usage_charge_fen: int
    recent_transfers: tuple[TransferLine, ...]  # newest first


@dataclass(frozen=True)
class StatementLine:
    day: dt.date
    transfer_id: str
    kind: str
    amount_fen: int  # signed from the customer's side
    balance_fen: int  # running balance after this line
    energy_wh: int | None  # for a day's charge: the day's settled energy
    channel: str | None
    ref: str | None
    reverses_id: str | None
    note: str | None


@dataclass(frozen=True)
class Statement:
    account_no: str
    name: str
    month: str  # "2026-11"
    first_day: dt.date
    last_day: dt.date
    opening_balance_fen: int
    lines: tuple[StatementLine, ...]
    closing_balance_fen: int
    totals_fen: dict[str, int]  # signed sums by transfer kind, every kind present
    energy_wh: int  # settled energy of the month's days


# --- use cases ---------------------------------------------------------------------------


def account_show(store: Store, clock: Clock, account_no: str) -> AccountView:
    account_id = parse_account_no(account_no)
    today = clock.today()
    with store.reader() as uow:
        account = existing_account(uow, account_id)
        balance_fen = uow.ledger.balance_fen(account_id)
        # The last complete days: a day is settled after it ends.
        window_first = today - dt.timedelta(days=limits.account_history_days_max)
        usage = uow.queries.usage_between(account_id, window_first, today - dt.timedelta(days=1))
        ytd = uow.queries.latest_usage(account_id, dt.date(today.year, 1, 1), today)
        transfers = uow.queries.recent_transfers(account_id, limits.account_recent_transfers_max)
        tariffs = uow.registry.tariffs()
        offices = uow.registry.offices()
        meters = uow.registry.meters_of(account_id)
        # A change of tariff from a day (``services.account_changes``) supersedes the one the
        # account was registered with.
        tariff_code = uow.account_changes.tariff_on(account_id, today) or account.tariff_code
    ytd_row = ytd.row(0, named=True) if ytd.height else None
    ytd_wh = int(ytd_row["ytd_wh"]) if ytd_row else 0
    return AccountView(
        account_no=account.account_no,
        name=account.name,
        phone=account.phone,
        language=account.language.value,
        supply_type=account.supply_type.value,
        billing_mode=account.billing_mode.value,
        tariff_code=tariff_code,
        office_id=account.office_id,
        office_name=offices.get(account.office_id, "?"),
        created_at=account.created_at,
        meter_nos=tuple(m.meter_no for m in meters),
        as_of=today,
        balance_fen=balance_fen,
        ytd_year=today.year,
        ytd_wh=ytd_wh,
        ytd_charged_fen=int(ytd_row["ytd_charged_fen"]) if ytd_row else 0,
        last_settled_day=ytd_row["day"] if ytd_row else None,
        tier=_tier_in_force(tariffs, tariff_code, today, ytd_wh),
        usage=tuple(
            UsageDay(r["day"], r["energy_wh"], r["charge_fen"], r["estimated"])
            for r in usage.iter_rows(named=True)
        ),
        usage_energy_wh=int(usage["energy_wh"].sum()),
        usage_charge_fen=int(usage["charge_fen"].sum()),
        recent_transfers=tuple(TransferLine(**r) for r in transfers.iter_rows(named=True)),
    )


def account_statement(store: Store, account_no: str, month: str) -> Statement:
    """Opening balance, each dated movement of the month, closing balance, totals.

    Movements are placed by their business date (``day``): a day's charge on the day it is
    for, a payment, refund or reversal on the day it was taken. Opening and closing are computed
    independently from the ledger, so ``opening + movements = closing`` is a real check.
    """
    account_id = parse_account_no(account_no)
    first_day, last_day = parse_month(month)
    with store.reader() as uow:
        account = existing_account(uow, account_id)
        opening_fen = uow.queries.net_before(account_id, first_day)
        closing_fen = uow.queries.net_before(account_id, last_day + dt.timedelta(days=1))
        transfers = uow.queries.transfers_between(account_id, first_day, last_day)
        usage = uow.queries.usage_between(account_id, first_day, last_day)
    lines = _statement_lines(transfers, usage, opening_fen)
    movements_fen = sum(line.amount_fen for line in lines)
    assert opening_fen + movements_fen == closing_fen, (opening_fen, movements_fen, closing_fen)
    return Statement(
        account_no=account.account_no,
        name=account.name,
        month=f"{first_day:%Y-%m}",
        first_day=first_day,
        last_day=last_day,
        opening_balance_fen=opening_fen,
        lines=lines,
        closing_balance_fen=closing_fen,
        totals_fen=_totals_by_kind(lines),
        energy_wh=int(usage["energy_wh"].sum()),
    )


# --- pure helpers ------------------------------------------------------------------------


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    """'2026-11' -> (2026-11-01, 2026-11-30)."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput(f"month {text!r} is not valid: write it as YYYY-MM, e.g. 2026-11")
    first_day = dt.date(int(match.group(1)), int(match.group(2)), 1)
    next_month = (first_day + dt.timedelta(days=31)).replace(day=1)
    return first_day, next_month - dt.timedelta(days=1)


def tier_position(tariff: Tariff, ytd_wh: int) -> TierPosition:
    """The tier the next kWh falls in: tier boundaries are where the tariff's bands start or end.

    At exactly a boundary the next kWh is already in the higher tier (the surcharge applies to
    energy above the boundary).
    """
    bounds = sorted(
        {b.from_wh for b in tariff.bands if b.from_wh > 0}
        | {b.to_wh for b in tariff.bands if b.to_wh is not None}
    )
    passed = [b for b in bounds if b <= ytd_wh]
    ahead = [b for b in bounds if b > ytd_wh]
    next_from = ahead[0] if ahead else None
    return TierPosition(
        tier=len(passed) + 1,
        tiers=len(bounds) + 1,
        tier_from_wh=passed[-1] if passed else 0,
        next_tier_from_wh=next_from,
        wh_to_next_tier=None if next_from is None else next_from - ytd_wh,
    )


def _tier_in_force(
    tariffs: list[Tariff], code: str, day: dt.date, ytd_wh: int
) -> TierPosition | None:
    try:
        tariff = tariff_in_force(tariffs, code, day)
    except InvalidInput:
        return None
    return tier_position(tariff, ytd_wh)


def _statement_lines(
    transfers: pl.DataFrame, usage: pl.DataFrame, opening_fen: int
) -> tuple[StatementLine, ...]:
    energy_by_day = dict(zip(usage["day"].to_list(), usage["energy_wh"].to_list(), strict=True))
    charge_kinds = {TransferKind.CHARGE.value, TransferKind.CREDIT.value}
    lines = []
    balance_fen = opening_fen
    for r in transfers.iter_rows(named=True):
        balance_fen += r["amount_fen"]
        own_day_charge = r["kind"] in charge_kinds and not str(r["id"]).startswith("trueup/")
        lines.append(
            StatementLine(
                day=r["day"],
                transfer_id=r["id"],
                kind=r["kind"],
                amount_fen=r["amount_fen"],
                balance_fen=balance_fen,
                energy_wh=energy_by_day.get(r["day"]) if own_day_charge else None,
                channel=r["channel"],
                ref=r["ref"],
                reverses_id=r["reverses_id"],
                note=r["note"],
            )
        )
    return tuple(lines)


def _totals_by_kind(lines: tuple[StatementLine, ...]) -> dict[str, int]:
    totals = {kind.value: 0 for kind in TransferKind}
    for line in lines:
        totals[line.kind] = totals.get(line.kind, 0) + line.amount_fen
    return totals
