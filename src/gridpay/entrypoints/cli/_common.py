"""Shared CLI plumbing: the Typer app, global options, error-code -> exit-code table, output."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridpay import bootstrap
from gridpay.domain.actors import Actor, cli_actor
from gridpay.domain.text import printable
from gridpay.errors import BusinessDateRefused, GridpayError, InvalidInput

app = typer.Typer(
    name="gridpay",
    help="Smart prepaid electricity: readings, daily settlement, payments, a balanced ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

# One table: error code -> exit code (0 ok, 1 unexpected, 2 usage). docs/operations.md says
# what each means and what to do.
EXIT_CODES = {
    "invalid_input": 3,
    "not_found": 4,
    "conflict": 5,
    "refused": 6,
    "audit_failed": 7,
    "config_error": 8,
    "delivery_failed": 9,
    "no_database": 10,
    "database_unreachable": 11,
    "business_date_refused": 12,
    "not_signed_in": 13,
    "forbidden": 14,
    "rate_limited": 15,
    # a meter's reply that is not a DL/T 645 frame: the head-end did not deliver (as exit 9)
    "meter_frame_error": 9,
}

_state: dict[str, Any] = {"db": None, "now": None, "as_of": None}


@app.callback()
def _global(
    db: str | None = typer.Option(
        None,
        "--db",
        help="SQLite file path or database URL (default: $GRIDPAY_DATABASE_URL or ./gridpay.db).",
    ),
    now: str | None = typer.Option(
        None,
        "--now",
        envvar="GRIDPAY_NOW",
        help="Run as of this instant (a business date): 2026-10-08T08:00 (wall time in the "
        "settings' time_zone), 2026-10-08T08:00+08:00, or 2026-10-08 (00:00). Default: real time.",
    ),
) -> None:
    _state.update(db=db, now=now, as_of=None)


@contextmanager
def gridpay_app(
    *,
    clock_moves: bool = False,
    business_date_allowed: bool = True,
    database: Literal["existing", "create", "unused"] = "existing",
) -> Iterator[bootstrap.App]:
    """Build the application for one command and close it afterwards.

    The database must exist, except for ``gridpay init`` ("create") and commands that never
    touch it ("unused"): no command creates an empty one.
    """
    check = None if database == "unused" else database
    built = bootstrap.build(
        db=_state["db"], as_of=_state["now"], clock_moves=clock_moves, check_database=check
    )
    try:
        _business_date(built, clock_moves, business_date_allowed)
        yield built
    finally:
        built.close()


def _business_date(built: bootstrap.App, moves: bool, allowed: bool) -> None:
    """Refuse a business date where it is not allowed; otherwise say loudly that one is in use."""
    if built.as_of is None:
        return
    local = built.as_of.astimezone(ZoneInfo(built.settings.time_zone))
    shown = local_instant(local)
    if not allowed and built.settings.environment == "production":
        raise BusinessDateRefused(
            f"the workers would run as of {shown} on a production database: cuts, SMS and "
            "settlements would be real. Add --allow-business-date to do it anyway, or set "
            'environment = "test" (or "drill") in the config file of a test database'
        )
    if _state["as_of"] is None:  # once per command
        _state["as_of"] = local
        how = f"from {shown}, moving with real time" if moves else f"as of {shown}"
        err_console.print(
            f"[bold yellow]BUSINESS DATE: running {how} (not the real time)[/]",
            highlight=False,
            soft_wrap=True,
        )


def local_instant(local: dt.datetime) -> str:
    """``2026-10-08 08:00 +08:00``: the wall time an operator reads, with its offset."""
    text = local.isoformat(sep=" ", timespec="seconds" if local.second else "minutes")
    return f"{text[:-6]} {text[-6:]}"


def print_json(data: Any) -> None:
    """Print JSON; with a business date, an object carries it as ``business_now`` (a list keeps
    its shape, and the loud line on stderr says it)."""
    as_of = _state["as_of"]
    if as_of is not None and isinstance(data, dict):
        data = {"business_now": as_of.isoformat(), **data}
    console.print_json(json.dumps(data, default=str, ensure_ascii=False))


class RichProgress:
    """The ``Progress`` port as a Rich progress bar on stderr."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, description: str, total: int | None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def run_app() -> int:
    try:
        app(standalone_mode=False)
    except GridpayError as exc:
        # One line, shown as written: no Rich markup, no control characters from the input.
        message = escape(printable(" ".join(exc.message.split("\n"))))
        err_console.print(f"[bold red]error[/] ({exc.code}): {message}", soft_wrap=True)
        return EXIT_CODES.get(exc.code, 1)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: a bad option value, a missing argument
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        return int(getattr(exc, "exit_code", 2))
    if _state["now"] is not None and _state["as_of"] is None:
        err_console.print(
            "[bold yellow]warning[/]: --now (GRIDPAY_NOW) was not used: this command runs on its "
            "own clock or reads no time"
        )
    return 0


def parse_day(text: str | None, option: str) -> dt.date | None:
    """An option's ISO date (None when the option was not given)."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not a date like 2026-10-01") from None


def operator(by: str | None = None) -> Actor:
    """Who the audit log records for a CLI command: ``--by`` if given, else the OS user."""
    return cli_actor(by if by else getpass.getuser())


# The operator recorded in the audit log (``operator``).
BY_OPTION = typer.Option(
    None, "--by", help="Who acts, for the audit log (default: the OS user running gridpay)."
)
