"""``gridpay partners``: add (the secret shown once), list, suspend, resume, rotate, limits."""

from __future__ import annotations

import json

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.services import partners
from tests.helpers_accounts import cli


def test_partners_are_managed_from_the_cli(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        return cli(store, monkeypatch, capsys, "partners", *args)

    code, out, err = run(
        "add", "alipay", "--name", "支付宝", "--kind", "wallet", "--day-max", "20000", "--json"
    )
    assert code == 0, err
    added = json.loads(out)
    assert added["code"] == "ALIPAY" and added["channel"] == "app"
    assert added["payment_max_yuan"] == "5000.00" and added["day_max_yuan"] == "20000.00"
    secret = added["secret"]
    assert len(secret) >= 40

    code, out, _ = run("list", "--json")
    assert code == 0 and "secret" not in out and secret not in out
    assert [p["code"] for p in json.loads(out)] == ["ALIPAY"]

    assert json.loads(run("suspend", "ALIPAY", "--json")[1])["suspended"] is True
    assert json.loads(run("resume", "alipay", "--json")[1])["suspended"] is False
    rotated = json.loads(run("rotate-secret", "ALIPAY", "--json")[1])["secret"]
    assert rotated != secret
    (stored,) = partners.list_partners(store)
    assert stored.secret == rotated

    limits = json.loads(run("set-limits", "ALIPAY", "--payment-max", "100", "--json")[1])
    assert limits["payment_max_yuan"] == "100.00" and limits["day_max_yuan"] == "20000.00"
    code, _, err = run("set-limits", "ALIPAY", "--payment-max", "30000")
    assert code == 3 and "above the per-day limit" in err  # invalid_input
    code, _, err = run("add", "ALIPAY", "--name", "again", "--kind", "wallet")
    assert code == 5 and "exists already" in err  # conflict
    code, _, err = run("add", "X", "--name", "x", "--kind", "bank")
    assert code == 3 and "partner code" in err
    code, _, err = run("suspend", "NOBODY")
    assert code == 4  # not_found
