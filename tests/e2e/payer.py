"""A payer process for the concurrency test: pays into random accounts, retrying some payments.

Usage: python -m tests.e2e.payer DB_URL SEED COUNT ACCOUNTS OUT.json [DAY]

With DAY, the payer starts paying only once a settlement run of DAY has started, so that its
payments land while that run goes on however long each process took to start.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time

from sqlalchemy import text

from gridpay import bootstrap
from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.payments import TakePayment
from gridpay.services.payments import take_payment

CHANNELS = ("app", "counter", "bank", "agent")


def main() -> None:
    url, seed, count, accounts, out = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
    )
    rng = random.Random(seed)
    app = bootstrap.build(db=url)
    sent: list[dict[str, object]] = []
    try:
        if len(sys.argv) > 6:
            _wait_for_run(app.store, dt.date.fromisoformat(sys.argv[6]))
        for i in range(count):
            channel = rng.choice(CHANNELS)
            cmd = TakePayment(
                account_no=f"{rng.randint(1, accounts):010d}",
                amount_yuan=f"{rng.randint(1, 50_000) / 100:.2f}",
                channel=channel,
                ref=f"s{seed}-{i}",
                office_id=rng.randint(1, 6) if channel == "counter" else None,
            )
            take_payment(app.store, app.clock, app.settings, cmd)
            if rng.random() < 0.25:  # the channel retries: must be a no-op
                assert take_payment(app.store, app.clock, app.settings, cmd).already_recorded
            sent.append(
                {
                    "account_no": cmd.account_no,
                    "amount_yuan": cmd.amount_yuan,
                    "ref": cmd.ref,
                    "channel": channel,
                }
            )
    finally:
        app.close()
    with open(out, "w", encoding="utf-8") as f:
        json.dump(sent, f)


def _wait_for_run(store: SqlStore, day: dt.date) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with store.reader() as uow:  # takes no write lock: the settlement is not held up
            assert uow.conn is not None
            started = uow.conn.execute(
                text("SELECT count(*) FROM settlement_runs WHERE day = :d"), {"d": day}
            ).scalar_one()
        if started:
            return
        time.sleep(0.002)
    raise TimeoutError(f"no settlement run of {day} started")


if __name__ == "__main__":
    main()
