"""Time ``gridpay accounts import`` of a seeded synthetic accounts file, end to end.

    .venv/bin/python scripts/bench_accounts_import.py --accounts 550000
    .venv/bin/python scripts/bench_accounts_import.py --db postgresql://user:pw@host/dbname

Writes the synthetic city's accounts and meters (``gridpay.simulation.synthetic``, the same city as
``gridpay bench settle`` for a seed) as an import file, then, ``--repeat`` times, in a fresh
database (a temporary SQLite file, a SQLite path that does not exist yet, or a new schema in a
PostgreSQL database, exactly as ``gridpay bench settle`` makes them): ``gridpay init``, then the
timed command ``gridpay --db URL accounts import FILE --json`` in its own process (interpreter
start-up and imports included), then the same import again (the idempotent re-run: everything
``unchanged``). Prints one line per round and the load average when the round started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from gridpay.simulation import synthetic
from gridpay.simulation.bench_repo import fresh_database

DAY = dt.date(2026, 11, 26)


def accounts_file(n_accounts: int, seed: int, path: Path) -> None:
    city = synthetic.city(n_accounts, seed, DAY)
    rows = city.accounts.join(
        city.meters.rename({"id": "meter_id"}), left_on="id", right_on="account_id"
    ).select(
        "account_no",
        "name",
        "phone",
        "language",
        "supply_type",
        pl.col("tariff_code").alias("tariff"),
        pl.col("office_id").cast(pl.String).alias("office"),
        "billing_mode",
        "meter_no",
        pl.col("has_tou").cast(pl.String).str.to_lowercase(),
        pl.col("has_switch").cast(pl.String).str.to_lowercase(),
        pl.col("installed_on").dt.strftime("%Y-%m-%d"),
        pl.col("breaker_a").cast(pl.String),
        (pl.col("initial_wh") / 1000).round(2).cast(pl.String).alias("initial_kwh"),
    )
    rows.write_csv(path)


GRIDPAY = str(Path(sys.executable).parent / "gridpay")


def gridpay(executable: str, url: str, *args: str) -> tuple[float, dict[str, object] | None]:
    command = [executable, "--db", url, *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return seconds, json.loads(done.stdout) if "--json" in args else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=550_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default=None, help="SQLite path or PostgreSQL URL")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--gridpay", default=GRIDPAY, help="the gridpay executable to time (to compare builds)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridpay-import-bench-") as folder:
        csv = Path(folder) / "accounts.csv"
        accounts_file(args.accounts, args.seed, csv)
        print(f"{csv.name}: {args.accounts:,} rows, {csv.stat().st_size / 2**20:.1f} MiB")
        for round_no in range(1, args.repeat + 1):
            db = args.db
            if db is not None and "://" not in db and args.repeat > 1:
                db = f"{db}.{round_no}"
            with fresh_database(db, keep=False) as database:
                gridpay(args.gridpay, database.url, "init")
                load = os.getloadavg()[0]
                seconds, report = gridpay(
                    args.gridpay, database.url, "accounts", "import", str(csv), "--json"
                )
                again, report2 = gridpay(
                    args.gridpay, database.url, "accounts", "import", str(csv), "--json"
                )
                assert report is not None and report2 is not None
                print(
                    f"round {round_no} ({database.description}, load {load:.2f}): "
                    f"import {seconds:.2f} s (inside the command {report['seconds']} s), "
                    f"added {report['added']:,}, rejected {report['rejected']:,}; "
                    f"again {again:.2f} s, unchanged {report2['unchanged']:,}, "
                    f"added {report2['added']:,}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
