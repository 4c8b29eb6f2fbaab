"""The partner benches run end to end at a tiny size and report what they measured."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
from typer.testing import CliRunner

from gridpay.entrypoints.cli import app


def run_json(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return data


def test_bench_reconcile_finds_each_kind_of_mismatch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = run_json(["bench", "reconcile", "--payments", "2000", "--db", str(tmp_path / "b.db")])
    assert data["statement_lines"] == 2000
    # 50 of each kind: amount, account, missing ours (on the statement); missing theirs (ours)
    assert data["mismatches"] == 200 and data["tasks_opened"] == 200
    assert data["matched"] == 2000 - 150
    assert data["first_run_s"] > 0 and data["machine"]["cores"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_partner_lands_every_answered_payment_exactly_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = run_json(
        [
            "bench", "partner", "--db", str(tmp_path / "b.db"), "--accounts", "50",
            "--duration", "2", "--connections", "4", "--floor-payments", "20",
            "--rate-max", "2000",
        ]
    )  # fmt: skip
    assert data["answered_201"] > 0 and data["non_2xx"] == 0
    assert data["exactly_once"] and data["audit_passed"]
    assert data["landed_transfers"] == data["landed_partner_payments"]
    assert data["floor_take_payment_per_s"] > 0 and data["p99_ms"] >= data["p50_ms"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_partner_sends_every_prepared_payment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 2 s at 30 a second: 60 signed payments, fewer than wrk can send, so it sends them all and
    # then replays (refused). wrk's check call of the first thread's request() must not take
    # one of them: every prepared payment lands.
    data = run_json(
        [
            "bench", "partner", "--db", str(tmp_path / "b.db"), "--accounts", "50",
            "--duration", "2", "--connections", "2", "--threads", "2", "--floor-payments", "5",
            "--rate-max", "30",
        ]
    )  # fmt: skip
    assert data["landed_partner_payments"] == 60
    assert data["non_2xx"] > 0 and data["audit_passed"]
