"""Test helpers: accounts, settled days and raw ledger reads for payment/audit/query tests."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from typing import Any

import polars as pl
import pytest
from sqlalchemy import text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.ledger import REVENUE_ID, Transfer, TransferKind, charge_id, credit_id
from gridpay.entrypoints.cli._common import run_app

CREATED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
METER_BASE = 200_000_000_000


def add_accounts(
    store: SqlStore,
    ids: Iterable[int],
    *,
    billing_mode: str = "prepaid",
    tariff_code: str = "henan-residential-tiered",
    office_id: int = 1,
) -> list[int]:
    """Insert accounts (and, through the registry, their customer ledger accounts)."""
    ids = list(ids)
    n = len(ids)
    frame = pl.DataFrame(
        {
            "id": ids,
            "account_no": [f"{i:010d}" for i in ids],
            "name": [f"Household {i}" for i in ids],
            "phone": [f"139{i:08d}" for i in ids],
            "language": ["zh"] * n,
            "supply_type": ["direct"] * n,
            "tariff_code": [tariff_code] * n,
            "office_id": [office_id] * n,
            "billing_mode": [billing_mode] * n,
            "created_at": [CREATED_AT] * n,
        },
        schema_overrides={"id": pl.Int64, "office_id": pl.Int64},
    )
    with store.unit_of_work() as uow:
        uow.registry.insert_accounts(frame)
        uow.commit()
    return ids


def account_no(account_id: int) -> str:
    return f"{account_id:010d}"


def settle_day_by_hand(
    store: SqlStore,
    account_id: int,
    day: dt.date,
    *,
    energy_wh: int,
    charge_fen: int,
    ytd_wh: int,
    ytd_charged_fen: int,
) -> None:
    """What settlement leaves for one (account, day): a usage row and its charge or credit."""
    with store.unit_of_work() as uow:
        insert_usage_row(
            uow.conn,
            account_id,
            day,
            energy_wh=energy_wh,
            charge_fen=charge_fen,
            ytd_wh=ytd_wh,
            ytd_charged_fen=ytd_charged_fen,
        )
        if charge_fen != 0:
            uow.ledger.post(charge_transfer(account_id, day, charge_fen), CREATED_AT)
        uow.commit()


def charge_transfer(account_id: int, day: dt.date, charge_fen: int) -> Transfer:
    """The settlement's transfer for a day: a charge if positive, a credit if negative."""
    assert charge_fen != 0
    if charge_fen > 0:
        return Transfer(
            id=charge_id(account_id, day),
            debit_account_id=account_id,
            credit_account_id=REVENUE_ID,
            amount_fen=charge_fen,
            kind=TransferKind.CHARGE,
            account_id=account_id,
            day=day,
        )
    return Transfer(
        id=credit_id(account_id, day),
        debit_account_id=REVENUE_ID,
        credit_account_id=account_id,
        amount_fen=-charge_fen,
        kind=TransferKind.CREDIT,
        account_id=account_id,
        day=day,
    )


def insert_usage_row(
    conn: Any,
    account_id: int,
    day: dt.date,
    *,
    energy_wh: int,
    charge_fen: int,
    ytd_wh: int,
    ytd_charged_fen: int,
    tariff_code: str = "henan-residential-tiered",
) -> None:
    conn.execute(
        schema.daily_usage.insert().values(
            day=day,
            account_id=account_id,
            meter_id=METER_BASE + account_id,
            tariff_code=tariff_code,
            estimated=False,
            reading_wh=ytd_wh,
            last_real_day=day,
            last_real_wh=ytd_wh,
            energy_wh=energy_wh,
            charge_fen=charge_fen,
            ytd_wh=ytd_wh,
            ytd_cost_nyuan=ytd_charged_fen * 10_000_000,
            ytd_charged_fen=ytd_charged_fen,
            window_energy_wh=0,
            window_charge_fen=0,
            window_days=0,
            starts_run=True,
        )
    )


def execute(store: SqlStore, sql: str, **params: Any) -> None:
    """Raw SQL, committed: for tests that corrupt the books on purpose."""
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        uow.conn.execute(text(sql), params)
        uow.commit()


def scalar(store: SqlStore, sql: str, **params: Any) -> Any:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        return uow.conn.execute(text(sql), params).scalar()


def rows(store: SqlStore, sql: str, **params: Any) -> list[Any]:
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        return list(uow.conn.execute(text(sql), params).all())


def balance_fen(store: SqlStore, account_id: int) -> int:
    with store.unit_of_work() as uow:
        return uow.ledger.balance_fen(account_id)


def cli(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``gridpay --db <store> ARGS`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["gridpay", "--db", store.url, *args])
    code = run_app()
    out, err = capsys.readouterr()
    return code, out, err


def small_reads_city(store: SqlStore, clock: Any, accounts: int, history_days: int) -> Any:
    """The reads and web benches' city (``simulation.reads_city``), small, ending 2026-11-26."""
    from gridpay.adapters.tariff_files import shipped_tariffs  # noqa: PLC0415
    from gridpay.config import DEFAULT_OFFICES  # noqa: PLC0415
    from gridpay.simulation.reads_city import build_reads_city  # noqa: PLC0415

    return build_reads_city(
        store,
        clock,
        accounts=accounts,
        history_days=history_days,
        newest_day=dt.date(2026, 11, 26),
        seed=3,
        office_names=DEFAULT_OFFICES,
        tariff_files=shipped_tariffs(),
    )
