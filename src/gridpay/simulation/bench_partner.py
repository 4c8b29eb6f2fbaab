"""Bench of the partner API: signed payments over loopback with wrk, against the raw floor.

wrk's Lua cannot compute HMAC-SHA256 without a hand-written SHA-256 (slow in Lua and a second
implementation to trust), so the requests are signed beforehand in Python, each with its own
nonce and a fresh timestamp, and wrk's Lua script replays them, each exactly once, spread over
its threads. The server is ``gridpay serve --workers N``.

Afterwards every payment must have landed exactly once: the partner's posted payments, the
ledger's transfers with its references and the 201 answers are counted and compared, and
``gridpay audit``'s ledger checks must pass. The raw floor posts the same kind of payments
without HTTP, one after the other: through ``take_payment`` alone, and through the partner
service (signature, nonce, reservation, posting).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
from sqlalchemy import text

from gridpay import bootstrap
from gridpay.adapters.clock import SystemClock
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.domain.partners import Partner, SignedHeaders, sign
from gridpay.domain.payments import TakePayment
from gridpay.services import partners
from gridpay.services.audit import audit
from gridpay.services.payments import take_payment
from gridpay.services.setup import initialize
from gridpay.simulation import wrk_replay

PARTNER_CODE = "BENCH"
PATH = "/partner/v1/payments"
ACCOUNTS_DEFAULT = 10_000
START_TIMEOUT_S = 180
_CREATED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# A line of the signed-requests file: partner, timestamp, nonce, signature, body (tab-separated).
WRK_FORMAT_LINE = f"""
  local partner, ts, nonce, sig, body =
    line:match("^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  return wrk.format("POST", "{PATH}", {{
    ["X-Partner"] = partner, ["X-Timestamp"] = ts, ["X-Nonce"] = nonce,
    ["X-Signature"] = sig, ["Content-Type"] = "application/json",
  }}, body)"""


@dataclass(frozen=True)
class PartnerBenchResult:
    engine: str
    server: str  # "gridpay serve --workers N"
    connections: int
    duration_s: float
    requests: int
    answered_201: int
    non_2xx: int
    socket_errors: int
    payments_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    landed_partner_payments: int
    landed_transfers: int
    pending_left: int
    exactly_once: bool
    audit_passed: bool
    floor_take_payment_per_s: float
    floor_partner_service_per_s: float
    # The machine's 1-minute load average as the load started and as it ended: on a shared
    # machine the numbers above mean little without it.
    load_average_before: float
    load_average_after: float
    # CPU time per answered payment, whatever the machine's load: the server's processes
    # (uvicorn and its workers; not the database server's) and wrk's. On an idle machine their
    # sum bounds the throughput (cores / CPU per payment), before the database's own share.
    server_cpu_ms_per_payment: float
    wrk_cpu_ms_per_payment: float


def prepare(url: str, accounts: int) -> Partner:
    """A fresh gridpay database with ``accounts`` prepaid accounts and the bench partner."""
    store = SqlStore(url)
    clock = SystemClock("Asia/Shanghai")
    try:
        initialize(store, clock, DEFAULT_OFFICES, shipped_tariffs())
        ids = list(range(1, accounts + 1))
        frame = pl.DataFrame(
            {
                "id": ids,
                "account_no": [f"{i:010d}" for i in ids],
                "name": [f"户主{i}" for i in ids],
                "phone": [f"139{i:08d}" for i in ids],
                "language": ["zh"] * accounts,
                "supply_type": ["direct"] * accounts,
                "tariff_code": ["henan-residential-tiered"] * accounts,
                "office_id": [1 + i % len(DEFAULT_OFFICES) for i in ids],
                "billing_mode": ["prepaid"] * accounts,
                "created_at": [_CREATED_AT] * accounts,
            },
            schema_overrides={"id": pl.Int64, "office_id": pl.Int64},
        )
        with store.unit_of_work() as uow:
            uow.registry.insert_accounts(frame)
            uow.commit()
        return partners.add_partner(
            store,
            clock,
            code=PARTNER_CODE,
            name="Bench bank",
            kind="bank",
            payment_max_yuan="5000",
            day_max_yuan="100000000",
        )
    finally:
        store.dispose()


def floors(url: str, partner: Partner, payments: int, accounts: int) -> tuple[float, float]:
    """Payments per second without HTTP, one after the other: take_payment alone, and the
    partner service's whole path (signature, nonce, reservation, posting)."""
    settings = replace(Settings(), database_url=url, environment="test")
    built = bootstrap.build(settings)
    try:
        started = time.perf_counter()
        for i in range(payments):
            cmd = TakePayment(
                account_no=f"{1 + i % accounts:010d}",
                amount_yuan="12.30",
                channel="bank",
                ref=f"FLOOR-{i}",
            )
            take_payment(built.store, built.clock, built.settings, cmd, built.credit)
        take_payment_per_s = payments / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(payments):
            body = _body(f"F{i}", 1 + (i * 7) % accounts)
            now_s = int(built.clock.now().timestamp())
            nonce = secrets.token_hex(16)
            signature = sign(partner.secret, "POST", PATH, now_s, nonce, body)
            request = partners.SignedRequest(
                "POST", PATH, SignedHeaders(partner.code, str(now_s), nonce, signature), body
            )
            partners.pay(built.store, built.clock, built.settings, built.credit, request)
        service_per_s = payments / (time.perf_counter() - started)
    finally:
        built.close()
    return take_payment_per_s, service_per_s


