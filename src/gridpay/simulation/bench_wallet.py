"""The wallet-callback bench: verified credits per second through ``gridpay serve``, every one
landed exactly once, beside the raw floor (the same credits through the service, no HTTP).

The bench makes a fresh database of prepaid accounts with one order each, signs one
notification per order with a wallet key of its own (before the clock starts), serves gridpay in
a subprocess and posts the notifications with wrk (a Lua script sends each pre-signed
notification once, spread over wrk's threads) for a fixed time. Then it counts the credits,
checks that no order was credited twice and audits the books.

The measured run comes after a warm-up run of its own notifications: wrk corrects its latencies
for coordinated omission (an answer that took T while the connection would have sent every
``interval`` adds samples of T - interval, T - 2 interval, ... down to ``interval``), so the
few slow answers of a cold server (the first of each connection) become several per cent of
the samples and set the p99 alone. The cold start is reported on its own (the first callback's
time), and the server's own count of slow answers (its latency histogram, no correction) beside
wrk's percentiles.
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
from prometheus_client.parser import text_string_to_metric_families
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
# Notifications signed per second of warm-up: more than one server answers in a second, so the
# warm-up runs at full load for its whole time.
WARMUP_NOTIFICATIONS_PER_S = 800
# The server's answer times counted as slow (its histogram's bucket bounds, in seconds).
SLOW_ANSWER_BOUNDS_S = (0.05, 0.1, 0.25)
NOTIFY_ROUTE = "/wallet/notify"


@dataclass(frozen=True)
class WalletBenchReport:
    engine: str
    orders_http: int  # notifications prepared for the HTTP run (wrk sends what its time allows)
    orders_warmup: int  # the first callback's and the warm-up's, credited before the measuring
    orders_raw: int
    connections: int
    http: dict[str, Any]  # what the load generator measured, and the server's slow answers
    credited_http: int  # orders of the measured run credited
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
        wrk ran out and resent its last ones (answered success), every notification credited
        once."""
        h = self.http
        if self.credits_found != self.credited_orders or h["socket_errors"] or h["non2xx"]:
            return False
        if h["exhausted"]:  # each resent notification is answered success, credits nothing
            return self.credited_http == self.orders_http
        return h["requests"] <= self.credited_http <= h["requests"] + self.connections


def run_wallet_bench(
    url: str,
    orders: int,
    raw_orders: int,
    connections: int,
    workers: int = 1,
    duration_s: int = 10,
    warmup_s: int = 2,
) -> WalletBenchReport:
    store = SqlStore(url)
    clock = SystemClock("Asia/Shanghai")
    initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
    work = Path(tempfile.mkdtemp(prefix="gridpay-wallet-bench-"))
    gridpay_key, wallet_key = generate_private_key(), generate_private_key()
    (work / "gridpay.pem").write_bytes(private_pem(gridpay_key))
    (work / "wallet.pub.pem").write_bytes(public_pem(wallet_key))
    warmup = 1 + warmup_s * WARMUP_NOTIFICATIONS_PER_S
    all_orders = _make_orders(store, orders + warmup + raw_orders)
    http_orders = all_orders[:orders]
    warm_orders, raw = all_orders[orders : orders + warmup], all_orders[orders + warmup :]
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
    notes = _write_notifications(work / "notifications.txt", http_orders, wallet_key)
    warm_notes = _write_notifications(work / "warmup.txt", warm_orders[1:], wallet_key)
    load = Load(connections, workers, duration_s, warmup_s)
    first = urlencode(_notification(warm_orders[0], wallet_key))
    http = _serve_and_load(url, settings, work, first, warm_notes, notes, load)
    credits, credited = _count(store, [o.order_id for o in all_orders])
    _, credited_http = _count(store, [o.order_id for o in http_orders])
    report = audit_service.audit(store, days=1)
    store.dispose()
    return WalletBenchReport(
        engine=url.split(":", 1)[0],
        orders_http=orders,
        orders_warmup=warmup,
        orders_raw=raw_orders,
        connections=connections,
        http=http,
        credited_http=credited_http,
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


def _write_notifications(path: Path, orders: list[WalletOrder], key: Any) -> Path:
    """One signed notification per order, form-encoded, one a line (what the Lua script sends)."""
    path.write_text("".join(urlencode(_notification(o, key)) + "\n" for o in orders), "utf-8")
    return path


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


@dataclass(frozen=True)
class Load:
    connections: int
    workers: int
    duration_s: int
    warmup_s: int


def _serve_and_load(
    url: str,
    settings: Settings,
    work: Path,
    first: str,
    warm_notes: Path,
    notes: Path,
    load: Load,
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
        [*cli, "serve", "--port", str(port), "--workers", str(load.workers), "--no-access-log"],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, server)
        first_ms = _post_timed(base, first)
        if load.warmup_s:
            _wrk(base, warm_notes, load.connections, load.warmup_s, work)
        slow_before = _slow_answers(base)
        cpu_before_s = process_tree_cpu_s(server.pid)
        measured = _wrk(base, notes, load.connections, load.duration_s, work)
        # CPU the server spent: on a shared machine the wall-clock rate says more about the
        # neighbours than about gridpay; requests per CPU-second says what one core would do.
        server_cpu_s = process_tree_cpu_s(server.pid) - cpu_before_s
        slow_after = _slow_answers(base)
        measured["first_callback_ms"] = first_ms
        measured["server_cpu_s"] = round(server_cpu_s, 2)
        measured["per_server_cpu_s"] = round(measured["requests"] / max(server_cpu_s, 1e-9), 1)
        # Each worker process keeps its own histogram, and a scrape reaches one of them.
        if load.workers == 1:
            measured["server_answers"] = slow_after["answers"] - slow_before["answers"]
            measured["server_slow"] = {
                k: slow_after[k] - slow_before[k] for k in slow_after if k != "answers"
            }
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


def _post_timed(base: str, body: str) -> float:
    """One notification, alone, timed (ms): the first a freshly started server answers."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    started = time.perf_counter()
    answer = httpx.post(f"{base}{NOTIFY_ROUTE}", content=body, headers=headers, timeout=60)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if answer.text != "success":
        raise RuntimeError(f"the bench's first notification was refused: {answer.status_code}")
    return round(elapsed_ms, 2)


def _slow_answers(base: str) -> dict[str, int]:
    """The callbacks the server answered, and how many took longer than each of
    ``SLOW_ANSWER_BOUNDS_S`` (its own latency histogram, as /metrics serves it)."""
    text_metrics = httpx.get(f"{base}/metrics", timeout=10).text
    within: dict[float, float] = {}
    answers = 0.0
    for family in text_string_to_metric_families(text_metrics):
        for sample in family.samples:
            if sample.labels.get("route") != NOTIFY_ROUTE:
                continue
            if sample.name == "gridpay_http_request_seconds_bucket":
                within[float(sample.labels["le"])] = sample.value
            elif sample.name == "gridpay_http_request_seconds_count":
                answers = sample.value
    slow = {
        f"over_{round(b * 1000)}_ms": int(answers - within.get(b, 0.0))
        for b in SLOW_ANSWER_BOUNDS_S
    }
    return {"answers": int(answers), **slow}


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
