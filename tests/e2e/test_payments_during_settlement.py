"""Payments from several processes land while a settlement runs: none is lost or doubled."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from gridpay.services.audit import audit
from gridpay.services.settlement import settle_day
from tests.integration.settle_helpers import add_city, add_readings

pytestmark = pytest.mark.slow

D0, D1 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
ACCOUNTS = 2_000
PAYERS = 3
PAYMENTS_EACH = 80
ROOT = Path(__file__).resolve().parents[2]
GRIDPAY = str(Path(sys.executable).parent / "gridpay")


def test_payments_landing_during_settlement_are_all_kept_once(store, clock, db_url, tmp_path):
    ids = add_city(store, ACCOUNTS)
    add_readings(store, ids, D0)
    add_readings(store, ids, D1)
    settle_day(store, clock, D0)

    settler = subprocess.Popen(
        [GRIDPAY, "--db", db_url, "settle", "--date", D1.isoformat(), "--chunk-accounts", "100"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    outs = [tmp_path / f"payer{i}.json" for i in range(PAYERS)]
    payers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.payer", db_url, str(i), str(PAYMENTS_EACH)]
            + [str(ACCOUNTS), str(out), D1.isoformat()],  # pay once the run has started
            cwd=ROOT,
        )
        for i, out in enumerate(outs)
    ]
    assert settler.wait(timeout=300) == 0
    assert all(p.wait(timeout=300) == 0 for p in payers)

    sent = [p for out in outs for p in json.loads(out.read_text())]
    assert len(sent) == PAYERS * PAYMENTS_EACH
    with store.unit_of_work() as uow:
        rows = uow.conn.execute(
            text(
                "SELECT ref, channel, account_id, amount_fen FROM transfers WHERE kind = 'payment'"
            )
        ).all()
        overlapping = uow.conn.execute(
            text(
                "SELECT count(*) FROM transfers t, settlement_runs r "
                "WHERE t.kind = 'payment' AND r.day = :d AND r.status = 'done' "
                "AND t.created_at > r.started_at AND t.created_at < r.finished_at"
            ),
            {"d": D1},
        ).scalar_one()
        settled = uow.conn.execute(
            text("SELECT count(*) FROM daily_usage WHERE day = :d"), {"d": D1}
        ).scalar_one()
    landed = {(r.channel, r.ref): (r.account_id, r.amount_fen) for r in rows}
    assert len(rows) == len(landed) == len(sent)  # each payment exactly once
    for p in sent:
        amount_fen = int(Decimal(p["amount_yuan"]) * 100)
        assert landed[(p["channel"], p["ref"])] == (int(p["account_no"]), amount_fen)
    assert settled == ACCOUNTS
    assert overlapping > 0, "no payment landed while the settlement ran: the test proved nothing"
    report = audit(store)
    assert report.ok, report.failed_checks
