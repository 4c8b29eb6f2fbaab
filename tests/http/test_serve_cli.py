"""`gridpay serve` as an operator starts it: a real process on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.http.conftest import _free_port


def test_serve_answers_health_and_logs_masked_json(tmp_path: Path) -> None:
    db = tmp_path / "gridpay.db"
    env = {**os.environ, "GRIDPAY_DATABASE_URL": f"sqlite:///{db}"}
    env.pop("GRIDPAY_CONFIG", None)
    cli = [sys.executable, "-m", "gridpay.entrypoints.cli"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True, cwd=tmp_path)
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        assert httpx.get(f"{base}/account/13812345678", timeout=2).status_code == 404
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    lines = [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]
    paths = [line["path"] for line in lines]
    assert "/healthz" in paths and "/account/138****5678" in paths
    assert "13812345678" not in stderr
    assert f"serving on http://127.0.0.1:{port}/" in stderr


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    env = {**os.environ, "GRIDPAY_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "gridpay.entrypoints.cli", "serve", "--port", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 10
    assert not (tmp_path / "none.db").exists()