def write_signed_requests(path: Path, partner: Partner, count: int, accounts: int) -> None:
    """``count`` signed payments, one a line: partner, timestamp, nonce, signature, body."""
    now_s = int(time.time())
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            body = _body(f"W{i}", 1 + (i * 13) % accounts)
            nonce = secrets.token_hex(16)
            signature = sign(partner.secret, "POST", PATH, now_s, nonce, body)
            out.write(f"{partner.code}\t{now_s}\t{nonce}\t{signature}\t{body.decode()}\n")


def _body(reference: str, account_id: int) -> bytes:
    data = {"reference": reference, "account_no": f"{account_id:010d}", "amount_yuan": "12.30"}
    return json.dumps(data, separators=(",", ":")).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``gridpay serve --workers N`` on ``url``, as an operator starts it."""
    env = {**os.environ, "GRIDPAY_DATABASE_URL": url}
    env.pop("GRIDPAY_CONFIG", None)
    command = [sys.executable, "-m", "gridpay.entrypoints.cli", "serve"]
    command += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    # Each worker imports gridpay (Polars, SQLAlchemy, FastAPI): on a loaded machine that takes
    # a while. A failed start is stopped with SIGTERM, never SIGKILL: uvicorn's supervisor
    # stops its workers on SIGTERM, and a killed one would leave them running.
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("the server exited at start") from None
            time.sleep(0.2)
    server.terminate()
    server.wait(timeout=60)
    raise RuntimeError(f"the server did not start in {START_TIMEOUT_S} s")


def run_wrk(
    port: int, requests_file: Path, connections: int, threads: int, duration_s: int
) -> dict[str, int]:
    return wrk_replay.run(
        f"http://127.0.0.1:{port}",
        wrk_replay.replay_script(WRK_FORMAT_LINE),
        requests_file,
        connections=connections,
        threads=threads,
        duration_s=duration_s,
    )


def landed(url: str) -> tuple[int, int, int, bool]:
    """Posted partner payments, ledger transfers and pending reservations of the wrk run, and
    whether the ledger checks of ``gridpay audit`` pass."""
    store = SqlStore(url)
    try:
        with store.unit_of_work() as uow:
            assert uow.conn is not None
            conn = uow.conn
            posted = conn.execute(
                text(
                    "SELECT count(*) FROM partner_payments WHERE partner_code = :c "
                    "AND status = 'posted' AND reference LIKE 'W%'"
                ),
                {"c": PARTNER_CODE},
            ).scalar_one()
            pending = conn.execute(
                text("SELECT count(*) FROM partner_payments WHERE status = 'pending'")
            ).scalar_one()
            transfers = conn.execute(
                text("SELECT count(*) FROM transfers WHERE ref LIKE :prefix"),
                {"prefix": f"{PARTNER_CODE}-W%"},
            ).scalar_one()
        report = audit(store)  # what `gridpay audit` runs
        return int(posted), int(transfers), int(pending), report.ok
    finally:
        store.dispose()


def run(
    url: str,
    *,
    engine: str,
    accounts: int,
    connections: int,
    threads: int,
    duration_s: int,
    workers: int,
    floor_payments: int,
    rate_max_per_s: int,
) -> PartnerBenchResult:
    partner = prepare(url, accounts)
    floor_take, floor_service = floors(url, partner, floor_payments, accounts)
    with tempfile.TemporaryDirectory(prefix="gridpay-bench-partner-") as folder:
        requests_file = Path(folder) / "signed.tsv"
        write_signed_requests(requests_file, partner, rate_max_per_s * duration_s, accounts)
        port = free_port()
        server = start_server(url, port, workers)
        load_before = os.getloadavg()[0]
        try:
            cpu_before_s = process_tree_cpu_s(server.pid)
            wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wrk = run_wrk(port, requests_file, connections, threads, duration_s)
            wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            server_cpu_s = process_tree_cpu_s(server.pid) - cpu_before_s
            load_after = os.getloadavg()[0]
        finally:
            server.terminate()
            server.wait(timeout=30)
    posted, transfers, pending, audit_passed = landed(url)
    errors = wrk_replay.socket_errors(wrk)
    answered_201 = wrk["requests"] - wrk["non2xx"]
    seconds = wrk["duration_us"] / 1e6
    return PartnerBenchResult(
        engine=engine,
        server=f"gridpay serve --workers {workers}",
        connections=connections,
        duration_s=round(seconds, 2),
        requests=wrk["requests"],
        answered_201=answered_201,
        non_2xx=wrk["non2xx"],
        socket_errors=errors,
        payments_per_s=round(answered_201 / seconds, 1),
        p50_ms=wrk["p50_us"] / 1000,
        p90_ms=wrk["p90_us"] / 1000,
        p99_ms=wrk["p99_us"] / 1000,
        max_ms=wrk["max_us"] / 1000,
        landed_partner_payments=posted,
        landed_transfers=transfers,
        pending_left=pending,
        # wrk stops with a request in flight on each connection: those land (the server
        # finishes them) without wrk counting their answers.
        exactly_once=posted == transfers
        and pending == 0
        and answered_201 <= posted <= answered_201 + errors + connections,
        audit_passed=audit_passed,
        floor_take_payment_per_s=round(floor_take, 1),
        floor_partner_service_per_s=round(floor_service, 1),
        load_average_before=round(load_before, 2),
        load_average_after=round(load_after, 2),
        server_cpu_ms_per_payment=round(1000 * server_cpu_s / max(answered_201, 1), 2),
        wrk_cpu_ms_per_payment=round(
            1000
            * (wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime)
            / max(answered_201, 1),
            3,
        ),
    )


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants, so far (Linux /proc)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree = {pid}
    grew = True
    while grew:
        found = {p for p, parent in parents.items() if parent in tree} - tree
        grew = bool(found)
        tree |= found
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")
