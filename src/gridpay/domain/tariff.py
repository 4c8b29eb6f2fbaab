"""Tariffs as versioned data, and the exact cost function they define.

A tariff version prices a day's energy in two parts, both exact integers (see ``money``):

1. **register prices**: energy on each time-of-use register (sharp, peak, flat, valley) at that
   register's price, and any energy not on a register (a meter without TOU registers, or the
   meter's rounding between the total and its registers) at the ``rest`` price. A flat tariff sets
   every price to its one price, so all energy costs the same.
2. **band surcharges** over the calendar year's cumulative energy (阶梯电价 settled annually):
   ``S(e) = sum over bands of clamp(e - from, 0, to - from) * surcharge``. The cost of the day's
   energy from ``ytd_before`` to ``ytd_after`` is ``S(ytd_after) - S(ytd_before)``.

Because the cost of a year is the sum of each day's exact cost, and rounding to fen happens once
on the running total (cumulative rounding), the year's daily charges add up to the annual bill.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from gridpay import limits
from gridpay.domain.money import WH_PER_KWH, parse_kwh, parse_price_yuan_per_kwh
from gridpay.errors import InvalidInput

REGISTERS = ("sharp", "peak", "flat", "valley")
PRICE_KEYS = (*REGISTERS, "rest")


@dataclass(frozen=True)
class Band:
    """A surcharge on annual cumulative energy between ``from_wh`` and ``to_wh`` (None = no end)."""

    from_wh: int
    to_wh: int | None
    surcharge_uyuan_per_kwh: int


@dataclass(frozen=True)
class Tariff:
    code: str
    name: str
    effective_from: dt.date
    prices_uyuan_per_kwh: Mapping[str, int]  # keys: PRICE_KEYS
    bands: tuple[Band, ...]
    default_daily_wh: int  # estimate for an account with no history yet
    is_tou: bool

    def price(self, key: str) -> int:
        return self.prices_uyuan_per_kwh[key]


def parse_tariff(data: Mapping[str, Any]) -> Tariff:
    """Build a tariff version from a loaded data file; raise ``InvalidInput`` if malformed."""
    code = str(data.get("code", "")).strip()
    if not code:
        raise InvalidInput("tariff file has no 'code'")
    effective_from = data.get("effective_from")
    if isinstance(effective_from, str):
        try:
            effective_from = dt.date.fromisoformat(effective_from)
        except ValueError:
            raise InvalidInput(
                f"tariff {code}: effective_from {effective_from!r} is not a date"
            ) from None
    if not isinstance(effective_from, dt.date):
        raise InvalidInput(f"tariff {code}: 'effective_from' must be a date like 2026-07-01")
    raw_prices = data.get("prices") or {}
    prices = _parse_prices(code, raw_prices)
    bands = _parse_bands(code, data.get("bands") or [])
    default_daily_wh = parse_kwh(str(data.get("default_daily_kwh", "5")))
    return Tariff(
        code=code,
        name=str(data.get("name", code)),
        effective_from=effective_from,
        prices_uyuan_per_kwh=prices,
        bands=bands,
        default_daily_wh=default_daily_wh,
        is_tou="all" not in raw_prices,
    )


def _parse_prices(code: str, raw: Mapping[str, Any]) -> dict[str, int]:
    if "all" in raw:
        if set(raw) != {"all"}:
            raise InvalidInput(f"tariff {code}: 'all' cannot be combined with register prices")
        price = parse_price_yuan_per_kwh(str(raw["all"]))
        return dict.fromkeys(PRICE_KEYS, price)
    missing = [r for r in REGISTERS if r not in raw]
    if missing:
        raise InvalidInput(
            f"tariff {code}: prices need either 'all' or every register; missing {missing}"
        )
    prices = {r: parse_price_yuan_per_kwh(str(raw[r])) for r in REGISTERS}
    prices["rest"] = parse_price_yuan_per_kwh(str(raw.get("rest", raw["flat"])))
    if any(p < 0 for p in prices.values()):
        raise InvalidInput(f"tariff {code}: prices cannot be negative")
    return prices


def _parse_bands(code: str, raw: Sequence[Mapping[str, Any]]) -> tuple[Band, ...]:
    if len(raw) > limits.tariff_bands_max:
        raise InvalidInput(f"tariff {code}: at most {limits.tariff_bands_max} bands")
    bands = []
    for item in raw:
        from_wh = parse_kwh(str(item["from_kwh"]))
        to_wh = parse_kwh(str(item["to_kwh"])) if "to_kwh" in item else None
        if to_wh is not None and to_wh <= from_wh:
            raise InvalidInput(f"tariff {code}: band to_kwh must be above from_kwh")
        bands.append(Band(from_wh, to_wh, parse_price_yuan_per_kwh(str(item["surcharge"]))))
    return tuple(sorted(bands, key=lambda b: b.from_wh))


def tariff_in_force(versions: Sequence[Tariff], code: str, day: dt.date) -> Tariff:
    """The version of tariff ``code`` in force on ``day``."""
    candidates = [t for t in versions if t.code == code and t.effective_from <= day]
    if not candidates:
        raise InvalidInput(f"no version of tariff {code!r} is in force on {day}")
    return max(candidates, key=lambda t: t.effective_from)


# --- scalar pricing: the reference the vectorised kernel is tested against ---------------------


def band_surcharge_nyuan(bands: Sequence[Band], ytd_wh: int) -> int:
    """S(e): the surcharge part of the exact cost of ``ytd_wh`` of annual cumulative energy."""
    total = 0
    for band in bands:
        width = ytd_wh - band.from_wh
        if band.to_wh is not None:
            width = min(width, band.to_wh - band.from_wh)
        total += max(width, 0) * band.surcharge_uyuan_per_kwh
    return total


def day_cost_nyuan(
    tariff: Tariff,
    ytd_before_wh: int,
    energy_wh: int,
    register_wh: Mapping[str, int] | None = None,
) -> int:
    """Exact cost of a day's energy, given the year-to-date energy before it."""
    registers = register_wh or {}
    on_registers_wh = sum(registers.values())
    cost = (energy_wh - on_registers_wh) * tariff.price("rest")
    for name, wh in registers.items():
        cost += wh * tariff.price(name)
    ytd_after_wh = ytd_before_wh + energy_wh
    return (
        cost
        + band_surcharge_nyuan(tariff.bands, ytd_after_wh)
        - band_surcharge_nyuan(tariff.bands, ytd_before_wh)
    )


