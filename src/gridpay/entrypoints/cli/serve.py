"""CLI: ``gridpay serve`` runs the HTTP app (households, counters, partners) with uvicorn."""

from __future__ import annotations

import logging

import typer
import uvicorn

from gridpay.entrypoints.cli._common import app, err_console, gridpay_app
from gridpay.entrypoints.http.app import create_app


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, "--host", help="Address to listen on (http_host)."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on (http_port)."
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
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("gridpay.http.access").setLevel(
            logging.INFO if access_log else logging.WARNING
        )
        bind_host = host or g.settings.http_host
        bind_port = port or g.settings.http_port
        err_console.print(f"gridpay serving on http://{bind_host}:{bind_port}/", highlight=False)
        # uvicorn's own access log would print full URLs unmasked: ours replaces it.
        uvicorn.run(
            create_app(g),
            host=bind_host,
            port=bind_port,
            access_log=False,
            log_config=None,
            server_header=False,
        )
