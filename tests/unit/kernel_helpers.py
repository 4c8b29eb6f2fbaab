"""Drive the pure settlement kernel in tests, feeding each day's rows back as the next state."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import NOMINAL_VOLTAGE_V
from gridpay.domain.settlement import INPUT_SCHEMA, settle_batch
from gridpay.domain.tariff import REGISTERS, Tariff, tariff_price_frame

VOLTAGE_V = NOMINAL_VOLTAGE_V


def shipped() -> dict[str, Tariff]:
    return {t.code: t for t, _ in shipped_tariffs()}


def account_row(account_id: int = 1, tariff_code: str = "henan-residential-tiered", **kw: Any):
    row: dict[str, Any] = dict.fromkeys(INPUT_SCHEMA)
    row.update(
        account_id=account_id,
        meter_id=100_000_000_000 + account_id,
        tariff_code=tariff_code,
        breaker_a=60,
        meter_installed_on=dt.date(2020, 1, 1),
        meter_initial_wh=0,
    )
    row.update(kw)
    return row


def prev_from_usage(usage_row: dict[str, Any]) -> dict[str, Any]:
    """The state columns of the next day's input, from a usage row (what the store loads)."""
    out = {
        "prev_day": usage_row["day"],
        "prev_meter_id": usage_row["meter_id"],
        "prev_reading_wh": usage_row["reading_wh"],
        "prev_last_real_day": usage_row["last_real_day"],
        "prev_last_real_wh": usage_row["last_real_wh"],
        "prev_ytd_wh": usage_row["ytd_wh"],
        "prev_ytd_cost_nyuan": usage_row["ytd_cost_nyuan"],
        "prev_ytd_charged_fen": usage_row["ytd_charged_fen"],
        "prev_window_energy_wh": usage_row["window_energy_wh"],
        "prev_window_charge_fen": usage_row["window_charge_fen"],
        "prev_window_days": usage_row["window_days"],
    }
    for r in REGISTERS:
        out[f"prev_{r}_wh"] = usage_row[f"{r}_wh"]
    return out


def settle_rows(rows: list[dict[str, Any]], day: dt.date, tariffs: list[Tariff]):
    batch = pl.DataFrame(rows, schema=INPUT_SCHEMA, orient="row")
    in_force: dict[str, Tariff] = {}
    for t in sorted(tariffs, key=lambda t: t.effective_from):
        if t.effective_from <= day:
            in_force[t.code] = t
    return settle_batch(batch, tariff_price_frame(list(in_force.values())), day, VOLTAGE_V)


def run_days(
    readings: list[tuple[dt.date, int | None]],
    tariffs: list[Tariff],
    start: dict[str, Any],
) -> list[dict[str, Any]]:
    """Settle one account over (day, total register or None) pairs; returns the usage rows."""
    state = dict(start)
    out = []
    for day, total_wh in readings:
        row = {**state, "r_total_wh": total_wh}
        usage, _ = settle_rows([row], day, tariffs)
        assert usage.height == 1
        u = usage.row(0, named=True)
        out.append(u)
        state = {**state, **prev_from_usage(u)}
    return out