def annual_cost_nyuan(tariff: Tariff, energy_wh: int) -> int:
    """Exact cost of a year's energy all on one tariff, priced directly (no daily split)."""
    return day_cost_nyuan(tariff, 0, energy_wh)


# --- vectorised pricing, for the settlement kernel ---------------------------------------------


def tariff_price_frame(tariffs: Sequence[Tariff]) -> pl.DataFrame:
    """One row per tariff code: its prices and up to ``tariff_bands_max`` bands as columns.

    Unused bands have zero width and zero surcharge, so the kernel needs no per-tariff branching.
    """
    rows = []
    for t in tariffs:
        row: dict[str, Any] = {"tariff_code": t.code}
        for key in PRICE_KEYS:
            row[f"p_{key}"] = t.price(key)
        for i in range(limits.tariff_bands_max):
            band = t.bands[i] if i < len(t.bands) else None
            row[f"b{i}_from_wh"] = band.from_wh if band else 0
            # An open band ends "never": a year at 1 MW continuous is far below this.
            row[f"b{i}_to_wh"] = (band.to_wh if band.to_wh is not None else 10**13) if band else 0
            row[f"b{i}_s"] = band.surcharge_uyuan_per_kwh if band else 0
        row["default_daily_wh"] = t.default_daily_wh
        rows.append(row)
    schema: dict[str, Any] = {"tariff_code": pl.String}
    schema.update({c: pl.Int64 for c in rows[0] if c != "tariff_code"} if rows else {})
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def prices_in_force(versions: Sequence[Tariff], day: dt.date) -> pl.DataFrame:
    """``tariff_price_frame`` of each tariff's version in force on ``day``."""
    latest: dict[str, Tariff] = {}
    for t in sorted(versions, key=lambda t: t.effective_from):
        if t.effective_from <= day:
            latest[t.code] = t
    return tariff_price_frame(list(latest.values()))


def band_surcharge_expr(ytd_wh: pl.Expr) -> pl.Expr:
    """S(e) over columns produced by ``tariff_price_frame``."""
    total = pl.lit(0, dtype=pl.Int64)
    for i in range(limits.tariff_bands_max):
        width = (ytd_wh - pl.col(f"b{i}_from_wh")).clip(lower_bound=0)
        width = pl.min_horizontal(width, pl.col(f"b{i}_to_wh") - pl.col(f"b{i}_from_wh"))
        total = total + width * pl.col(f"b{i}_s")
    return total


def kwh(energy_wh: int) -> float:
    """For charts and summaries only: never for money."""
    return energy_wh / WH_PER_KWH
