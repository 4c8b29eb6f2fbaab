"""CLI: ``gridpay serve`` runs the HTTP app (households, counters, partners) with uvicorn.

With ``--workers N`` (setting ``http_workers``) uvicorn runs N worker processes over
``worker_app``, an app factory: each worker builds its own gridpay from the configuration the
command was given, which reaches it through the environment variables ``config`` reads anyway
(``GRIDPAY_DATABASE_URL`` for ``--db``, ``GRIDPAY_CONFIG``, ``GRIDPAY_NOW`` for ``--now``).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import time

import typer
import uvicorn
from fastapi import FastAPI

from gridpay import bootstrap
from gridpay.entrypoints.cli._common import app, err_console, gridpay_app
from gridpay.entrypoints.http.app import create_app

# What the parent hands its workers besides the configuration's own variables: whether to log
# each request, and the real time (Unix seconds) at which ``GRIDPAY_NOW`` was the business
# time, so every worker's clock reads the same business time as the parent's would.
ACCESS_LOG_ENV = "GRIDPAY_SERVE_ACCESS_LOG"
NOW_TAKEN_AT_ENV = "GRIDPAY_SERVE_NOW_TAKEN_AT_S"
WORKER_APP = f"{__name__}:worker_app"


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, "--host", help="Address to listen on (http_host)."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on (http_port)."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Worker processes (http_workers, default 1): about one per core the server may "
        "use. Each opens its own database connections; on SQLite their writes queue on the "
        "database's one write lock.",
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="One JSON line per request on stderr."
    ),
    allow_business_date: bool = typer.Option(
        False, "--allow-business-date", help="Serve with --now on a production database anyway."
    ),
) -> None:
    """Serve the HTTP app against the configured database, beside `gridpay run`: the
    households' pages, the staff console, the partner API, /healthz, /metrics and the OpenAPI
    spec at /openapi.json. Stop with Ctrl-C."""
    with gridpay_app(clock_moves=True, business_date_allowed=allow_business_date) as g:
        _logging(access_log)
        bind_host = host or g.settings.http_host
        bind_port = port or g.settings.http_port
        processes = workers or g.settings.http_workers
        shown = f" ({processes} workers)" if processes > 1 else ""
        err_console.print(
            f"gridpay serving on http://{bind_host}:{bind_port}/{shown}", highlight=False
        )
        # uvicorn's own access log would print full URLs unmasked: ours replaces it.
        options = {
            "host": bind_host,
            "port": bind_port,
            "access_log": False,
            "log_config": None,
            "server_header": False,
        }
        if processes == 1:
            served = create_app(g)
            freeze_start_up_objects()
            uvicorn.run(served, **options)  # type: ignore[arg-type]
            return
        _hand_over(g, access_log)
        uvicorn.run(WORKER_APP, factory=True, workers=processes, **options)  # type: ignore[arg-type]


def _logging(access_log: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("gridpay.http.access").setLevel(
        logging.INFO if access_log else logging.WARNING
    )


def _hand_over(g: bootstrap.App, access_log: bool) -> None:
    """Put what the workers need into the environment they inherit."""
    os.environ["GRIDPAY_DATABASE_URL"] = g.settings.database_url  # --db wins, as here
    os.environ[ACCESS_LOG_ENV] = "1" if access_log else "0"
    if g.as_of is not None:
        now = g.clock.now()
        os.environ["GRIDPAY_NOW"] = now.isoformat()
        os.environ[NOW_TAKEN_AT_ENV] = repr(time.time())
    else:
        os.environ.pop("GRIDPAY_NOW", None)


def worker_app() -> FastAPI:
    """The app of one ``serve --workers`` process, built from the environment ``serve`` set."""
    _logging(os.environ.get(ACCESS_LOG_ENV, "1") == "1")
    built = bootstrap.build()
    now_text = os.environ.get("GRIDPAY_NOW")
    if now_text:
        taken_at_s = float(os.environ.get(NOW_TAKEN_AT_ENV, repr(time.time())))
        # The business time now, not when the parent took it: the parent's clock has moved on.
        at = dt.datetime.fromisoformat(now_text) + dt.timedelta(seconds=time.time() - taken_at_s)
        built.clock = bootstrap.business_clock(built.settings, at, moves=True)
        built.as_of = at
    served = create_app(built)
    freeze_start_up_objects()
    return served


def freeze_start_up_objects() -> None:
    """Move what start-up made (modules, classes, the app) out of the garbage collector's
    reach. A full collection walks every tracked object with the GIL held, and under load one
    comes every few seconds: walking the few hundred thousand objects of the imports and the
    app each time stalled every request in flight. Frozen, only what requests made is walked.
    Start-up's own garbage is collected first, so nothing collectable is frozen."""
    gc.collect()
    gc.freeze()
