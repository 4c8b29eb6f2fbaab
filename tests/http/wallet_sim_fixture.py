"""`gridpay wallet-sim` as a real subprocess, wired to the test's live gridpay app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gridpay import bootstrap
from gridpay.adapters.wallet_rsa2 import generate_private_key, private_pem, public_pem
from tests.http.conftest import _free_port
from tests.http.wallet_helpers import APP_ID

CLI = [sys.executable, "-m", "gridpay.entrypoints.cli"]


@dataclass(frozen=True)
class RunningWallet:
    base_url: str
    process: subprocess.Popen[str]

    def trades(self) -> dict[str, dict[str, object]]:
        answer: dict[str, dict[str, object]] = httpx.get(f"{self.base_url}/trades").json()
        return answer


def start_wallet_sim(tmp_path: Path, notify_url: str, *faults: str) -> RunningWallet:
    gridpay_key = generate_private_key()
    (tmp_path / "gridpay.pem").write_bytes(private_pem(gridpay_key))
    (tmp_path / "gridpay.pub.pem").write_bytes(public_pem(gridpay_key))
    port = _free_port()
    process = subprocess.Popen(
        [
            *CLI,
            "wallet-sim",
            "--port",
            str(port),
            "--notify-url",
            notify_url,
            "--app-id",
            APP_ID,
            "--key",
            str(tmp_path / "wallet.pem"),
            "--merchant-public-key",
            str(tmp_path / "gridpay.pub.pem"),
            "--retry-delays",
            "0.2,0.5,1",
            *faults,
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    # Generous: the CLI's imports take seconds, and far longer on a machine shared by many runs.
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{base_url}/trades", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(
                    f"wallet-sim did not start: {process.communicate()[1]}"
                ) from None
            time.sleep(0.1)
    return RunningWallet(base_url, process)


@pytest.fixture
def wallet_sim(
    tmp_path: Path, built: bootstrap.App, web_app: FastAPI, live_server: str
) -> Iterator[Callable[..., RunningWallet]]:
    """Start the simulator (with faults) and point the live app's wallet settings at it."""
    started: list[RunningWallet] = []

    def start(*faults: str) -> RunningWallet:
        sim_dir = tmp_path / f"wallet{len(started)}"
        sim_dir.mkdir()
        running = start_wallet_sim(sim_dir, f"{live_server}/wallet/notify", *faults)
        started.append(running)
        built.settings = replace(
            built.settings,
            wallet_app_id=APP_ID,
            wallet_gateway_url=f"{running.base_url}/gateway.do",
            wallet_notify_url=f"{live_server}/wallet/notify",
            wallet_return_url=f"{live_server}/pay/orders/{{order_id}}",
            wallet_private_key_file=str(sim_dir / "gridpay.pem"),
            wallet_public_key_file=str(sim_dir / "wallet.pem.pub"),
        )
        return running

    try:
        yield start
    finally:
        wallet = getattr(web_app.state, "wallet", None)
        if wallet is not None:
            wallet.close()
        for running in started:
            running.process.terminate()
            running.process.communicate(timeout=20)


def audit(db_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDPAY_DATABASE_URL": db_url}
    env.pop("GRIDPAY_CONFIG", None)
    return subprocess.run(
        [*CLI, "audit"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
