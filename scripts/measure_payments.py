"""Statements and CPU per partner payment and per wallet callback, in process (no socket).

    .venv/bin/python scripts/measure_payments.py [--db URL] [--n 400] [--profile]

A fresh database (a temporary SQLite file, or a PostgreSQL URL whose schema is replaced) with
the partner bench's accounts; the payments go through the FastAPI app with Starlette's
TestClient, so the HTTP layer is measured without a socket. SQL statements are counted with a
``before_cursor_execute`` listener on the store's engine; CPU with ``time.process_time``;
``--profile`` prints cProfile's top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event

from gridpay import bootstrap
from gridpay.config import Settings
from gridpay.domain.partners import Partner, SignedHeaders, sign
from gridpay.entrypoints.http.app import create_app
from gridpay.services import partners
from gridpay.simulation import bench_partner
from gridpay.simulation.bench_repo import fresh_database

PATH = "/partner/v1/payments"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--show-sql", action="store_true")
    parser.add_argument("--only", choices=["partner", "wallet"], default=None)
    args = parser.parse_args()
    if args.only != "wallet":
        with fresh_database(args.db, False) as database:
            measure_partner(database.url, args)
    if args.only != "partner":
        with fresh_database(args.db, False) as database:
            measure_wallet(database.url, args)


def _counting(engine: object) -> Counter[str]:
    counts: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        counts[" ".join(statement.split())[:110]] += 1

    event.listen(engine, "before_cursor_execute", count)
    return counts


def measure_partner(url: str, args: argparse.Namespace) -> None:
    partner = bench_partner.prepare(url, args.accounts)
    settings = replace(Settings(), database_url=url, environment="test")
    built = bootstrap.build(settings)
    app = create_app(built)
    counts = _counting(built.store.engine)
    with TestClient(app) as client:
        requests = []
        now_s = int(time.time())
        for i in range(args.n + 50):
            body = json.dumps(
                {
                    "reference": f"M{i}",
                    "account_no": f"{1 + (i * 13) % args.accounts:010d}",
                    "amount_yuan": "12.30",
                },
                separators=(",", ":"),
            ).encode()
            nonce = secrets.token_hex(16)
            headers = {
                "X-Partner": partner.code,
                "X-Timestamp": str(now_s),
                "X-Nonce": nonce,
                "X-Signature": sign(partner.secret, "POST", PATH, now_s, nonce, body),
                "Content-Type": "application/json",
            }
            requests.append((headers, body))
        for headers, body in requests[:50]:  # warm up (compiled caches, pool)
            assert client.post(PATH, content=body, headers=headers).status_code == 201
        counts.clear()
        profile = cProfile.Profile() if args.profile else None
        cpu_s = time.process_time()
        if profile:
            profile.enable()
        for headers, body in requests[50:]:
            assert client.post(PATH, content=body, headers=headers).status_code == 201
        if profile:
            profile.disable()
        cpu_s = time.process_time() - cpu_s
    _report("partner payment", counts, args.n, cpu_s, args.show_sql, url)
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    for batch in (1, 16):  # the service alone (no HTTP): one at a time, and group-committed
        signed = [
            _signed(partner, f"S{batch}-{i}", 1 + (i * 7) % args.accounts) for i in range(args.n)
        ]
        counts.clear()
        cpu_s = time.process_time()
        batch_wall_ms = []  # a batch's whole transaction: SQLite's write lock is held that long
        for start in range(0, args.n, batch):
            chunk = signed[start : start + batch]
            started = time.perf_counter()
            outcomes = partners.pay_many(
                built.store, built.clock, built.settings, built.credit, chunk
            )
            batch_wall_ms.append(1000 * (time.perf_counter() - started))
            assert not any(isinstance(o, Exception) for o in outcomes), outcomes
        cpu_s = time.process_time() - cpu_s
        _report(f"partner service, batches of {batch}", counts, args.n, cpu_s, args.show_sql, url)
        batch_wall_ms.sort()
        print(
            f"  a batch's transaction (wall): median {batch_wall_ms[len(batch_wall_ms) // 2]:.2f} "
            f"ms, p90 {batch_wall_ms[int(len(batch_wall_ms) * 0.9)]:.2f} ms"
        )
    built.close()


def _signed(partner: Partner, reference: str, account_id: int) -> partners.SignedRequest:
    body = json.dumps(
        {"reference": reference, "account_no": f"{account_id:010d}", "amount_yuan": "12.30"},
        separators=(",", ":"),
    ).encode()
    now_s = int(time.time())
    nonce = secrets.token_hex(16)
    signature = sign(partner.secret, "POST", PATH, now_s, nonce, body)
    headers = SignedHeaders(partner.code, str(now_s), nonce, signature)
    return partners.SignedRequest("POST", PATH, headers, body)


def measure_wallet(url: str, args: argparse.Namespace) -> None:
    from gridpay.adapters.clock import SystemClock
    from gridpay.adapters.sql.store import SqlStore
    from gridpay.adapters.tariff_files import shipped_tariffs
    from gridpay.adapters.wallet_rsa2 import generate_private_key, private_pem, public_pem
    from gridpay.config import DEFAULT_OFFICES
    from gridpay.services.setup import initialize
    from gridpay.simulation import bench_wallet

    store = SqlStore(url)
    initialize(store, SystemClock("Asia/Shanghai"), DEFAULT_OFFICES, shipped_tariffs())
    work = Path(tempfile.mkdtemp(prefix="gridpay-measure-"))
    gridpay_key, wallet_key = generate_private_key(), generate_private_key()
    (work / "gridpay.pem").write_bytes(private_pem(gridpay_key))
    (work / "wallet.pub.pem").write_bytes(public_pem(wallet_key))
    orders = bench_wallet._make_orders(store, args.n + 50)
    store.dispose()
    settings = Settings(
        database_url=url,
        environment="test",
        wallet_app_id=bench_wallet.APP_ID,
        wallet_gateway_url="http://127.0.0.1:9/unused",
        wallet_notify_url="http://127.0.0.1:9/unused",
        wallet_return_url="http://127.0.0.1:9/unused",
        wallet_private_key_file=str(work / "gridpay.pem"),
        wallet_public_key_file=str(work / "wallet.pub.pem"),
    )
    built = bootstrap.build(settings)
    app = create_app(built)
    counts = _counting(built.store.engine)
    notes = [bench_wallet._notification(o, wallet_key) for o in orders]
    with TestClient(app) as client:
        for params in notes[:50]:
            assert client.post("/wallet/notify", data=params).text == "success"
        counts.clear()
        profile = cProfile.Profile() if args.profile else None
        cpu_s = time.process_time()
        if profile:
            profile.enable()
        for params in notes[50:]:
            assert client.post("/wallet/notify", data=params).text == "success"
        if profile:
            profile.disable()
        cpu_s = time.process_time() - cpu_s
    _report("wallet callback", counts, args.n, cpu_s, args.show_sql, url)
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    built.close()


def _report(
    what: str, counts: Counter[str], n: int, cpu_s: float, show_sql: bool, url: str
) -> None:
    engine = url.split(":", 1)[0]
    total = sum(counts.values())
    print(
        f"{what} on {engine}: {total / n:.2f} statements, {1000 * cpu_s / n:.2f} ms CPU "
        f"(this process) per request, n={n}"
    )
    if show_sql:
        for statement, k in counts.most_common():
            print(f"  {k / n:6.2f}  {statement}")


if __name__ == "__main__":
    main()
