"""CLI: ``gridpay calendar`` — each day's kind and its cut window under a rule set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gridpay import bootstrap, limits
from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.config import Settings
from gridpay.domain.calendar import (
    DEFAULT_RULE_SET,
    RULE_SETS,
    WEEKDAY_NAMES,
    CutRules,
    DayKind,
    day_refusal,
    rule_set,
)
from gridpay.entrypoints.cli._common import (
    app,
    console,
    err_console,
    gridpay_app,
    parse_day,
    print_json,
)
from gridpay.errors import ConfigError, InvalidInput

OVERRIDE_SETTING = "holiday_override_file"  # the key in the GRIDPAY_CONFIG file

_KIND_STYLES = {
    DayKind.WORKDAY: "",
    DayKind.MAKEUP_WORKDAY: "cyan",
    DayKind.WEEKEND: "dim",
    DayKind.HOLIDAY: "magenta",
    DayKind.UNKNOWN: "yellow",
}


@app.command("calendar")
def calendar_days(
    from_day: str | None = typer.Option(None, "--from", help="First day, YYYY-MM-DD (today)."),
    to_day: str | None = typer.Option(
        None,
        "--to",
        help=f"Last day, YYYY-MM-DD ({limits.calendar_days_shown_default} days in all).",
    ),
    rules_name: str = typer.Option(
        DEFAULT_RULE_SET, "--rules", help=f"Cut rule set: {', '.join(sorted(RULE_SETS))}."
    ),
    override: str | None = typer.Option(
        None,
        "--override",
        help=f"Holiday override file (default: {OVERRIDE_SETTING} in the config file).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show each day's kind (working day, weekend, holiday, make-up working day) and when
    remote cuts are allowed on it; warn about years without a published holiday schedule."""
    rules = rule_set(rules_name)
    with gridpay_app(database="unused") as g:
        first = parse_day(from_day, "--from") or g.clock.today()
        override_path = Path(override) if override else _override_from(g.settings)
    last = parse_day(to_day, "--to") or first + dt.timedelta(
        days=limits.calendar_days_shown_default - 1
    )
    _check_range(first, last)
    holidays = ChineseHolidayCalendar(override_path)
    days = [_day_json(first + dt.timedelta(days=i), rules, holidays) for i in _span(first, last)]
    unknown = holidays.unknown_years(first, last)
    if unknown:
        _warn_unknown(unknown)
    if as_json:
        print_json(
            {
                "rules": rules.name,
                "rules_description": rules.description,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "override_file": str(override_path) if override_path else None,
                "unknown_years": unknown,
                "days": days,
            }
        )
        return
    _print_days(rules, days)


def _override_from(settings: Settings) -> Path | None:
    value = settings.holiday_override_file
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{OVERRIDE_SETTING} in the config file must be a file path")
    return Path(value)


def _check_range(first: dt.date, last: dt.date) -> None:
    if last < first:
        raise InvalidInput(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    days = (last - first).days + 1
    if days > limits.calendar_days_max:
        raise InvalidInput(
            f"{days} days asked for; show at most {limits.calendar_days_max} at a time"
        )


def _span(first: dt.date, last: dt.date) -> range:
    return range((last - first).days + 1)


def _day_json(day: dt.date, rules: CutRules, holidays: ChineseHolidayCalendar) -> dict[str, Any]:
    kind = holidays.day_kind(day)
    refusal = day_refusal(day, rules, kind)
    window = (
        None
        if refusal is not None
        else {
            "start": f"{rules.window_start_local:%H:%M}",
            "end": f"{rules.window_end_local:%H:%M}",
        }
    )
    return {
        "day": day.isoformat(),
        "weekday": WEEKDAY_NAMES[day.weekday()],
        "kind": kind.value,
        "cut_window": window,
        "reason_code": refusal.reason_code if refusal else "allowed",
        "reason": refusal.reason if refusal else f"cuts allowed {rules.window_label}",
    }


def warn_missing_schedules(g: bootstrap.App) -> None:
    """For commands that settle or judge: warn when a year within
    ``limits.holiday_schedule_warning_days`` of the clock's today has no holiday schedule, since
    no cut is made on its days (the same check and warning as ``gridpay calendar``)."""
    holidays = g.credit.calendar
    if not isinstance(holidays, ChineseHolidayCalendar):
        return  # a calendar wired in by a test or a simulation answers for itself
    today = g.clock.today()
    ahead = dt.timedelta(days=limits.holiday_schedule_warning_days)
    unknown = holidays.unknown_years(today, today + ahead)
    if unknown:
        _warn_unknown(unknown, where=f"{OVERRIDE_SETTING} in the config file")


def _warn_unknown(
    years: list[int], where: str = f"{OVERRIDE_SETTING} in the config file, or --override"
) -> None:
    listed = ", ".join(str(y) for y in years)
    err_console.print(
        f"[bold yellow]warning[/]: no published holiday schedule for {listed}: no cuts will be "
        f"made on those days until one is loaded ({where})."
    )


def _print_days(rules: CutRules, days: list[dict[str, Any]]) -> None:
    console.print(f"Rule set [bold]{rules.name}[/]: {rules.description}.")
    table = Table()
    table.add_column("day")
    table.add_column("weekday")
    table.add_column("kind")
    table.add_column("cuts")
    for d in days:
        style = _KIND_STYLES[DayKind(d["kind"])]
        window = d["cut_window"]
        cuts = f"{window['start']}-{window['end']}" if window else f"none: {d['reason']}"
        table.add_row(
            d["day"], d["weekday"][:3].capitalize(), d["kind"].replace("_", " "), cuts, style=style
        )
    console.print(table)
