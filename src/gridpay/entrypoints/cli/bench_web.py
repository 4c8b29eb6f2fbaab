"""CLI: ``gridpay bench web`` — the households' home page under a real load generator.

Builds a synthetic city with days of usage in a fresh database (``simulation.reads_city``, made
inside the database; or reuses one kept with ``--city-db``), signs in random accounts (their
sessions written as the code page leaves them), starts ``gridpay serve`` on a loopback port and
drives ``/home`` with wrk (a Lua script gives each request a random session's cookie). Prints
pages/s and latency percentiles beside the floor: the same page's work without HTTP.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
import typer

from gridpay import bootstrap
from gridpay.adapters.clock import FixedClock
from gridpay.adapters.sql.db import masked_url
from gridpay.config import Settings
from gridpay.entrypoints.cli._common import console, print_json
from gridpay.entrypoints.cli.bench import CITY_DB_HELP, bench_app, city_database, ready_city
from gridpay.entrypoints.http.household_chart import chart_svg
from gridpay.entrypoints.http.household_text import Words
from gridpay.errors import InvalidInput
from gridpay.simulation.bench_reads import as_of
from gridpay.simulation.bench_web import measure_floor, open_sessions
from gridpay.simulation.machine import describe_database, describe_machine

_LUA = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
math.randomseed(%(seed)d)
request = function()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", "/home", {["Cookie"] = "gp_session=" .. t})
end
response = function(status, headers, body)
  if status ~= 200 then wrong = (wrong or 0) + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%.3f %%.3f %%.3f %%.3f\\n",
    summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


@bench_app.command("web")
def bench_web(
    accounts: int = typer.Option(10_000, "--accounts", help="Accounts in the city."),
    history_days: int = typer.Option(365, "--history-days", help="Days of usage per account."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="A SQLite path that does not exist yet, or a PostgreSQL URL (a fresh schema is "
        "made in it). Default: a temporary SQLite file. Never the configured database.",
    ),
    city_db: str | None = typer.Option(None, "--city-db", help=CITY_DB_HELP),
    sessions: int = typer.Option(2_000, "--sessions", help="Signed-in random accounts."),
    duration_s: int = typer.Option(30, "--duration", help="Seconds of load."),
    connections: int = typer.Option(16, "--connections", help="wrk's open connections."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="`gridpay serve --workers N`: server processes."
    ),
    floor_pages: int = typer.Option(2_000, "--floor-pages", help="Pages for the floor."),
    seed: int = typer.Option(7, "--seed"),
    keep: bool = typer.Option(False, "--keep", help="Keep the database afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The household home page for random signed-in accounts under wrk: p95 and pages/s."""
    if history_days < 1:
        raise InvalidInput("--history-days must be 1 or more")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise InvalidInput("wrk is not installed (apt-get install wrk)")
    with city_database(city_db, db, keep) as database:
        settings = replace(Settings(), database_url=database.url, environment="drill")
        g = bootstrap.build(settings)
        try:
            city, reused = ready_city(g, accounts, history_days, seed)
            clock = FixedClock(as_of(city))
            ids = list(city.account_ids)
            tokens = open_sessions(g.store, clock, ids, sessions, seed, 30)
            words = Words("zh")
            floor = measure_floor(
                g.store,
                clock,
                g.credit,
                ids,
                floor_pages,
                seed,
                render=lambda view: chart_svg(view.chart, view.chart_days, words),  # type: ignore[attr-defined]
            )
            machine = {**describe_machine(), **describe_database(g.store.engine)}
        finally:
            g.close()
        load = _load(wrk, database.url, tokens, duration_s, connections, workers, seed, as_of(city))
        if keep or city_db:
            console.print(f"kept: --city-db '{masked_url(database.url)}'")
    report = {
        "accounts": city.accounts,
        "history_days": city.history_days,
        "usage_rows": city.accounts * city.history_days,
        "build_s": round(city.build_s, 1),
        "reused": reused,
        "database": database.description,
        "sessions": len(tokens),
        "floor_pages_per_s": round(floor.pages_per_s, 1),
        "floor_p50_ms": round(floor.p50_ms, 2),
        "floor_p95_ms": round(floor.p95_ms, 2),
        **load,
        "machine": machine,
    }
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        if key != "machine":
            console.print(f"{key:>20}: {value}")
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))


def _load(
    wrk: str,
    url: str,
    tokens: list[str],
    duration_s: int,
    connections: int,
    workers: int,
    seed: int,
    now: dt.datetime,
) -> dict[str, object]:
    """``gridpay serve`` in its own process, wrk against it; the server's view of the run."""
    folder = Path(tempfile.mkdtemp(prefix="gridpay-bench-web-"))
    try:
        (folder / "tokens.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
        script = folder / "home.lua"
        script.write_text(_LUA % {"tokens": folder / "tokens.txt", "seed": seed}, "utf-8")
        port = _free_port()
        env = {
            **os.environ,
            "GRIDPAY_DATABASE_URL": url,
            "GRIDPAY_NOW": now.isoformat(),
        }
        env.pop("GRIDPAY_CONFIG", None)
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gridpay.entrypoints.cli", "serve", "--port", str(port),
                "--no-access-log", "--allow-business-date", "--workers", str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, server)
            check = httpx.get(f"{base}/home", cookies={"gp_session": tokens[0]}, timeout=10)
            if check.status_code != 200 or 'id="balance-yuan"' not in check.text:
                raise InvalidInput(f"the home page did not answer signed in: {check.status_code}")
            done = subprocess.run(
                [
                    wrk, "-t", "2", "-c", str(connections), "-d", f"{duration_s}s",
                    "--timeout", "10s", "-s", str(script), base + "/home",
                ],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        finally:
            server.terminate()
            server.communicate(timeout=30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    found = re.search(r"^RESULT (.*)$", done.stdout, re.MULTILINE)
    if found is None:
        raise InvalidInput(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    requests, duration_us, errors, p50, p95, p99, top = found.group(1).split()
    return {
        "server": f"gridpay serve --workers {workers}",
        "connections": connections,
        "duration_s": duration_s,
        "pages": int(requests),
        "errors": int(errors),
        "pages_per_s": round(int(requests) / (int(duration_us) / 1e6), 1),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(top),
    }


def _wait_until_up(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180  # worker processes importing gridpay on a busy machine
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise InvalidInput("gridpay serve did not start") from None
            time.sleep(0.2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
