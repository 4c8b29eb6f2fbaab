"""The wallet-callback bench: verified credits per second through ``gridpay serve``, every one
landed exactly once, beside the raw floor (the same credits through the service, no HTTP).

The bench makes a fresh database of prepaid accounts with one order each, signs one
notification per order with a wallet key of its own (before the clock starts), serves gridpay in
a subprocess and posts the notifications with wrk (a Lua script sends each pre-signed
notification once, spread over wrk's threads) for a fixed time. Then it counts the credits,
checks that no order was credited twice and audits the books.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import polars as pl
from sqlalchemy import text

from gridpay.adapters.clock import SystemClock
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.adapters.wallet_rsa2 import (
    Rsa2Wallet,
    generate_private_key,
    private_pem,
    public_pem,
    signed,
)
from gridpay.bootstrap import credit_policy
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.domain.wallet import OrderState, WalletOrder, amount_text, new_order_id
from gridpay.services import audit as audit_service
from gridpay.services.setup import initialize
from gridpay.services.wallet import accept_callback
from gridpay.simulation import wrk_replay
from gridpay.simulation.bench_partner import process_tree_cpu_s

APP_ID = "2026000000000099"
ACCOUNT_BASE = 1_000_000
AMOUNT_FEN = 5_000


# A line of the notifications file: a form body.
WRK_FORMAT_LINE = """
  return wrk.format("POST", "/wallet/notify", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, line)"""
WRK_THREADS = 2


@dataclass(frozen=True)
class WalletBenchReport:
    engine: str
    orders_http: int  # notifications prepared for the HTTP run (wrk sends what its time allows)
    orders_raw: int
    connections: int
    http: dict[str, Any]  # what the load generator measured
    raw_per_s: float
    raw_p99_ms: float
    raw_per_cpu_s: float  # credits per CPU-second of this process
    credits_found: int  # payment transfers of the bench's orders after both runs
    credited_orders: int
    audit_ok: bool

    @property
    def exactly_once(self) -> bool:
        """No order credited twice; every floor order credited; over HTTP, every notification
        wrk had answered credited (one still in flight when wrk stopped may land too), or, if
        wrk ran out and replayed, every notification credited once."""
        h = self.http
        if self.credits_found != self.credited_orders or h["socket_errors"]:
            return False
        over_http = self.credited_orders - self.orders_raw
        if h["exhausted"]:  # each replay is refused (non-2xx) and credits nothing
            return over_http == self.orders_http == h["requests"] - h["non2xx"]
        return h["non2xx"] == 0 and h["requests"] <= over_http <= h["requests"] + self.connections


def run_wallet_bench(
    url: str,
    orders: int,
    raw_orders: int,
    connections: int,
    workers: int = 1,
    duration_s: int = 10,
) -> WalletBenchReport:
    store = SqlStore(url)
    clock = SystemClock("Asia/Shanghai")
    initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
    work = Path(tempfile.mkdtemp(prefix="gridpay-wallet-bench-"))
    gridpay_key, wallet_key = generate_private_key(), generate_private_key()
    (work / "gridpay.pem").write_bytes(private_pem(gridpay_key))
    (work / "wallet.pub.pem").write_bytes(public_pem(wallet_key))
    all_orders = _make_orders(store, orders + raw_orders)
    http_orders, raw = all_orders[:orders], all_orders[orders:]
    settings = Settings(
        database_url=url,
        environment="test",
        wallet_app_id=APP_ID,
        wallet_gateway_url="http://127.0.0.1:9/unused",
        wallet_notify_url="http://127.0.0.1:9/unused",
        wallet_return_url="http://127.0.0.1:9/unused",
        wallet_private_key_file=str(work / "gridpay.pem"),
        wallet_public_key_file=str(work / "wallet.pub.pem"),
    )
    raw_per_s, raw_p99_ms, raw_per_cpu_s = _raw_floor(store, settings, raw, wallet_key, gridpay_key)
    notes = work / "notifications.txt"
    notes.write_text(
        "".join(urlencode(_notification(o, wallet_key)) + "\n" for o in http_orders), "utf-8"
    )
    http = _serve_and_load(url, settings, work, notes, connections, workers, duration_s)
    credits, credited = _count(store, [o.order_id for o in all_orders])
    report = audit_service.audit(store, days=1)
    store.dispose()
    return WalletBenchReport(
        engine=url.split(":", 1)[0],
        orders_http=orders,
        orders_raw=raw_orders,
        connections=connections,
        http=http,
        raw_per_s=raw_per_s,
        raw_p99_ms=raw_p99_ms,
        raw_per_cpu_s=raw_per_cpu_s,
        credits_found=credits,
        credited_orders=credited,
        audit_ok=report.ok,
    )


def _make_orders(store: SqlStore, n: int) -> list[WalletOrder]:
    ids = list(range(ACCOUNT_BASE, ACCOUNT_BASE + n))
    now = dt.datetime.now(dt.UTC)
    frame = pl.DataFrame(
        {
            "id": ids,
            "account_no": [f"{i:010d}" for i in ids],
            "name": [f"Bench household {i}" for i in ids],
            "phone": [f"139{i:08d}" for i in ids],
            "language": ["zh"] * n,
            "supply_type": ["direct"] * n,
            "tariff_code": ["henan-residential-tiered"] * n,
            "office_id": [1] * n,
            "billing_mode": ["prepaid"] * n,
            "created_at": [now] * n,
        },
        schema_overrides={"id": pl.Int64, "office_id": pl.Int64},
    )
    orders = [
        WalletOrder(
            new_order_id(secrets.token_hex(12)), i, AMOUNT_FEN, OrderState.CREATED, now, now
        )
        for i in ids
    ]
    with store.unit_of_work() as uow:
        uow.registry.insert_accounts(frame)
        for order in orders:
            uow.wallet.insert_order(order)
        uow.commit()
    return orders


def _notification(order: WalletOrder, key: Any) -> dict[str, str]:
    return signed(
        {
            "notify_time": "2026-12-07 10:00:00",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": APP_ID,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": f"T{order.order_id}",
            "out_trade_no": order.order_id,
            "total_amount": amount_text(order.amount_fen),
            "receipt_amount": amount_text(order.amount_fen),
            "trade_status": "TRADE_SUCCESS",
            "gmt_payment": "2026-12-07 09:59:58",
            "passback_params": f"{order.account_id:010d}",
        },
        key,
    )


def _raw_floor(
    store: SqlStore,
    settings: Settings,
    orders: list[WalletOrder],
    wallet_key: Any,
    gridpay_key: Any,
) -> tuple[float, float, float]:
    """The same verify-and-credit through the service in this process: no HTTP, no socket."""
    if not orders:
        return 0.0, 0.0, 0.0
    wallet = Rsa2Wallet(
        app_id=APP_ID,
        gateway_url="http://127.0.0.1:9/unused",
        notify_url="http://127.0.0.1:9/unused",
        return_url="http://127.0.0.1:9/unused",
        private_key=gridpay_key,
        wallet_public_key=wallet_key.public_key(),
        timeout_s=1.0,
    )
    notifications = [_notification(o, wallet_key) for o in orders]
    clock, credit = SystemClock(settings.time_zone), credit_policy(settings)
    latencies_s = []
    cpu_started_s = time.process_time()
    started = time.perf_counter()
    for params in notifications:
        one = time.perf_counter()
        outcome = accept_callback(store, clock, settings, wallet, credit, params)
        latencies_s.append(time.perf_counter() - one)
        assert outcome.outcome == "credited", outcome
    elapsed_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started_s
    wallet.close()
    latencies_s.sort()
    p99_ms = latencies_s[min(len(latencies_s) - 1, int(0.99 * len(latencies_s)))] * 1000
    return round(len(orders) / elapsed_s, 1), round(p99_ms, 2), round(len(orders) / cpu_s, 1)


def _serve_and_load(
    url: str,
    settings: Settings,
    work: Path,
    notes: Path,
    connections: int,
    workers: int,
    duration_s: int,
) -> dict[str, Any]:
    config = work / "gridpay.toml"
    config.write_text(
        "\n".join(
            f"{name} = {json.dumps(getattr(settings, name))}"
            for name in (
                "environment",
                "wallet_app_id",
                "wallet_gateway_url",
                "wallet_notify_url",
                "wallet_return_url",
                "wallet_private_key_file",
                "wallet_public_key_file",
            )
        )
        + "\n",
        "utf-8",
    )
    env = {**os.environ, "GRIDPAY_CONFIG": str(config), "GRIDPAY_DATABASE_URL": url}
    port = _free_port()
    cli = [sys.executable, "-m", "gridpay.entrypoints.cli"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, server)
        cpu_before_s = process_tree_cpu_s(server.pid)
        measured = _wrk(base, notes, connections, duration_s, work)
        # CPU the server spent: on a shared machine the wall-clock rate says more about the
        # neighbours than about gridpay; requests per CPU-second says what one core would do.
        server_cpu_s = process_tree_cpu_s(server.pid) - cpu_before_s
        measured["server_cpu_s"] = round(server_cpu_s, 2)
        measured["per_server_cpu_s"] = round(measured["requests"] / max(server_cpu_s, 1e-9), 1)
        return measured
    finally:
        server.terminate()
        server.communicate(timeout=30)


def _wrk(base: str, notes: Path, connections: int, duration_s: int, work: Path) -> dict[str, Any]:
    """wrk for ``duration_s`` seconds: requests, rate and latency percentiles (ms)."""
    threads = min(WRK_THREADS, connections)
    raw = wrk_replay.run(
        base,
        wrk_replay.replay_script(WRK_FORMAT_LINE),
        notes,
        connections=connections,
        threads=threads,
        duration_s=duration_s,
    )
    prepared = notes.read_bytes().count(b"\n")
    requests = int(raw["requests"])
    return {
        "load": f"wrk -t{threads} -c{connections} -d{duration_s}s",
        "requests": requests,
        "elapsed_s": round(raw["duration_us"] / 1e6, 3),
        "per_s": round(requests / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "non2xx": int(raw["non2xx"]),
        "socket_errors": wrk_replay.socket_errors(raw),
        # wrk ran out of notifications: the rate then counts replays (cheap) and is no measure.
        "exhausted": requests > prepared,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180  # workers importing gridpay on a loaded machine
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("gridpay serve did not start for the bench")
        time.sleep(0.2)


def _count(store: SqlStore, order_ids: list[str]) -> tuple[int, int]:
    ids = set(order_ids)
    with store.engine.connect() as conn:
        refs = conn.execute(
            text("select ref from transfers where kind = 'payment' and channel = 'app'")
        ).scalars()
        credits = sum(1 for r in refs if r in ids)
        states = conn.execute(text("select order_id, state from wallet_orders")).all()
    return credits, sum(1 for o, s in states if o in ids and s == "credited")
