"""Import-time rules for daily meter readings, as Polars expressions over a whole file.

A readings file has one row per meter and day: ``meter_no``, ``date`` (the day whose end-of-day
frozen register this is), ``total_kwh`` (the cumulative register) and optionally the time-of-use
registers ``sharp_kwh``, ``peak_kwh``, ``flat_kwh``, ``valley_kwh``. Rows arrive as *text*, each
with its 1-based ``row_no`` and its ``raw`` text, so that even a broken row reaches these rules and
can be quarantined with its row number. All rows are checked at once (no Python per row):

1. ``parse_rows``: syntax. A 12-digit meter number, a ``YYYY-MM-DD`` date, non-negative decimal
   kWh with at most three decimals, turned into exact integer Wh by string arithmetic (never
   through a float). The first problem of a row makes it ``malformed``, naming column and value.
2. ``check_rows``: ``future_date``; ``register_too_large`` (more whole digits than a meter's
   register has, the accounts import's cap on an initial register: such a value can only be a
   corrupt one, and as a first reading it would refuse every later real one);
   ``registers_exceed_total`` (the registers present add up to more than the total register -
   the registers can never count more than the total).
3. ``check_meters``: ``unknown_meter``; a date before the meter was installed or after it was
   removed (``meter_not_installed`` / ``meter_removed``: the meter-replaced rule at import time).
4. ``classify``: against the readings already stored and the earlier rows of the same file. One
   raw reading per meter and day: the same values again are a ``duplicate`` (a no-op, so a file
   imported twice changes nothing); different values are a ``conflicting_reading`` and the first
   stays.
5. ``trueups_needed``: new readings for days already settled on an estimate.

Rejected rows keep a stable ``reason_code`` and a ``reason`` a clerk understands. Rules that need
a day's delta (going backwards, implausible jump) belong to settlement, which knows yesterday.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import polars as pl

from gridpay.domain.money import WH_PER_KWH
from gridpay.domain.registry import REGISTER_KWH_DIGITS_MAX
from gridpay.domain.tariff import REGISTERS

METER_NO_DIGITS = 12
KWH_DECIMALS_MAX = 3  # as ``money.parse_kwh``: Wh are the unit
KWH_WHOLE_DIGITS_MAX = 12  # as ``money.parse_kwh``: below 10**12 kWh
SHOWN_CHARS_MAX = 40  # a bad value is quoted in the reason up to this many characters

REQUIRED_COLUMNS = ("meter_no", "date", "total_kwh")
REGISTER_COLUMNS = tuple(f"{r}_kwh" for r in REGISTERS)
FILE_COLUMNS = (*REQUIRED_COLUMNS, *REGISTER_COLUMNS)
VALUE_COLUMNS = ("total_wh", *(f"{r}_wh" for r in REGISTERS))
KEY_COLUMNS = ("day", "meter_id")

# What the file adapters hand over: every file column as text (null where the file has no such
# column or the row no such field), plus the row's number, its raw text, and a problem with the
# row's layout that the adapter found (e.g. a CSV line with the wrong number of fields).
RAW_SCHEMA: dict[str, pl.DataType] = {
    "row_no": pl.Int64(),
    "raw": pl.String(),
    "row_error": pl.String(),
    **{c: pl.String() for c in FILE_COLUMNS},
}

# A stored raw reading, as the repositories give and take it.
READING_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "meter_id": pl.Int64(),
    **{c: pl.Int64() for c in VALUE_COLUMNS},
}

# What the rules need to know about a meter.
METER_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.Int64(),
    "account_id": pl.Int64(),
    "installed_on": pl.Date(),
    "removed_on": pl.Date(),
}

# What the rules need to know about a settled day of an account.
SETTLED_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "account_id": pl.Int64(),
    "estimated": pl.Boolean(),
}


class Reason(StrEnum):
    MALFORMED = "malformed"
    UNKNOWN_METER = "unknown_meter"
    FUTURE_DATE = "future_date"
    METER_NOT_INSTALLED = "meter_not_installed"
    METER_REMOVED = "meter_removed"
    REGISTER_TOO_LARGE = "register_too_large"
    REGISTERS_EXCEED_TOTAL = "registers_exceed_total"
    CONFLICTING_READING = "conflicting_reading"


class Outcome(StrEnum):
    NEW = "new"  # to be stored
    DUPLICATE = "duplicate"  # the same reading is stored already, or earlier in the file
    REJECTED = "rejected"  # to the quarantine, with its reason


# --- step 1: syntax ----------------------------------------------------------------------------

_NUMBER = r"^\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"  # [0-9], not \d: \d also matches other scripts
_NEGATIVE = r"^-(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"
# All of the kWh rules at once: digits, at most 12 significant whole digits and 3 decimals
# (trailing zeros allowed, as ``money.parse_kwh``); that there is a digit at all is checked apart.
_KWH_OK = rf"^\+?0*[0-9]{{0,{KWH_WHOLE_DIGITS_MAX}}}(?:\.[0-9]{{0,{KWH_DECIMALS_MAX}}}0*)?$"
_METER_OK = f"^[0-9]{{{METER_NO_DIGITS}}}$"
_WH_DECIMAL_PRECISION = 18  # up to 10**15 kWh: above KWH_WHOLE_DIGITS_MAX, within Int64 Wh


def _stripped(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars()


def _present(text: pl.Expr) -> pl.Expr:
    return text.is_not_null() & (text != "")


def _shown(text: pl.Expr) -> pl.Expr:
    return text.str.slice(0, SHOWN_CHARS_MAX)


def _kwh_problem(column: str, *, required: bool) -> pl.Expr:
    text = _stripped(column)
    whole, fraction = _kwh_digits(text)
    missing = pl.lit(f"{column} is missing") if required else pl.lit(None, pl.String)
    return (
        pl.when(~_present(text))
        .then(missing)
        .when(text.str.contains(_NEGATIVE))
        .then(pl.format(f"{column} '{{}}' is negative", _shown(text)))
        .when(~text.str.contains(_NUMBER))
        .then(pl.format(f"{column} '{{}}' is not a number of kWh (like 1234.56)", _shown(text)))
        .when(fraction.str.len_chars() > KWH_DECIMALS_MAX)
        .then(pl.format(f"{column} '{{}}' has more than {KWH_DECIMALS_MAX} decimals", _shown(text)))
        .when(whole.str.len_chars() > KWH_WHOLE_DIGITS_MAX)
        .then(pl.format(f"{column} '{{}}' is too large", _shown(text)))
        .otherwise(pl.lit(None, pl.String))
    )


def _kwh_digits(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The significant whole and fraction digits of a decimal text ('007.500' -> '7', '5')."""
    whole = text.str.extract(r"^\+?([0-9]*)", 1).str.strip_chars_start("0")
    fraction = text.str.extract(r"\.([0-9]*)$", 1).fill_null("").str.strip_chars_end("0")
    return whole, fraction


