"""CLI: ``gridpay wallet-sim`` runs the simulated wallet (its own process, its own keys)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
import uvicorn

from gridpay.entrypoints.cli._common import app, err_console
from gridpay.simulation.wallet_sim import (
    DEFAULT_RETRY_DELAYS_S,
    SimOptions,
    WalletSim,
    load_merchant_key,
    load_or_make_key,
)


@app.command("wallet-sim")
def wallet_sim(
    port: int = typer.Option(..., "--port", min=1, max=65535, help="Port to listen on."),
    notify_url: str | None = typer.Option(
        None, "--notify-url", help="Where to call gridpay back (default: each order's)."
    ),
    app_id: str = typer.Option(..., "--app-id", help="gridpay's app id at this wallet."),
    key: str = typer.Option(
        ..., "--key", help="The wallet's private key (PEM); made, with KEY.pub, if missing."
    ),
    merchant_public_key: str = typer.Option(
        ..., "--merchant-public-key", help="gridpay's public key (PEM): verifies its requests."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    never_notify: bool = typer.Option(
        False, "--never-notify", help="Fault: never call back (gridpay must query)."
    ),
    notify_twice: bool = typer.Option(
        False, "--notify-twice", help="Fault: call back once more after success."
    ),
    delay_s: float = typer.Option(0.0, "--delay-s", min=0, help="Fault: wait before calling."),
    retry_delays: str = typer.Option(
        ",".join(f"{d:g}" for d in DEFAULT_RETRY_DELAYS_S),
        "--retry-delays",
        help="Seconds between resends until gridpay answers success.",
    ),
) -> None:
    """Serve a simulated wallet: order creation and queries signed the Alipay way (RSA2), a
    confirmation page, and RSA2-signed callbacks to gridpay, resent until `success`."""
    delays = tuple(float(d) for d in retry_delays.split(",") if d.strip())
    options = SimOptions(
        app_id=app_id,
        notify_url=notify_url,
        key=load_or_make_key(Path(key)),
        merchant_key=load_merchant_key(Path(merchant_public_key)),
        never_notify=never_notify,
        notify_twice=notify_twice,
        delay_s=delay_s,
        retry_delays_s=delays,
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    err_console.print(f"wallet simulator on http://{host}:{port}/", highlight=False)
    uvicorn.run(WalletSim(options).app(), host=host, port=port, access_log=False, log_config=None)
