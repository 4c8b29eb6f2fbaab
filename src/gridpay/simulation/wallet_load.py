"""The wallet bench's load generator, run in its own process: posts pre-signed notifications to
``/wallet/notify`` with a fixed number of connections and prints what it measured as JSON.

    python -m gridpay.simulation.wallet_load URL NOTIFICATIONS.jsonl CONNECTIONS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import httpx


async def _post_all(
    url: str, notifications: list[dict[str, str]], connections: int
) -> dict[str, object]:
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for n in notifications:
        queue.put_nowait(n)
    latencies_s: list[float] = []
    answers: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            while not queue.empty():
                params = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, data=params)
                latencies_s.append(time.perf_counter() - started)
                answers[f"{response.status_code} {response.text.strip()}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed_s = time.perf_counter() - started
    latencies_s.sort()

    def quantile_ms(q: float) -> float:
        return round(latencies_s[min(len(latencies_s) - 1, int(q * len(latencies_s)))] * 1000, 2)

    return {
        "requests": len(latencies_s),
        "elapsed_s": round(elapsed_s, 3),
        "per_s": round(len(latencies_s) / elapsed_s, 1),
        "p50_ms": quantile_ms(0.50),
        "p95_ms": quantile_ms(0.95),
        "p99_ms": quantile_ms(0.99),
        "max_ms": round(latencies_s[-1] * 1000, 2),
        "answers": dict(answers),
    }


def main(argv: list[str]) -> None:
    url, path, connections = argv[0], Path(argv[1]), int(argv[2])
    notifications = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    print(json.dumps(asyncio.run(_post_all(url, notifications, connections))))


if __name__ == "__main__":
    main(sys.argv[1:])
