"""The credit policy's benchmarks run end to end at a tiny size and report what they measured."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gridpay.entrypoints.cli import app


def run_json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_bench_credit_judges_the_households_moved_low_or_into_debt():
    data = run_json(
        ["bench", "credit", "--accounts", "400", "--low-share", "0.1", "--debt-share", "0.05"]
    )
    assert data["accounts"] == 400
    # every 20th household in debt, every 10th low: at least those are judged and decided
    assert data["decisions"]["notice"] >= 20
    assert data["decisions"]["warn"] >= 30
    assert data["messages"] == data["judged"]  # one SMS each (no trusted contacts here)
    assert data["judge_seconds"] > 0
    assert data["machine"]["cores"]


def test_bench_reconnect_finds_every_reconnect_queued_with_its_payment():
    data = run_json(["bench", "reconnect", "--accounts", "30"])
    assert data["payments"] == 30
    assert data["reconnects_queued_with_the_payment"] == 30
    assert 0 < data["payment_to_queued_p50_s"] <= data["payment_to_queued_p99_s"]


def test_an_option_out_of_range_is_a_usage_error_not_a_traceback():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gridpay.entrypoints.cli", "bench", "credit", "--low-share", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Invalid value for '--low-share'" in result.stderr
    assert "Traceback" not in result.stderr