def _kwh_to_wh(column: str) -> pl.Expr:
    """Exact Wh from a decimal kWh text; only meaningful where ``_kwh_ok`` holds.

    A decimal with scale 3 *is* a count of Wh underneath. The cast would round a fourth decimal,
    but ``_kwh_ok`` has refused those, so for the rows it passes the value is exact - parsed from
    the digits, never through a float.
    """
    return (
        pl.col(column)
        .cast(pl.Decimal(_WH_DECIMAL_PRECISION, KWH_DECIMALS_MAX), strict=False)
        .to_physical()
        .cast(pl.Int64)
    )


def _meter_problem() -> pl.Expr:
    text = _stripped("meter_no")
    return (
        pl.when(~_present(text))
        .then(pl.lit("meter_no is missing"))
        .when(~text.str.contains(_METER_OK))
        .then(
            pl.format(
                f"meter_no '{{}}' is not a {METER_NO_DIGITS}-digit meter number", _shown(text)
            )
        )
        .otherwise(pl.lit(None, pl.String))
    )


def _day() -> pl.Expr:
    text = _stripped("date")
    return (
        # Year 0 parses in Polars but exists neither in Python nor in PostgreSQL.
        pl.when(text.str.contains(r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$"))
        .then(text.str.to_date("%Y-%m-%d", strict=False))
        .otherwise(pl.lit(None, pl.Date))
    )


def _date_problem() -> pl.Expr:
    text = _stripped("date")
    return (
        pl.when(~_present(text))
        .then(pl.lit("date is missing"))
        .when(_day().is_null())
        .then(pl.format("date '{}' is not a date of the form YYYY-MM-DD", _shown(text)))
        .otherwise(pl.lit(None, pl.String))
    )


def _kwh_ok(column: str, *, required: bool) -> pl.Expr:
    """One cheap test for all of ``_kwh_problem``'s rules (the sentences are only built for the
    rows that fail it)."""
    text = pl.col(column)
    valid = text.str.contains(_KWH_OK) & text.str.contains("[0-9]")
    return valid.fill_null(False) if required else (~_present(text)).fill_null(True) | valid


def parse_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """Text rows (``RAW_SCHEMA``) -> typed rows with ``reason_code``/``reason`` for malformed ones.

    Out: row_no, raw, meter_no (the text given), meter_id, day, total_wh, <register>_wh,
    reason_code, reason. Values that did parse are kept on malformed rows (for the quarantine).
    """
    kwh_columns = ("total_kwh", *REGISTER_COLUMNS)
    checks = {
        "meter_no": pl.col("meter_no").str.contains(_METER_OK).fill_null(False),
        **{c: _kwh_ok(c, required=c == "total_kwh") for c in kwh_columns},
    }
    text = (
        raw.with_columns(pl.col(c).str.strip_chars() for c in FILE_COLUMNS)
        .with_columns(_day().alias("day"), *(v.alias(f"ok_{c}") for c, v in checks.items()))
        .with_columns(
            pl.all_horizontal(
                pl.col("row_error").is_null(),
                pl.col("day").is_not_null(),
                *(pl.col(f"ok_{c}") for c in checks),
            ).alias("ok")
        )
    )
    parsed = text.select(
        pl.col("row_no"),
        pl.col("raw"),
        pl.col("meter_no"),
        pl.when(pl.col("ok_meter_no"))
        .then(pl.col("meter_no").cast(pl.Int64, strict=False))
        .alias("meter_id"),
        pl.col("day"),
        *(
            pl.when(pl.col(f"ok_{c}") & _present(pl.col(c))).then(_kwh_to_wh(c)).alias(out)
            for c, out in zip(kwh_columns, VALUE_COLUMNS, strict=True)
        ),
    )
    problems = [
        pl.col("row_error"),
        _meter_problem(),
        _date_problem(),
        *(_kwh_problem(c, required=c == "total_kwh") for c in kwh_columns),
    ]
    reasons = text.filter(~pl.col("ok")).select(
        pl.col("row_no"),
        pl.lit(Reason.MALFORMED.value).alias("reason_code"),
        pl.coalesce(problems).alias("reason"),
    )
    assert reasons["reason"].null_count() == 0  # the cheap checks and the sentences agree
    parsed = parsed.join(reasons, on="row_no", how="left", validate="1:1", maintain_order="left")
    good = parsed.filter(pl.col("reason").is_null())
    assert good["meter_id"].null_count() == 0
    assert good["day"].null_count() == 0
    assert good["total_wh"].null_count() == 0
    return parsed


# --- step 2: rules on the row alone ------------------------------------------------------------


def kwh_text(energy_wh: pl.Expr) -> pl.Expr:
    """Non-negative Wh as exact kWh text with three decimals: 1_234_560 -> '1234.560'."""
    return pl.format(
        "{}.{}",
        energy_wh // WH_PER_KWH,
        (energy_wh % WH_PER_KWH).cast(pl.String).str.zfill(KWH_DECIMALS_MAX),
    )


def _date_text(day: pl.Expr) -> pl.Expr:
    return day.dt.to_string("%Y-%m-%d")


def _reject(frame: pl.DataFrame, condition: pl.Expr, code: Reason, reason: pl.Expr) -> pl.DataFrame:
    """Give rows that meet ``condition`` and have no reason yet this reason (the first one wins).

    The sentence is built only for the rows that are hit: usually few of a big file.
    """
    hits = frame.filter(pl.col("reason_code").is_null() & condition.fill_null(False))
    if hits.height == 0:
        return frame
    found = hits.select(
        pl.col("row_no"),
        pl.lit(code.value).alias("new_reason_code"),
        reason.alias("new_reason"),
    )
    joined = frame.join(found, on="row_no", how="left", validate="1:1", maintain_order="left")
    return joined.with_columns(
        pl.coalesce("reason_code", "new_reason_code").alias("reason_code"),
        pl.coalesce("reason", "new_reason").alias("reason"),
    ).drop("new_reason_code", "new_reason")


def check_rows(rows: pl.DataFrame, today: dt.date) -> pl.DataFrame:
    """The rules a row can fail on its own: a future date, registers above the total."""
    rows = _reject(
        rows,
        pl.col("day") > pl.lit(today),
        Reason.FUTURE_DATE,
        pl.format(
            "date {} is in the future (today is {})",
            _date_text(pl.col("day")),
            pl.lit(today.isoformat()),
        ),
    )
    register_wh_max = 10**REGISTER_KWH_DIGITS_MAX * WH_PER_KWH - 1
    too_large = [pl.col(c) > register_wh_max for c in VALUE_COLUMNS]
    rows = _reject(
        rows,
        pl.any_horizontal(too_large),
        Reason.REGISTER_TOO_LARGE,
        pl.format(
            "{} kWh has more than {} whole digits: no meter register reaches it",
            kwh_text(pl.max_horizontal(pl.col(c) for c in VALUE_COLUMNS)),
            pl.lit(REGISTER_KWH_DIGITS_MAX),
        ),
    )
    registers = [pl.col(f"{r}_wh") for r in REGISTERS]
    registers_wh = pl.sum_horizontal(registers, ignore_nulls=True)
    return _reject(
        rows,
        pl.any_horizontal([r.is_not_null() for r in registers])
        & (registers_wh > pl.col("total_wh")),
        Reason.REGISTERS_EXCEED_TOTAL,
        pl.format(
            "the time-of-use registers add up to {} kWh, more than the total register {} kWh",
            kwh_text(registers_wh),
            kwh_text(pl.col("total_wh")),
        ),
    )


# --- step 3: the registry ----------------------------------------------------------------------


def check_meters(rows: pl.DataFrame, meters: pl.DataFrame) -> pl.DataFrame:
    """Meter known, and in place on the day. Adds ``account_id`` (null for unknown meters).

    ``meters`` (``METER_SCHEMA``) must hold at least the meters the rows name.
    """
    joined = rows.join(
        meters.select(list(METER_SCHEMA)),
        on="meter_id",
        how="left",
        validate="m:1",
        maintain_order="left",
    )
    day, meter = _date_text(pl.col("day")), pl.col("meter_no")
    joined = _reject(
        joined,
        pl.col("meter_id").is_not_null() & pl.col("account_id").is_null(),
        Reason.UNKNOWN_METER,
        pl.format("meter {} is not registered", meter),
    )
    joined = _reject(
        joined,
        pl.col("day") < pl.col("installed_on"),
        Reason.METER_NOT_INSTALLED,
        pl.format(
            "reading for {} is from before meter {} was installed (on {})",
            day,
            meter,
            _date_text(pl.col("installed_on")),
        ),
    )
    joined = _reject(
        joined,
        pl.col("day") > pl.col("removed_on"),
        Reason.METER_REMOVED,
        pl.format(
            "reading for {} is from after meter {} was removed (on {})",
            day,
            meter,
            _date_text(pl.col("removed_on")),
        ),
    )
    return joined.drop("installed_on", "removed_on")


# --- step 4: one raw reading per meter and day -------------------------------------------------


def candidate_keys(rows: pl.DataFrame) -> pl.DataFrame:
    """The distinct (day, meter_id) of rows still in the running: what to look up in the store."""
    return rows.filter(pl.col("reason_code").is_null()).select(KEY_COLUMNS).unique()


def classify(rows: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Add ``outcome``: new, duplicate, or rejected (with ``conflicting_reading`` where it is one).

    ``rows`` are in file order. The reference for a (meter, day) is the stored reading if there
    is one, else the file's first row that passed the other rules. A row equal to its reference
    (every register, nulls equal) is a duplicate, except the reference row itself, which is new.
    """
    assert rows["row_no"].is_sorted()
    still_open = pl.col("reason_code").is_null()
    reference = _references(rows.filter(still_open), stored)
    checked = rows.join(
        reference, on=KEY_COLUMNS, how="left", validate="m:1", maintain_order="left"
    )
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"ref_{c}")) for c in VALUE_COLUMNS])
    is_reference = pl.col("ref_row_no").eq_missing(pl.col("row_no"))
    checked = checked.with_columns(
        pl.when(~still_open)
        .then(pl.lit(Outcome.REJECTED.value))
        .when(is_reference)
        .then(pl.lit(Outcome.NEW.value))
        .when(same)
        .then(pl.lit(Outcome.DUPLICATE.value))
        .otherwise(pl.lit(Outcome.REJECTED.value))
        .alias("outcome")
    )
    checked = _reject(
        checked,
        pl.col("outcome") == Outcome.REJECTED.value,
        Reason.CONFLICTING_READING,
        _conflict_reason(),
    )
    return checked.drop([c for c in checked.columns if c.startswith("ref_")])


def _references(open_rows: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Per (day, meter_id): ref_<value>, and ref_row_no (null when the reference is stored)."""
    first = open_rows.select(*KEY_COLUMNS, "row_no", *VALUE_COLUMNS).unique(
        subset=KEY_COLUMNS,
        keep="first",  # the first in file order; output order is free
    )
    stored = stored.select(
        *KEY_COLUMNS,
        pl.lit(True).alias("stored"),
        *(pl.col(c).alias(f"st_{c}") for c in VALUE_COLUMNS),
    )
    joined = first.join(stored, on=KEY_COLUMNS, how="left", validate="1:1")
    is_stored = pl.col("stored").fill_null(False)
    return joined.select(
        *KEY_COLUMNS,
        pl.when(is_stored)
        .then(pl.lit(None, pl.Int64))
        .otherwise(pl.col("row_no"))
        .alias("ref_row_no"),
        *(
            pl.when(is_stored).then(pl.col(f"st_{c}")).otherwise(pl.col(c)).alias(f"ref_{c}")
            for c in VALUE_COLUMNS
        ),
    )


def _conflict_reason() -> pl.Expr:
    meter, day = pl.col("meter_no"), _date_text(pl.col("day"))
    given, ref_given = kwh_text(pl.col("total_wh")), kwh_text(pl.col("ref_total_wh"))
    same_total = pl.col("total_wh") == pl.col("ref_total_wh")
    from_store = pl.col("ref_row_no").is_null()
    return (
        pl.when(from_store & same_total)
        .then(
            pl.format(
                "meter {} already has a reading for {} with other time-of-use registers; "
                "the stored one stays",
                meter,
                day,
            )
        )
        .when(from_store)
        .then(
            pl.format(
                "meter {} already has {} kWh for {}; this row gives {} kWh; the stored one stays",
                meter,
                ref_given,
                day,
                given,
            )
        )
        .when(same_total)
        .then(
            pl.format(
                "row {} of this file already gave meter {} on {} other time-of-use registers",
                pl.col("ref_row_no"),
                meter,
                day,
            )
        )
        .otherwise(
            pl.format(
                "row {} of this file already gave meter {} {} kWh on {}; this row gives {} kWh",
                pl.col("ref_row_no"),
                meter,
                ref_given,
                day,
                given,
            )
        )
    )


# --- step 5: days settled on an estimate -------------------------------------------------------


def settled_keys(new_rows: pl.DataFrame) -> pl.DataFrame:
    """The distinct (day, account_id) of new readings: which settled days to look up."""
    return new_rows.select("day", "account_id").unique()


def trueups_needed(new_rows: pl.DataFrame, settled: pl.DataFrame) -> pl.DataFrame:
    """(account_id, day) whose settled day was estimated and now has a real reading."""
    estimated = settled.filter(pl.col("estimated")).select("day", "account_id")
    return (
        new_rows.select("day", "account_id")
        .join(estimated, on=["day", "account_id"], how="semi")
        .unique()
        .select("account_id", "day")
        .sort("account_id", "day")
    )
