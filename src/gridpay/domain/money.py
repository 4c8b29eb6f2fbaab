"""Money and energy units, through named helpers only.

Inside gridpay:
- money is integer **fen** (1 yuan = 100 fen);
- energy is integer **Wh** (meters report kWh with two decimals, i.e. 10 Wh steps);
- prices are integer **micro-yuan per kWh** (``uyuan_per_kwh``): 0.56 yuan/kWh = 560_000;
- an exact cost is integer **nano-yuan** (``nyuan``): Wh x uyuan/kWh = 1e-3 kWh x 1e-6 yuan/kWh.

So pricing is exact integer arithmetic, and the only rounding is nano-yuan -> fen, done once,
half up, by ``fen_from_nyuan``. ``Decimal`` appears only when parsing and printing.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import polars as pl

from gridpay.errors import InvalidInput

FEN_PER_YUAN = 100
WH_PER_KWH = 1_000
UYUAN_PER_YUAN = 1_000_000
NYUAN_PER_FEN = 10_000_000
_HALF_FEN_NYUAN = NYUAN_PER_FEN // 2
_MAGNITUDE_MAX = Decimal(10) ** 12  # no amount, energy or price in gridpay comes near this


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise InvalidInput(f"{what} {text!r} is not a number")
    return value


def _scaled(text: str, scale: int, what: str, decimals_max: int) -> int:
    value = _decimal(text, what)
    if abs(value) >= _MAGNITUDE_MAX:
        raise InvalidInput(f"{what} {text!r} is too large")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > decimals_max and value != value.quantize(Decimal(1).scaleb(-decimals_max)):
        raise InvalidInput(f"{what} {text!r} has more than {decimals_max} decimals")
    scaled = value * scale
    assert scaled == scaled.to_integral_value()
    return int(scaled)


def parse_yuan(text: str) -> int:
    """'12.30' -> 1230 fen. At most two decimals; the sign is kept (callers decide if allowed)."""
    return _scaled(text, FEN_PER_YUAN, "amount", 2)


def parse_kwh(text: str) -> int:
    """'1234.56' kWh -> 1_234_560 Wh. At most three decimals."""
    return _scaled(text, WH_PER_KWH, "energy", 3)


def parse_price_yuan_per_kwh(text: str) -> int:
    """'0.568' yuan/kWh -> 568_000 micro-yuan/kWh. At most six decimals."""
    return _scaled(text, UYUAN_PER_YUAN, "price", 6)


def format_fen(amount_fen: int) -> str:
    """1230 -> '12.30'; -5 -> '-0.05'."""
    sign = "-" if amount_fen < 0 else ""
    whole, part = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"


def format_kwh(energy_wh: int) -> str:
    """1_234_560 -> '1234.56' (two decimals, as the meters show; half up)."""
    value = (Decimal(energy_wh) / WH_PER_KWH).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value}"


def format_price(price_uyuan_per_kwh: int) -> str:
    """560_000 -> '0.5600' yuan/kWh (at least four decimals)."""
    value = Decimal(price_uyuan_per_kwh) / UYUAN_PER_YUAN
    text = f"{value:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(4, '0')}"


def fen_from_nyuan(cost_nyuan: int) -> int:
    """Round an exact cost to fen, half up (towards +infinity at exactly half): the one rounding."""
    return (cost_nyuan + _HALF_FEN_NYUAN) // NYUAN_PER_FEN


def fen_from_nyuan_expr(cost_nyuan: pl.Expr) -> pl.Expr:
    """``fen_from_nyuan`` as a Polars expression over an Int64 column (floor division, as above)."""
    return (cost_nyuan + _HALF_FEN_NYUAN) // NYUAN_PER_FEN


def cost_nyuan(energy_wh: int, price_uyuan_per_kwh: int) -> int:
    """The exact cost of some energy at a price."""
    return energy_wh * price_uyuan_per_kwh


def format_fen_expr(amount_fen: pl.Expr) -> pl.Expr:
    """``format_fen`` as a Polars expression (for reasons and reports built set-wise)."""
    magnitude = amount_fen.abs()
    return pl.concat_str(
        pl.when(amount_fen < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (magnitude // FEN_PER_YUAN).cast(pl.String),
        pl.lit("."),
        (magnitude % FEN_PER_YUAN).cast(pl.String).str.zfill(2),
    )
