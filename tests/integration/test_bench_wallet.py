"""The wallet bench end to end at a tiny size: through `gridpay serve`, every credit once."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gridpay.entrypoints.cli import app


@pytest.mark.slow
def test_bench_wallet_lands_every_callback_exactly_once_and_audits() -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "wallet",
            "--orders",
            "60",
            "--raw-orders",
            "20",
            "--connections",
            "4",
            "--duration",
            "2",
            "--warmup",
            "1",
            "--json",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert data["exactly_once"] is True and data["audit_ok"] is True
    # Every order at most once; the measured run's 60 all credited. The warm-up's are credited
    # as far as its second went (the first callback's one at least).
    assert data["credits_found"] == data["credited_orders"]
    assert data["credited_http"] == 60
    assert 60 + 20 + 1 <= data["credited_orders"] <= 60 + 20 + data["orders_warmup"]
    assert data["http"]["first_callback_ms"] > 0
    # The server's own count of its answers in the measured run (wrk's, and any in flight).
    assert data["http"]["server_answers"] >= data["http"]["requests"]
    assert set(data["http"]["server_slow"]) == {"over_50_ms", "over_100_ms", "over_250_ms"}
    # 60 notifications do not last wrk two seconds: it resends them, and none is credited twice;
    # a resent notification of a credited order is answered success (the wallet stops).
    assert data["http"]["exhausted"] is True and data["http"]["requests"] > 60
    assert data["http"]["non2xx"] == 0
    assert data["http"]["socket_errors"] == 0
    assert data["http"]["per_s"] > 0 and data["raw_per_s"] > 0
    assert data["machine"]["cores"]
