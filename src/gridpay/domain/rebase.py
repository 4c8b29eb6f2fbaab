"""Staff replace a meter's base with a checked reading (``gridpay readings rebase``), and are
told which meters need one.

A wrong register that became a meter's base refuses every later real reading. Staff read the
meter (on site, or from the head-end on demand) and give that *checked* register for a day. A
register never goes backwards and never rises faster than the breaker delivers, so the checked
reading refutes every stored reading of the meter that contradicts it: one before it that is
higher, or lower by more than the breaker delivers in between; one after it that is lower, or
higher by more than that. The refuted readings leave the meter's readings (to the quarantine,
with the reason); the checked one takes its day's place; the days from the earliest of them are
settled again, and only the differences are posted (the true-up).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from gridpay.domain.money import WH_PER_KWH, format_kwh
from gridpay.domain.registry import REGISTER_KWH_DIGITS_MAX
from gridpay.domain.settlement import HOURS_PER_DAY
from gridpay.errors import InvalidInput

REASON_CHARS_MAX = 300  # reading_rebases.reason
CHECKED_BY_CHARS_MAX = 100  # reading_rebases.checked_by
REFUTED_REASON_CODE = "refuted_by_check"
QUARANTINE_TASK_KIND = "readings_quarantined"
STAFF_REASON_CHARS_MAX = 300  # staff_tasks.reason
# Quarantined rows that say nothing about the meter's register: a second reading of a day that
# has one, a reading a check refuted, a meter number nobody registered.
NOT_STUCK_REASON_CODES = ("conflicting_reading", REFUTED_REASON_CODE, "unknown_meter")


@dataclass(frozen=True)
class Rebase:
    """A staff rebase as recorded (a ``reading_rebases`` row but its id)."""

    meter_id: int
    account_id: int
    day: dt.date
    total_wh: int
    replaced_wh: int | None  # the reading it replaced; None where the day had none
    refuted_readings: int
    checked_by: str
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class RebaseMeter:
    meter_id: int
    day: dt.date  # the day whose end-of-day register was checked
    total_wh: int
    checked_by: str
    reason: str


@dataclass(frozen=True)
class MeterFacts:
    """What the rules need to know about the meter."""

    account_id: int
    installed_on: dt.date
    removed_on: dt.date | None
    initial_wh: int
    breaker_a: int


def capacity_per_day_wh(breaker_a: int, nominal_voltage_v: int) -> int:
    return breaker_a * nominal_voltage_v * HOURS_PER_DAY


def check_rebase(cmd: RebaseMeter, meter: MeterFacts, today: dt.date, voltage_v: int) -> None:
    """Refuse a checked reading the meter cannot show; the same plausibility as a first one."""
    if not cmd.checked_by.strip():
        raise InvalidInput("say who checked the reading (--by)")
    if len(cmd.checked_by) > CHECKED_BY_CHARS_MAX:
        raise InvalidInput(f"--by is longer than {CHECKED_BY_CHARS_MAX} characters")
    if not cmd.reason.strip():
        raise InvalidInput("give the reason for replacing the base (--reason)")
    if len(cmd.reason) > REASON_CHARS_MAX:
        raise InvalidInput(f"--reason is longer than {REASON_CHARS_MAX} characters")
    if cmd.day > today:
        raise InvalidInput(f"{cmd.day} is in the future (today is {today})")
    if cmd.day < meter.installed_on:
        raise InvalidInput(f"the meter was installed on {meter.installed_on}, after {cmd.day}")
    if meter.removed_on is not None and cmd.day > meter.removed_on:
        raise InvalidInput(f"the meter was removed on {meter.removed_on}, before {cmd.day}")
    if cmd.total_wh >= 10**REGISTER_KWH_DIGITS_MAX * WH_PER_KWH or cmd.total_wh < 0:
        raise InvalidInput(
            f"{format_kwh(cmd.total_wh)} kWh is not a meter register "
            f"(0 to {REGISTER_KWH_DIGITS_MAX} whole digits)"
        )
    if cmd.total_wh < meter.initial_wh:
        raise InvalidInput(
            f"{format_kwh(cmd.total_wh)} kWh is below the meter's initial register "
            f"{format_kwh(meter.initial_wh)} kWh (installed on {meter.installed_on})"
        )
    days = (cmd.day - meter.installed_on).days + 1
    reach_wh = meter.initial_wh + capacity_per_day_wh(meter.breaker_a, voltage_v) * days
    if cmd.total_wh > reach_wh:
        raise InvalidInput(
            f"{format_kwh(cmd.total_wh)} kWh is more than a {meter.breaker_a} A breaker "
            f"delivers from {format_kwh(meter.initial_wh)} kWh on {meter.installed_on} to "
            f"{cmd.day} (at most {format_kwh(reach_wh)} kWh)"
        )


def refuted(
    readings: pl.DataFrame, cmd: RebaseMeter, breaker_a: int, voltage_v: int
) -> pl.DataFrame:
    """The meter's stored readings (day, total_wh) that the checked reading contradicts,
    including a different reading of its own day."""
    per_day_wh = capacity_per_day_wh(breaker_a, voltage_v)
    gap_days = (pl.col("day") - pl.lit(cmd.day)).dt.total_days()
    rise_wh = pl.col("total_wh") - cmd.total_wh  # from the checked reading to this one
    before, after = gap_days < 0, gap_days > 0
    return readings.filter(
        (before & ((rise_wh > 0) | (-rise_wh > per_day_wh * -gap_days)))
        | (after & ((rise_wh < 0) | (rise_wh > per_day_wh * gap_days)))
        | ((gap_days == 0) & (rise_wh != 0))
    )


def refuted_reason(cmd: RebaseMeter) -> str:
    text = (
        f"refuted by the checked reading {format_kwh(cmd.total_wh)} kWh on {cmd.day} "
        f"({cmd.checked_by}: {cmd.reason})"
    )
    return text[:REASON_CHARS_MAX]


def stuck_meters(
    quarantined: pl.DataFrame, accepted: pl.DataFrame, day: dt.date, days_max: int
) -> pl.DataFrame:
    """Meters whose readings have been quarantined for more than ``days_max`` days by ``day``.

    ``quarantined``: (meter_id, account_id, day) of quarantined readings up to ``day``;
    ``accepted``: (account_id, meter_id, last_real_day), each account's last accepted reading.
    A meter is stuck when its quarantined days since its last accepted reading began more than
    ``days_max`` days ago and go on within the last ``days_max`` days (a meter merely silent
    since is a collection problem, not this one). Out: meter_id, account_id, last_real_day
    (null: none accepted yet), first_day, last_day, days (quarantined days since).
    """
    since = accepted.select("meter_id", "last_real_day")
    pending = quarantined.join(since, on="meter_id", how="left", validate="m:1").filter(
        pl.col("last_real_day").is_null() | (pl.col("day") > pl.col("last_real_day"))
    )
    per_meter = pending.group_by("meter_id", "account_id", "last_real_day").agg(
        pl.col("day").min().alias("first_day"),
        pl.col("day").max().alias("last_day"),
        pl.col("day").n_unique().alias("days"),
    )
    horizon = day - dt.timedelta(days=days_max)
    return per_meter.filter(
        (pl.col("first_day") <= pl.lit(horizon)) & (pl.col("last_day") >= pl.lit(horizon))
    ).sort("meter_id")


def quarantine_tasks(stuck: pl.DataFrame, at: dt.datetime) -> pl.DataFrame:
    """One staff task per stuck meter and last accepted reading: raising it again while the
    meter stays stuck is a no-op (the key), and a new episode after a rebase is a new task."""
    meter_no = pl.col("meter_id").cast(pl.String).str.zfill(12)
    since = pl.col("last_real_day").dt.strftime("%Y-%m-%d")
    reason = pl.format(
        "readings of meter {} quarantined on {} days from {} to {}; last accepted reading: {}; "
        "check the meter and replace its base (gridpay readings rebase {} --date DAY --kwh X)",
        meter_no,
        pl.col("days"),
        pl.col("first_day").dt.strftime("%Y-%m-%d"),
        pl.col("last_day").dt.strftime("%Y-%m-%d"),
        since.fill_null("none"),
        meter_no,
    )
    return stuck.select(
        pl.format(
            "{}/{}/{}", pl.lit(QUARANTINE_TASK_KIND), meter_no, since.fill_null("none")
        ).alias("key"),
        pl.col("account_id"),
        pl.lit(QUARANTINE_TASK_KIND).alias("kind"),
        reason.str.slice(0, STAFF_REASON_CHARS_MAX).alias("reason"),
        pl.lit(at, dtype=pl.Datetime("us", "UTC")).alias("created_at"),
    )
