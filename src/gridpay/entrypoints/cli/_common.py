"""Shared CLI plumbing: the Typer app, global options, error-code -> exit-code table, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridpay import bootstrap
from gridpay.domain.text import printable
from gridpay.errors import GridpayError

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
def gridpay_app(
    database: Literal["existing", "create", "unused"] = "existing",
) -> Iterator[bootstrap.App]:
    """Build the application for one command and close it afterwards.

    The database must exist, except for ``gridpay init`` ("create") and commands that never
    touch it ("unused"): no command creates an empty one.
    """
    check = None if database == "unused" else database
    built = bootstrap.build(db=_state["db"], check_database=check)
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
    return 0
