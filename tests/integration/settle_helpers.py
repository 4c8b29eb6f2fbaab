"""Build small cities directly in a store, and snapshot the ledger, for settlement tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from gridpay.adapters.sql.db import bulk_insert, fetch_frame
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES
from gridpay.ports.clock import Clock
from gridpay.services.setup import initialize

CREATED_AT = dt.datetime(2026, 1, 1)
METER_BASE = 100_000_000_000


def fresh_sqlite_store(path: Path, clock: Clock) -> SqlStore:
    """A second, independent database (to compare a run with a clean one)."""
    store = SqlStore(f"sqlite:///{path}")
    initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
    return store


def queue_late_readings(store: SqlStore, readings: dict[int, int], day: dt.date) -> None:
    """Store late real readings (account id -> register) and queue their true-up, as the
    readings import does for a day already settled on an estimate."""
    at = dt.datetime(2026, 10, 9)
    ids = list(readings)
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        bulk_insert(
            uow.conn,
            "readings",
            pl.DataFrame(
                {
                    "day": [day] * len(ids),
                    "meter_id": [METER_BASE + i for i in ids],
                    "total_wh": list(readings.values()),
                    "source": ["late"] * len(ids),
                    "received_at": [at] * len(ids),
                }
            ),
        )
        bulk_insert(
            uow.conn,
            "pending_trueups",
            pl.DataFrame(
                {"account_id": ids, "day": [day] * len(ids), "created_at": [at] * len(ids)}
            ),
        )
        uow.commit()


def add_city(
    store: SqlStore,
    n: int,
    *,
    installed_on: dt.date = dt.date(2025, 1, 1),
    tariff_code: str = "henan-residential-tiered",
    first_id: int = 1,
) -> list[int]:
    ids = list(range(first_id, first_id + n))
    accounts = pl.DataFrame(
        {
            "id": ids,
            "account_no": [f"{i:010d}" for i in ids],
            "name": [f"Household {i}" for i in ids],
            "phone": [f"138{i:08d}" for i in ids],
            "language": ["zh"] * n,
            "supply_type": ["direct"] * n,
            "tariff_code": [tariff_code] * n,
            "office_id": [1 + i % 6 for i in ids],
            "billing_mode": ["prepaid"] * n,
            "created_at": [CREATED_AT] * n,
        }
    )
    meters = pl.DataFrame(
        {
            "id": [METER_BASE + i for i in ids],
            "meter_no": [f"{METER_BASE + i:012d}" for i in ids],
            "account_id": ids,
            "has_tou": [False] * n,
            "has_switch": [True] * n,
            "breaker_a": [60] * n,
            "installed_on": [installed_on] * n,
            "removed_on": pl.Series([None] * n, dtype=pl.Date),
            "initial_wh": [0] * n,
            "final_wh": pl.Series([None] * n, dtype=pl.Int64),
        }
    )
    with store.unit_of_work() as uow:
        uow.registry.insert_accounts(accounts)
        uow.registry.insert_meters(meters)
        uow.commit()
    return ids


def register_wh(account_id: int, day: dt.date) -> int:
    """A deterministic cumulative register: 3-14 kWh a day depending on account and day."""
    start = dt.date(2025, 12, 31)
    days = (day - start).days
    return sum(3_000 + ((account_id * 7_919 + d * 104_729) % 11_000) for d in range(days + 1))


def add_readings(
    store: SqlStore, ids: list[int], day: dt.date, *, skip: set[int] = frozenset(), **overrides: Any
) -> None:
    rows = [
        {
            "day": day,
            "meter_id": METER_BASE + i,
            "total_wh": overrides.get(str(i), register_wh(i, day)),
            "source": "test",
            "received_at": CREATED_AT,
        }
        for i in ids
        if i not in skip
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "day": pl.Date,
            "meter_id": pl.Int64,
            "total_wh": pl.Int64,
            "source": pl.String,
            "received_at": pl.Datetime("us"),
        },
    )
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        bulk_insert(uow.conn, "readings", frame)
        uow.commit()


def snapshot(store: SqlStore) -> dict[str, Any]:
    """Everything settlement produces, in a comparable form (ids, not sequence numbers)."""
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        transfers = fetch_frame(
            uow.conn,
            "SELECT id, debit_account_id, credit_account_id, amount_fen, kind, account_id, day "
            "FROM transfers ORDER BY id",
        )
        balances = fetch_frame(
            uow.conn,
            "SELECT id, debits_posted_fen, credits_posted_fen FROM ledger_accounts ORDER BY id",
        )
        usage = fetch_frame(
            uow.conn,
            "SELECT day, account_id, CASE WHEN estimated THEN 1 ELSE 0 END, reading_wh, "
            "energy_wh, charge_fen, ytd_wh, ytd_cost_nyuan, ytd_charged_fen, window_energy_wh, "
            "window_days "
            "FROM daily_usage ORDER BY day, account_id",
        )
    return {
        "transfers": [tuple(str(v) for v in r) for r in transfers.rows()],
        "balances": balances.rows(),
        "usage": [tuple(str(v) for v in r) for r in usage.rows()],
    }
