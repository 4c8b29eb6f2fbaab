"""Shared CLI plumbing: the Typer app, global options, error-code -> exit-code table, output."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridpay import bootstrap
from gridpay.errors import GridpayError, InvalidInput

app = typer.Typer(
    name="gridpay",
    help="Smart prepaid electricity: readings, daily settlement, payments, a balanced ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

# One table: error code -> exit code (0 ok, 1 unexpected, 2 usage).
EXIT_CODES = {
    "invalid_input": 3,
    "not_found": 4,
    "conflict": 5,
    "refused": 6,
    "audit_failed": 7,
    "config_error": 8,
    "delivery_failed": 9,
}

_state: dict[str, Any] = {"db": None}


@app.callback()
def _global(
    db: str | None = typer.Option(
        None,
        "--db",
        help="SQLite file path or database URL (default: $GRIDPAY_DATABASE_URL or ./gridpay.db).",
    ),
) -> None:
    _state["db"] = db


@contextmanager
def gridpay_app() -> Iterator[bootstrap.App]:
    """Build the application for one command and close it afterwards."""
    built = bootstrap.build(db=_state["db"])
    try:
        yield built
    finally:
        built.close()


def print_json(data: Any) -> None:
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
        err_console.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
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
    return 0


def parse_day(text: str | None, option: str) -> dt.date | None:
    """An option's ISO date (None when the option was not given)."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not a date like 2026-10-01") from None
