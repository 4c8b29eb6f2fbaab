"""Registry rules: which account-and-meter rows may be registered, as Polars expressions.

A registration row is one account with the meter installed for it (the shape of
``gridpay accounts import`` files and of ``gridpay accounts add``). Rows arrive as text and are
checked column by column, all rows at once (no Python loop per row), in three steps:

1. ``parse_rows``: each field's syntax and the references (tariff code, office) -> typed columns,
   plus ``problem`` (``None`` when the row is fine).
2. ``flag_file_duplicates``: an account or meter number on more than one row. Exact copies of a
   row are harmless (the first is used, the others are ``repeat``); different data for the same
   number is ambiguous, so every row of that number is rejected.
3. ``check_against_registered``: rows already in the database with the same data are
   ``unchanged`` (so importing a file twice changes nothing); rows that clash with stored data are
   rejected and name the differing fields. Only ``new`` rows are written.

Account numbers (10 digits) and meter numbers (12 digits) keep their leading zeros as text and are
their integer ids as well (``id = int(account_no)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import polars as pl

from gridpay import limits
from gridpay.domain.money import format_kwh
from gridpay.domain.text import first_control_char, has_control_chars, printable_expr
from gridpay.errors import InvalidInput, Refused

ACCOUNT_NO_DIGITS = 10
METER_NO_DIGITS = 12
# DL/T 645 energy registers hold XXXXXX.XX kWh: six integer digits.
REGISTER_KWH_DIGITS_MAX = 6


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class SupplyType(StrEnum):
    DIRECT = "direct"
    NON_DIRECT = "non_direct"


class BillingMode(StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class RowStatus(StrEnum):
    NEW = "new"  # will be written
    UNCHANGED = "unchanged"  # already registered with exactly this data
    REPEAT = "repeat"  # an exact copy of an earlier row of the same file
    REJECTED = "rejected"  # has a problem; nothing of it is written


# Why postpaid by default: the programme *migrates* existing customers, and a customer becomes
# prepaid only by signing the smart-payment agreement. A row that silently defaulted to prepaid
# would start daily charges against a zero balance, then arrears notices and remote cuts for a
# household that never agreed to any of it. Defaulting to postpaid can at worst delay enrolment,
# which staff see and fix; so files should carry the column, and the import counts the defaults.
DEFAULT_BILLING_MODE = BillingMode.POSTPAID
DEFAULT_LANGUAGE = Language.ZH
DEFAULT_BREAKER_A = 60

REQUIRED_COLUMNS = (
    "account_no",
    "name",
    "supply_type",
    "tariff",
    "office",
    "meter_no",
    "installed_on",
)
OPTIONAL_COLUMNS = (
    "phone",
    "language",
    "billing_mode",
    "has_tou",
    "has_switch",
    "breaker_a",
    "initial_kwh",
    # A prepaid row's opening position from monthly billing (both or neither): its closing
    # reading and the kWh already billed this tier year (``domain.enrolment.OpeningPosition``).
    "opening_kwh",
    "opening_ytd_kwh",
)
COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
# Text found beyond a row's named columns (a file reader puts it here), reported per row.
EXTRA_FIELDS_COLUMN = "unnamed_fields"
# Always trimmed: free text has no pattern that would reject surrounding blanks.
FREE_TEXT_COLUMNS = ("name", "phone")

# Typed columns compared with the database (and between rows of one file).
ACCOUNT_FIELDS = (
    "account_no",
    "name",
    "phone",
    "language",
    "supply_type",
    "tariff_code",
    "office_id",
    "billing_mode",
)
METER_FIELDS = ("meter_no", "has_tou", "has_switch", "breaker_a", "installed_on", "initial_wh")

# What the repository returns for stored rows (see ``check_against_registered``).
REGISTERED_ACCOUNT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "account_no": pl.String(),
    "name": pl.String(),
    "phone": pl.String(),
    "language": pl.String(),
    "supply_type": pl.String(),
    "tariff_code": pl.String(),
    "office_id": pl.Int64(),
    "billing_mode": pl.String(),
}
REGISTERED_METER_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "meter_no": pl.String(),
    "account_id": pl.Int64(),
    "has_tou": pl.Boolean(),
    "has_switch": pl.Boolean(),
    "breaker_a": pl.Int64(),
    "installed_on": pl.Date(),
    "removed_on": pl.Date(),
    "initial_wh": pl.Int64(),
    "final_wh": pl.Int64(),
}


@dataclass(frozen=True)
class References:
    """What registration rows are checked against."""

    tariff_codes: frozenset[str]
    office_ids: frozenset[int]
    today: dt.date


def missing_columns(columns: Collection[str]) -> list[str]:
    return [c for c in REQUIRED_COLUMNS if c not in columns]


# --- step 1: syntax and references -------------------------------------------------------------


def _text(name: str, lenient: bool) -> pl.Expr:
    """A text column: as it is (strict), or trimmed with blank text as null (lenient)."""
    if not lenient and name not in FREE_TEXT_COLUMNS:
        return pl.col(name)
    value = pl.col(name).str.strip_chars()
    return pl.when(value.str.len_bytes() > 0).then(value).otherwise(None)


def _lower(value: pl.Expr, lenient: bool) -> pl.Expr:
    return value.str.to_lowercase() if lenient else value


def _quoted(value: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit("'"), printable_expr(value.fill_null("")), pl.lit("'"))


def _control_chars_check(lenient: bool) -> tuple[pl.Expr, pl.Expr]:
    """Any field holding a control or text-direction character (``domain.text``), named.

    The strict pass looks at ``name`` only: every other column has a pattern or a list of
    values that a control character fails, which sends the row to the lenient pass, where
    every column is looked at and the message is made. Scanning all columns of every row of a
    clean file would cost a regex per column for nothing.
    """
    columns = (*COLUMNS, EXTRA_FIELDS_COLUMN) if lenient else ("name",)
    found = [has_control_chars(pl.col(f"_{c}")).fill_null(False) for c in columns]
    named = [
        pl.when(hit).then(pl.format(f"{c} holds {{}}", first_control_char(pl.col(f"_{c}"))))
        for c, hit in zip(columns, found, strict=True)
    ]
    message = pl.format(
        "{}, a control or text-direction character",
        pl.concat_str(named, separator="; ", ignore_nulls=True),
    )
    # One scan of the row's text for the condition; the per-column sentence only where it hits.
    row_text = pl.concat_str([pl.col(f"_{c}") for c in columns], ignore_nulls=True)
    return has_control_chars(row_text), message


def _problem(condition: pl.Expr, message: pl.Expr | str) -> pl.Expr:
    text = pl.lit(message) if isinstance(message, str) else message
    return pl.when(condition.fill_null(False)).then(text).otherwise(None)


def _flag(column: str, lenient: bool) -> pl.Expr:
    return _lower(pl.col(column), lenient).replace_strict(
        {"true": True, "1": True, "false": False, "0": False},
        default=None,
        return_dtype=pl.Boolean,
    )


# Patterns spell digits [0-9]: a regex's \d also matches other scripts' digits ('١٢٣'), which
# then fail the cast to an integer and with it the whole file.


def _wh_from_kwh_text(text: pl.Expr) -> pl.Expr:
    """'1234.56' -> 1_234_560 (exact: integer and fraction digits are read separately)."""
    whole = text.str.extract(r"^([0-9]+)", 1).cast(pl.Int64)
    fraction = text.str.extract(r"\.([0-9]+)$", 1).fill_null("").str.pad_end(3, "0").cast(pl.Int64)
    return whole * 1_000 + fraction


def parse_rows(raw: pl.LazyFrame, refs: References) -> pl.LazyFrame:
    """Type every column and name each row's problems; ``raw`` is text plus ``row_no``.

    Optional columns may be missing from ``raw``; blank optional fields take their defaults.
    Two passes: a strict one over the text exactly as given, then, for the rows it rejects
    only, a lenient one that trims blanks and ignores case (so ' EN ' is fine). A clean file,
    the usual case, never pays for trimming and lower-casing every field of every row; the
    messages all come from the lenient pass. ``row_no`` must be unique.
    """
    present = set(raw.collect_schema().names())
    absent = [
        pl.lit(None, dtype=pl.String).alias(c)
        for c in (*COLUMNS, EXTRA_FIELDS_COLUMN)
        if c not in present
    ]
    full = raw.with_columns(absent)
    # Materialised once: both branches below use it, and a lazy plan would compute it twice.
    strict = _parse(full, refs, lenient=False).collect()
    passed = strict.filter(pl.col("problem").is_null())
    if passed.height == strict.height:
        return passed.lazy()
    rejected = strict.filter(pl.col("problem").is_not_null()).select("row_no")
    retried = _parse(full.join(rejected.lazy(), on="row_no", how="semi"), refs, lenient=True)
    return pl.concat([passed.lazy(), retried], how="vertical")


def _parse(raw: pl.LazyFrame, refs: References, lenient: bool) -> pl.LazyFrame:
    text = raw.select(
        pl.col("row_no").cast(pl.Int64),
        *[_text(c, lenient).alias(f"_{c}") for c in (*COLUMNS, EXTRA_FIELDS_COLUMN)],
    )

    account_ok = pl.col("_account_no").str.contains(rf"^[0-9]{{{ACCOUNT_NO_DIGITS}}}$")
    meter_ok = pl.col("_meter_no").str.contains(rf"^[0-9]{{{METER_NO_DIGITS}}}$")
    language = _lower(pl.col("_language"), lenient).fill_null(DEFAULT_LANGUAGE.value)
    supply = _lower(pl.col("_supply_type"), lenient)
    if lenient:
        supply = supply.str.replace_all("-", "_")
    billing = _lower(pl.col("_billing_mode"), lenient).fill_null(DEFAULT_BILLING_MODE.value)
    office_ok = pl.col("_office").str.contains(r"^[0-9]{1,9}$")
    office_id = pl.when(office_ok).then(pl.col("_office").cast(pl.Int64, strict=False))
    # Year 0 parses in Polars but exists neither in Python nor in PostgreSQL.
    date_ok = pl.col("_installed_on").str.contains(r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$")
    installed_on = pl.when(date_ok).then(
        pl.col("_installed_on").str.to_date("%Y-%m-%d", strict=False)
    )
    breaker_ok = pl.col("_breaker_a").is_null() | pl.col("_breaker_a").str.contains(r"^[0-9]{1,4}$")
    breaker_a = (
        pl.when(breaker_ok)
        .then(pl.col("_breaker_a").cast(pl.Int64, strict=False))
        .fill_null(DEFAULT_BREAKER_A)
    )
    kwh_pattern = rf"^[0-9]{{1,{REGISTER_KWH_DIGITS_MAX}}}(\.[0-9]{{1,3}})?$"
    kwh_text = pl.col("_initial_kwh").fill_null("0")
    kwh_ok = kwh_text.str.contains(kwh_pattern)
    phone_pattern = r"^\+?[0-9][0-9 \-]*[0-9]$"
    opening_ok = pl.col("_opening_kwh").is_null() | pl.col("_opening_kwh").str.contains(kwh_pattern)
    opening_ytd_ok = pl.col("_opening_ytd_kwh").is_null() | pl.col("_opening_ytd_kwh").str.contains(
        kwh_pattern
    )

    typed = text.with_columns(
        pl.when(account_ok).then(pl.col("_account_no")).alias("account_no"),
        pl.when(account_ok).then(pl.col("_account_no").cast(pl.Int64)).alias("id"),
        pl.col("_name").alias("name"),
        pl.col("_phone").alias("phone"),
        language.alias("language"),
        supply.alias("supply_type"),
        pl.col("_tariff").alias("tariff_code"),
        office_id.alias("office_id"),
        billing.alias("billing_mode"),
        pl.col("_billing_mode").is_null().alias("billing_mode_defaulted"),
        pl.when(meter_ok).then(pl.col("_meter_no")).alias("meter_no"),
        pl.when(meter_ok).then(pl.col("_meter_no").cast(pl.Int64)).alias("meter_id"),
        breaker_a.alias("breaker_a"),
        installed_on.alias("installed_on"),
        pl.when(kwh_ok).then(_wh_from_kwh_text(kwh_text)).alias("initial_wh"),
        pl.when(opening_ok).then(_wh_from_kwh_text(pl.col("_opening_kwh"))).alias("opening_wh"),
        pl.when(opening_ytd_ok)
        .then(_wh_from_kwh_text(pl.col("_opening_ytd_kwh")))
        .alias("opening_ytd_wh"),
        # A blank flag takes its default; an unreadable one stays null (a problem, below).
        pl.when(pl.col("_has_tou").is_null())
        .then(False)
        .otherwise(_flag("_has_tou", lenient))
        .alias("has_tou"),
        pl.when(pl.col("_has_switch").is_null())
        .then(True)
        .otherwise(_flag("_has_switch", lenient))
        .alias("has_switch"),
    )

    checks: list[tuple[pl.Expr, pl.Expr | str]] = [
        _control_chars_check(lenient),
        (
            pl.col(f"_{EXTRA_FIELDS_COLUMN}").is_not_null(),
            "the row has more fields than the header has columns",
        ),
        (
            ~account_ok.fill_null(False),
            pl.format(
                "account_no {} is not {} digits", _quoted(pl.col("_account_no")), ACCOUNT_NO_DIGITS
            ),
        ),
        (pl.col("name").is_null(), "name is missing"),
        (
            pl.col("name").str.len_chars() > limits.account_name_chars_max,
            f"name is longer than {limits.account_name_chars_max} characters",
        ),
        (
            pl.col("phone").is_not_null()
            & (
                ~pl.col("phone").str.contains(phone_pattern)
                | (pl.col("phone").str.len_chars() > limits.account_phone_chars_max)
            ),
            pl.format("phone {} is not a phone number", _quoted(pl.col("phone"))),
        ),
        (
            ~pl.col("language").is_in([x.value for x in Language]),
            pl.format("language {} is not zh or en", _quoted(pl.col("_language"))),
        ),
        (
            pl.col("supply_type").is_null(),
            "supply_type is missing (direct or non_direct)",
        ),
        (
            pl.col("supply_type").is_not_null()
            & ~pl.col("supply_type").is_in([x.value for x in SupplyType]),
            pl.format(
                "supply_type {} is not direct or non_direct", _quoted(pl.col("_supply_type"))
            ),
        ),
        (pl.col("tariff_code").is_null(), "tariff is missing"),
        (
            pl.col("tariff_code").is_not_null()
            & ~pl.col("tariff_code").is_in(sorted(refs.tariff_codes)),
            pl.format("tariff {} is not a known tariff code", _quoted(pl.col("tariff_code"))),
        ),
        (
            pl.col("office_id").is_null() | ~pl.col("office_id").is_in(sorted(refs.office_ids)),
            pl.format("office {} is not a service office", _quoted(pl.col("_office"))),
        ),
        (
            ~pl.col("billing_mode").is_in([x.value for x in BillingMode]),
            pl.format(
                "billing_mode {} is not prepaid or postpaid", _quoted(pl.col("_billing_mode"))
            ),
        ),
        _prepaid_needs_direct_supply(),
        (
            ~meter_ok.fill_null(False),
            pl.format(
                "meter_no {} is not {} digits", _quoted(pl.col("_meter_no")), METER_NO_DIGITS
            ),
        ),
        (
            pl.col("has_tou").is_null(),
            pl.format("has_tou {} is not true or false", _quoted(pl.col("_has_tou"))),
        ),
        (
            pl.col("has_switch").is_null(),
            pl.format("has_switch {} is not true or false", _quoted(pl.col("_has_switch"))),
        ),
        (
            ~breaker_ok | (pl.col("breaker_a") < 1) | (pl.col("breaker_a") > limits.breaker_a_max),
            pl.format(
                "breaker_a {} is not a whole number of amperes from 1 to {}",
                _quoted(pl.col("_breaker_a")),
                limits.breaker_a_max,
            ),
        ),
        (
            pl.col("installed_on").is_null(),
            pl.format(
                "installed_on {} is not a date like 2026-06-01", _quoted(pl.col("_installed_on"))
            ),
        ),
        (
            pl.col("installed_on") > refs.today,
            pl.format("installed_on {} is in the future", pl.col("_installed_on")),
        ),
        (
            pl.col("initial_wh").is_null(),
            pl.format(
                "initial_kwh {} is not a meter reading (0 to {} digits, up to 3 decimals)",
                _quoted(pl.col("_initial_kwh")),
                REGISTER_KWH_DIGITS_MAX,
            ),
        ),
        *(
            (
                ~ok,
                pl.format(
                    "{} {} is not a number of kWh (0 to {} digits, up to 3 decimals)",
                    pl.lit(column),
                    _quoted(pl.col(f"_{column}")),
                    REGISTER_KWH_DIGITS_MAX,
                ),
            )
            for column, ok in (("opening_kwh", opening_ok), ("opening_ytd_kwh", opening_ytd_ok))
        ),
        (
            opening_ok
            & opening_ytd_ok
            & (pl.col("_opening_kwh").is_null() != pl.col("_opening_ytd_kwh").is_null()),
            "the opening position needs both opening_kwh (monthly billing's closing reading) "
            "and opening_ytd_kwh (kWh already billed this year), or neither",
        ),
        (
            pl.col("_opening_kwh").is_not_null() & (billing != BillingMode.PREPAID.value),
            "opening_kwh is for a prepaid row: a postpaid account stays on monthly billing",
        ),
    ]
    return _with_problems(typed, checks).select(
        "row_no",
        "id",
        *ACCOUNT_FIELDS,
        "billing_mode_defaulted",
        "meter_id",
        *METER_FIELDS,
        "opening_wh",
        "opening_ytd_wh",
        "problem",
    )


def _prepaid_needs_direct_supply() -> tuple[pl.Expr, str]:
    """Only direct supply can be prepaid (as ``enrol`` and the database's own check say): for
    any other the meter in the home is not the company's to read or switch remotely."""
    return (
        (pl.col("billing_mode") == BillingMode.PREPAID.value)
        & (pl.col("supply_type") != SupplyType.DIRECT.value),
        "billing_mode prepaid needs supply_type direct: for a non-direct-supply account the "
        "meter in the home is not the company's, so it cannot be read or switched remotely",
    )


def _with_problems(
    frame: pl.LazyFrame, checks: Sequence[tuple[pl.Expr, pl.Expr | str]]
) -> pl.LazyFrame:
    """Add ``problem``: the messages of the failed checks, joined by '; ' (null if none).

    Messages are built only for the rows that fail something, so a clean file costs a few
    boolean columns rather than every message for every row.
    """
    flags = [f"_bad_{i}" for i in range(len(checks))]
    flagged = frame.with_columns(
        cond.fill_null(False).alias(flag) for flag, (cond, _) in zip(flags, checks, strict=True)
    )
    messages = [
        pl.when(pl.col(flag)).then(pl.lit(msg) if isinstance(msg, str) else msg)
        for flag, (_, msg) in zip(flags, checks, strict=True)
    ]
    problems = flagged.filter(pl.any_horizontal(flags)).select(
        "row_no", pl.concat_str(messages, separator="; ", ignore_nulls=True).alias("problem")
    )
    return flagged.drop(flags).join(problems, on="row_no", how="left", validate="1:1")


# --- step 2: the same number on more than one row of a file ------------------------------------


def _row_content() -> pl.Expr:
    return pl.struct(*ACCOUNT_FIELDS, *METER_FIELDS, "problem")


def flag_file_duplicates(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``status`` and ``problem_kind``: invalid and ambiguous rows are rejected here.

    Rows still undecided (status null) go on to ``check_against_registered``. Only rows whose
    account or meter number occurs more than once are grouped and compared.
    """
    shared = (pl.col("id").is_not_null() & pl.col("id").is_duplicated()) | (
        pl.col("meter_id").is_not_null() & pl.col("meter_id").is_duplicated()
    )
    marked = rows.with_columns(shared.alias("_shared"))
    single = marked.filter(~pl.col("_shared")).with_columns(
        pl.when(pl.col("problem").is_not_null()).then(pl.lit("invalid")).alias("problem_kind")
    )
    return (
        pl.concat([single, _flag_shared(marked.filter(pl.col("_shared")))], how="vertical")
        .with_columns(
            pl.when(pl.col("problem_kind") == "repeat")
            .then(pl.lit(RowStatus.REPEAT.value))
            .when(pl.col("problem_kind").is_not_null())
            .then(pl.lit(RowStatus.REJECTED.value))
            .alias("status"),
        )
        .drop("_shared")
    )


def _flag_shared(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Rows sharing an account or meter number: every occurrence of a number is among them."""
    checks = []
    for key, number in (("id", "account_no"), ("meter_id", "meter_no")):
        has_key = pl.col(key).is_not_null()
        rows_n = pl.len().over(key)
        versions_n = _row_content().n_unique().over(key)
        first_row_no = pl.col("row_no").min().over(key)
        checks += [
            (has_key & (rows_n > 1) & (versions_n > 1)).alias(f"_dup_{key}"),
            (has_key & (rows_n > 1) & (versions_n == 1) & (pl.col("row_no") != first_row_no)).alias(
                f"_repeat_{key}"
            ),
            pl.format(
                "{} {} is on {} rows of this file with different data (first on row {})",
                pl.lit(number),
                pl.col(number),
                rows_n,
                first_row_no,
            ).alias(f"_dup_msg_{key}"),
            first_row_no.alias(f"_first_{key}"),
        ]
    flagged = rows.with_columns(checks)
    duplicate = pl.col("_dup_id") | pl.col("_dup_meter_id")
    repeat = ~duplicate & (pl.col("_repeat_id") | pl.col("_repeat_meter_id"))
    problem = pl.concat_str(
        pl.col("problem"),
        _problem(pl.col("_dup_id"), pl.col("_dup_msg_id")),
        _problem(pl.col("_dup_meter_id"), pl.col("_dup_msg_meter_id")),
        separator="; ",
        ignore_nulls=True,
    )
    repeat_of = pl.coalesce(pl.col("_first_id"), pl.col("_first_meter_id"))
    return flagged.with_columns(
        pl.when(repeat)
        .then(pl.format("repeats row {} exactly (that row is used)", repeat_of))
        .when(problem.str.len_chars() > 0)
        .then(problem)
        .alias("problem"),
        pl.when(pl.col("problem").is_not_null())
        .then(pl.lit("invalid"))
        .when(duplicate)
        .then(pl.lit("duplicate"))
        .when(repeat)
        .then(pl.lit("repeat"))
        .alias("problem_kind"),
    ).drop(
        "_dup_id",
        "_dup_meter_id",
        "_repeat_id",
        "_repeat_meter_id",
        "_dup_msg_id",
        "_dup_msg_meter_id",
        "_first_id",
        "_first_meter_id",
    )


def undecided_ids(rows: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Account and meter ids of the rows still to compare with the database."""
    pending = rows.filter(pl.col("status").is_null())
    return pending["id"], pending["meter_id"]


# --- step 3: compare with what is already registered -------------------------------------------


def _differing(fields: Sequence[str]) -> pl.Expr:
    """Names of the fields whose value differs from the stored ``<field>_db``, comma-separated."""
    return pl.concat_str(
        [
            pl.when(~pl.col(f).eq_missing(pl.col(f"{f}_db"))).then(pl.lit(f)).otherwise(None)
            for f in fields
        ],
        separator=", ",
        ignore_nulls=True,
    )


def check_against_registered(
    rows: pl.LazyFrame, accounts: pl.LazyFrame, meters: pl.LazyFrame
) -> pl.LazyFrame:
    """Decide the undecided rows against stored ``accounts`` and ``meters`` (``REGISTERED_*``).

    ``meters`` must include every stored meter of the rows' meter numbers.
    """
    stored_accounts = accounts.select(
        pl.col("id"),
        *[pl.col(f).alias(f"{f}_db") for f in ACCOUNT_FIELDS],
        pl.lit(True).alias("_account_found"),
    )
    stored_meters = meters.select(
        pl.col("id").alias("meter_id"),
        pl.col("account_id").alias("_meter_account_id"),
        *[pl.col(f).alias(f"{f}_db") for f in METER_FIELDS],
        pl.lit(True).alias("_meter_found"),
    )
    joined = rows.join(stored_accounts, on="id", how="left", validate="m:1").join(
        stored_meters, on="meter_id", how="left", validate="m:1"
    )
    pending = pl.col("status").is_null()
    account_found = pl.col("_account_found").fill_null(False)
    meter_found = pl.col("_meter_found").fill_null(False)
    meter_elsewhere = meter_found & (pl.col("_meter_account_id") != pl.col("id"))
    account_diff = _differing(ACCOUNT_FIELDS)
    meter_diff = _differing(METER_FIELDS)
    other_account_no = (
        pl.col("_meter_account_id").cast(pl.String).str.pad_start(ACCOUNT_NO_DIGITS, "0")
    )
    conflict = pl.concat_str(
        _problem(
            account_found & (account_diff.str.len_chars() > 0),
            pl.format(
                "account_no {} is already registered with a different {}",
                pl.col("account_no"),
                account_diff,
            ),
        ),
        _problem(
            meter_elsewhere,
            pl.format(
                "meter_no {} is already registered to account {}",
                pl.col("meter_no"),
                other_account_no,
            ),
        ),
        _problem(
            meter_found & ~meter_elsewhere & (meter_diff.str.len_chars() > 0),
            pl.format(
                "meter_no {} is already registered with a different {}",
                pl.col("meter_no"),
                meter_diff,
            ),
        ),
        _problem(
            account_found & ~meter_found,
            pl.format(
                "account_no {} is already registered with another meter "
                "(a new meter is fitted with 'gridpay meters replace')",
                pl.col("account_no"),
            ),
        ),
        separator="; ",
        ignore_nulls=True,
    )
    has_conflict = conflict.str.len_chars() > 0
    touched = pending & (account_found | meter_found)
    marked = joined.with_columns(touched.alias("_touched"))
    untouched_rows = marked.filter(~pl.col("_touched")).with_columns(
        pl.when(pending)
        .then(pl.lit(RowStatus.NEW.value))
        .otherwise(pl.col("status"))
        .alias("status")
    )
    touched_rows = marked.filter(pl.col("_touched")).with_columns(
        pl.when(has_conflict).then(conflict).alias("problem"),
        pl.when(has_conflict).then(pl.lit("conflict")).alias("problem_kind"),
        pl.when(has_conflict)
        .then(pl.lit(RowStatus.REJECTED.value))
        .otherwise(pl.lit(RowStatus.UNCHANGED.value))
        .alias("status"),
    )
    return pl.concat([untouched_rows, touched_rows], how="vertical").drop(
        pl.selectors.starts_with("_"), pl.selectors.ends_with("_db")
    )


# --- what gets written -------------------------------------------------------------------------


def new_accounts(rows: pl.DataFrame, created_at: dt.datetime) -> pl.DataFrame:
    """The ``accounts`` rows to insert: one per ``new`` row, in id order (cheap index appends)."""
    return (
        rows.filter(pl.col("status") == RowStatus.NEW.value)
        .sort("id")
        .select(
            "id",
            *ACCOUNT_FIELDS,
            pl.lit(created_at, dtype=pl.Datetime("us", "UTC")).alias("created_at"),
        )
    )


def new_meters(rows: pl.DataFrame) -> pl.DataFrame:
    """The ``meters`` rows to insert: the meter of each ``new`` row, in account order."""
    return (
        rows.filter(pl.col("status") == RowStatus.NEW.value)
        .sort("id")
        .select(
            pl.col("meter_id").alias("id"),
            "meter_no",
            pl.col("id").alias("account_id"),
            "has_tou",
            "has_switch",
            "breaker_a",
            "installed_on",
            "initial_wh",
        )
    )


# --- meters in service and their replacement ---------------------------------------------------


def account_id_from_no(text: str) -> int:
    """A typed account number -> its id. Up to 10 digits; leading zeros may be left out."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > ACCOUNT_NO_DIGITS:
        raise InvalidInput(f"account number {text!r} is not up to {ACCOUNT_NO_DIGITS} digits")
    return int(value)


def account_no_from_id(account_id: int) -> str:
    assert 0 <= account_id < 10**ACCOUNT_NO_DIGITS
    return f"{account_id:0{ACCOUNT_NO_DIGITS}d}"


def meter_id_from_no(text: str) -> int:
    """A meter number (exactly 12 digits, as printed on the meter) -> its id."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) != METER_NO_DIGITS:
        raise InvalidInput(f"meter number {text!r} is not {METER_NO_DIGITS} digits")
    return int(value)


@dataclass(frozen=True)
class Account:
    """A registered account, as stored (``created_at`` as the database gives it back)."""

    id: int
    account_no: str
    name: str
    phone: str | None
    language: Language
    supply_type: SupplyType
    tariff_code: str
    office_id: int
    billing_mode: BillingMode
    created_at: dt.datetime


@dataclass(frozen=True)
class AccountLine:
    """One line of the accounts listing: the account and its meter in service, if any."""

    account_no: str
    name: str
    office_id: int
    supply_type: SupplyType
    billing_mode: BillingMode
    tariff_code: str
    meter_no: str | None


@dataclass(frozen=True)
class Meter:
    """A registered meter (the ``meters`` table's row, ``REGISTERED_METER_SCHEMA``)."""

    id: int
    meter_no: str
    account_id: int
    has_tou: bool
    has_switch: bool
    breaker_a: int
    installed_on: dt.date
    initial_wh: int
    removed_on: dt.date | None = None
    final_wh: int | None = None

    @property
    def in_service(self) -> bool:
        return self.removed_on is None


def meter_frame(meters: Sequence[Meter]) -> pl.DataFrame:
    """Meters as ``meters`` rows to insert (``REGISTERED_METER_SCHEMA``)."""
    return pl.DataFrame(
        [tuple(getattr(m, c) for c in REGISTERED_METER_SCHEMA) for m in meters],
        schema=REGISTERED_METER_SCHEMA,
        orient="row",
    )


@dataclass(frozen=True)
class ReplaceMeter:
    """Take the account's meter out of service on ``day`` and put a new one in (same day).

    Settlement then prices the day as (old final - previous reading) + (new reading - new initial).
    Unset options of the new meter are copied from the old one.
    """

    account_id: int
    old_final_wh: int
    new_meter_no: str
    new_initial_wh: int
    day: dt.date
    new_has_tou: bool | None = None
    new_has_switch: bool | None = None
    new_breaker_a: int | None = None


@dataclass(frozen=True)
class MeterReplacement:
    removed: Meter  # the old meter, with removed_on and final_wh set
    installed: Meter


def meter_in_service(meters: Sequence[Meter], account_no: str) -> Meter:
    """The account's one meter in service; refuse when there is none or (wrongly) several."""
    active = [m for m in meters if m.in_service]
    if not active:
        raise Refused(f"account {account_no} has no meter in service")
    if len(active) > 1:
        numbers = ", ".join(m.meter_no for m in active)
        raise Refused(f"account {account_no} has {len(active)} meters in service ({numbers})")
    return active[0]


def replacement_already_recorded(cmd: ReplaceMeter, meters: Sequence[Meter]) -> bool:
    """True if ``meters`` (the account's) already show exactly this replacement (a retry)."""
    new_id = meter_id_from_no(cmd.new_meter_no)
    installed = [m for m in meters if m.id == new_id]
    removed = [m for m in meters if m.removed_on == cmd.day and m.final_wh == cmd.old_final_wh]
    return bool(
        installed
        and installed[0].in_service
        and installed[0].installed_on == cmd.day
        and installed[0].initial_wh == cmd.new_initial_wh
        and removed
    )


def plan_meter_replacement(
    cmd: ReplaceMeter, meters: Sequence[Meter], today: dt.date
) -> MeterReplacement:
    """Check a replacement against the account's meters and return the two meter records."""
    account_no = account_no_from_id(cmd.account_id)
    new_id = meter_id_from_no(cmd.new_meter_no)
    old = meter_in_service(meters, account_no)
    if cmd.day > today:
        raise InvalidInput(f"replacement date {cmd.day} is in the future")
    if cmd.day < old.installed_on:
        raise InvalidInput(
            f"replacement date {cmd.day} is before meter {old.meter_no} was installed "
            f"({old.installed_on})"
        )
    if any(m.id == new_id for m in meters):
        raise Refused(f"meter {cmd.new_meter_no} has already been on account {account_no}")
    if cmd.old_final_wh < old.initial_wh:
        raise InvalidInput(
            f"final reading of meter {old.meter_no} is below its reading at installation"
        )
    if cmd.new_initial_wh < 0:
        raise InvalidInput("the new meter's initial reading cannot be negative")
    breaker_a = old.breaker_a if cmd.new_breaker_a is None else cmd.new_breaker_a
    if not 1 <= breaker_a <= limits.breaker_a_max:
        raise InvalidInput(f"breaker of {breaker_a} A is not from 1 to {limits.breaker_a_max} A")
    installed = Meter(
        id=new_id,
        meter_no=cmd.new_meter_no.strip(),
        account_id=cmd.account_id,
        has_tou=old.has_tou if cmd.new_has_tou is None else cmd.new_has_tou,
        has_switch=old.has_switch if cmd.new_has_switch is None else cmd.new_has_switch,
        breaker_a=breaker_a,
        installed_on=cmd.day,
        initial_wh=cmd.new_initial_wh,
    )
    removed = replace(old, removed_on=cmd.day, final_wh=cmd.old_final_wh)
    return MeterReplacement(removed=removed, installed=installed)


@dataclass(frozen=True)
class MeterUse:
    """What the stored readings and settlements say about the old meter around the day."""

    last_reading_wh: int | None  # highest stored reading up to the replacement day
    readings_after_n: int  # stored readings after the replacement day
    settled_through: dt.date | None  # the account's last settled day


def check_meter_use(plan: MeterReplacement, use: MeterUse) -> None:
    """Refuse a replacement that contradicts readings or settlements already stored."""
    old = plan.removed
    day = old.removed_on
    assert day is not None
    assert old.final_wh is not None
    if use.readings_after_n > 0:
        raise Refused(
            f"meter {old.meter_no} has {use.readings_after_n} reading(s) after {day}: "
            "it was still in service then"
        )
    if use.settled_through is not None and use.settled_through > day:
        raise Refused(
            f"account {account_no_from_id(old.account_id)} is settled through "
            f"{use.settled_through}, after {day}: those days were billed on meter {old.meter_no}"
        )
    if use.last_reading_wh is not None and old.final_wh < use.last_reading_wh:
        raise InvalidInput(
            f"final reading of meter {old.meter_no} is below its last stored reading "
            f"({format_kwh(use.last_reading_wh)} kWh): registers never go backwards"
        )
