"""`gridpay serve --workers N`: several processes over one database, every write landed once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.services import partners
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, rows, scalar
from tests.http.conftest import _free_port
from tests.partner_client import payment_body, signed_headers

PAYMENTS = 80
ACCOUNTS = 10  # few accounts: the workers' payments meet on the same ledger rows


def _serve(env: dict[str, str], cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    cli = [sys.executable, "-m", "gridpay.entrypoints.cli"]
    server = subprocess.Popen(
        [*cli, *args, "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            _, stderr = server.communicate(timeout=20)
            raise AssertionError(f"gridpay serve did not start: {stderr[-2000:]}")
        time.sleep(0.2)


def _worker_pids(server: subprocess.Popen[str]) -> set[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return {int(c) for c in children}


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_workers_take_concurrent_payments_each_exactly_once(
    store: SqlStore, tmp_path: Path
) -> None:
    add_accounts(store, range(1, ACCOUNTS + 1))
    partner = partners.add_partner(
        store, FakeClock(), code="BANKW", name="Bank", kind="bank", day_max_yuan="1000000"
    )
    env = {**os.environ, "GRIDPAY_DATABASE_URL": store.url}
    env.pop("GRIDPAY_NOW", None)
    # The configuration file reaches the workers too: a test database takes a business date.
    config = tmp_path / "gridpay.toml"
    config.write_text('environment = "test"\n', "utf-8")
    env["GRIDPAY_CONFIG"] = str(config)
    # --db and --now reach every worker: the payments land in this database, on this day.
    business_now = dt.datetime(2026, 10, 8, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    started_s = time.time()
    server, base = _serve(env, tmp_path, "--db", store.url, "--now", business_now.isoformat())
    try:
        # Workers, not threads: uvicorn's supervisor has the worker processes as children.
        deadline = time.monotonic() + 30
        while len(_worker_pids(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_worker_pids(server)) >= 2

        def pay(i: int) -> int:
            body = payment_body(f"R{i}", f"{1 + i % ACCOUNTS:010d}", "1.00")
            path = "/partner/v1/payments"
            timestamp_s = int(business_now.timestamp() + time.time() - started_s)
            headers = signed_headers(partner.code, partner.secret, "POST", path, body, timestamp_s)
            return httpx.post(base + path, content=body, headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            first = list(pool.map(pay, range(PAYMENTS)))
            again = list(pool.map(pay, range(PAYMENTS)))  # retries: answered, not re-posted
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert first == [201] * PAYMENTS, stderr[-2000:]
    assert again == [200] * PAYMENTS, stderr[-2000:]
    assert "database is locked" not in stderr
    assert scalar(store, "SELECT count(*) FROM transfers WHERE kind = 'payment'") == PAYMENTS
    posted = "SELECT count(*) FROM partner_payments WHERE status = 'posted'"
    assert scalar(store, posted) == PAYMENTS
    audited = "SELECT count(*) FROM audit_log WHERE action = 'payment.take'"
    assert scalar(store, audited) == PAYMENTS
    days = "SELECT DISTINCT day FROM transfers WHERE kind = 'payment'"
    assert [str(r[0]) for r in rows(store, days)] == ["2026-10-08"]
    paid_fen = "SELECT sum(credits_posted_fen) FROM ledger_accounts WHERE kind = 'customer'"
    assert scalar(store, paid_fen) == PAYMENTS * 100
