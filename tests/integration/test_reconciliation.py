"""Reconciling a partner's day: every kind of mismatch, tasks opened and closed, confirmation."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from gridpay import bootstrap
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.statement_files import read_statement
from gridpay.config import Settings
from gridpay.domain.partners import SignedHeaders
from gridpay.errors import InvalidInput, NotFound, Refused
from gridpay.services import partners, reconciliation
from gridpay.services.partners import SignedRequest
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, balance_fen, cli, rows
from tests.partner_client import payment_body, signed_headers

HEADER = "reference,account_no,amount_yuan,paid_at\n"


def statement(tmp_path: Path, lines: list[str], name: str = "statement.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{line},2026-11-28T10:00:00+08:00\n" for line in lines))
    return path


@pytest.fixture
def app(store: SqlStore, clock: FakeClock) -> bootstrap.App:
    settings = replace(Settings(), database_url=store.url, environment="test")
    add_accounts(store, range(1, 6))
    return bootstrap.App(settings, store, clock, bootstrap.credit_policy(settings))


@pytest.fixture
def icbc(app: bootstrap.App) -> partners.Partner:
    return partners.add_partner(app.store, app.clock, code="ICBC", name="ICBC", kind="bank")


def pay(app: bootstrap.App, partner: partners.Partner, ref: str, account: int, yuan: str) -> None:
    body = payment_body(ref, f"{account:010d}", yuan)
    ts = int(app.clock.now().timestamp())
    h = signed_headers(partner.code, partner.secret, "POST", "/partner/v1/payments", body, ts)
    request = SignedRequest(
        "POST",
        "/partner/v1/payments",
        SignedHeaders(h["X-Partner"], h["X-Timestamp"], h["X-Nonce"], h["X-Signature"]),
        body,
    )
    partners.pay(app.store, app.clock, app.settings, app.credit, request)


def reverse(app: bootstrap.App, partner: partners.Partner, ref: str) -> None:
    path = f"/partner/v1/payments/{ref}/reverse"
    ts = int(app.clock.now().timestamp())
    h = signed_headers(partner.code, partner.secret, "POST", path, b"", ts)
    request = SignedRequest(
        "POST",
        path,
        SignedHeaders(h["X-Partner"], h["X-Timestamp"], h["X-Nonce"], h["X-Signature"]),
        b"",
    )
    partners.reverse_payment(app.store, app.clock, app.settings, app.credit, request, ref)


def open_tasks(store: SqlStore) -> dict[str, str]:
    found = rows(
        store,
        "SELECT key, reason FROM staff_tasks WHERE kind = 'reconciliation' AND closed_at IS NULL",
    )
    return {r.key.rsplit("/", 1)[1]: r.reason for r in found}


def run(app: bootstrap.App, path: Path, day: dt.date) -> reconciliation.Reconciliation:
    return reconciliation.reconcile_statement(
        app.store, app.clock, "ICBC", read_statement(path), day
    )


def test_every_kind_of_mismatch_becomes_a_task_that_closes_when_resolved(
    app: bootstrap.App, icbc: partners.Partner, tmp_path: Path
) -> None:
    day = app.clock.today()
    pay(app, icbc, "R1", 1, "10")
    pay(app, icbc, "R2", 2, "20")
    pay(app, icbc, "R3", 3, "30")
    pay(app, icbc, "R4", 4, "40")
    pay(app, icbc, "R6", 1, "60")
    reverse(app, icbc, "R6")  # reversed: on neither side
    theirs = statement(
        tmp_path,
        ["R1,0000000001,10.00", "R2,0000000002,25", "R3,0000000005,30.0", "R5,0000000005,50.5"],
    )
    result = run(app, theirs, day)
    assert result.counts == {
        "matched": 1,
        "amount_differs": 1,
        "account_differs": 1,
        "missing_ours": 1,
        "missing_theirs": 1,
    }
    outcomes = dict(result.lines.select("reference", "outcome").iter_rows())
    assert outcomes == {
        "R1": "matched",
        "R2": "amount_differs",
        "R3": "account_differs",
        "R4": "missing_theirs",
        "R5": "missing_ours",
    }
    tasks = open_tasks(app.store)
    assert set(tasks) == {"R2", "R3", "R4", "R5"}
    assert "amounts differ (ours 20.00 yuan, theirs 25.00 yuan" in tasks["R2"]
    assert result.tasks_opened == 4

    again = run(app, theirs, day)  # a re-run: the same lines, no task twice
    assert again.counts == result.counts and again.tasks_opened == 0
    assert again.lines.equals(result.lines)

    receipt = reconciliation.confirm(
        app.store,
        app.clock,
        app.settings,
        app.credit,
        code="ICBC",
        reference="R5",
        by="wang",
        day=day,
    )
    assert receipt.transfer.id == "pay/bank/ICBC-R5"
    assert balance_fen(app.store, 5) == 5_050
    assert set(open_tasks(app.store)) == {"R2", "R3", "R4"}  # closed by the confirmation
    with pytest.raises(Refused, match="only a payment missing on our side"):
        reconciliation.confirm(
            app.store,
            app.clock,
            app.settings,
            app.credit,
            code="ICBC",
            reference="R1",
            by="wang",
            day=day,
        )

    corrected = statement(
        tmp_path,
        [
            "R1,0000000001,10",
            "R2,0000000002,20",
            "R3,0000000003,30",
            "R4,0000000004,40",
            "R5,0000000005,50.50",
        ],
        "corrected.csv",
    )
    final = run(app, corrected, day)
    assert final.counts["matched"] == 5 and final.tasks_closed == 3
    assert open_tasks(app.store) == {}
    confirmed = final.lines.filter(pl.col("reference") == "R5")["confirmed_by"].to_list()
    assert confirmed == ["wang"]  # kept across re-runs


def test_a_bad_statement_is_refused_whole_with_the_lines_named(
    app: bootstrap.App, icbc: partners.Partner, tmp_path: Path
) -> None:
    day = app.clock.today()
    bad = statement(tmp_path, ["R1,0000000001,10", "R2,12345,1.234", "R1,0000000002,5"])
    with pytest.raises(InvalidInput, match="line 3"):
        run(app, bad, day)
    repeated = statement(tmp_path, ["R1,0000000001,10", "R1,0000000002,5"], "repeated.csv")
    with pytest.raises(InvalidInput, match="repeats reference"):
        run(app, repeated, day)
    no_header = tmp_path / "no-header.csv"
    no_header.write_text("R1,0000000001,10\n")
    with pytest.raises(InvalidInput, match="header line"):
        run(app, no_header, day)
    good = statement(tmp_path, ["R1,0000000001,10"], "good.csv")
    with pytest.raises(NotFound):
        reconciliation.reconcile_statement(
            app.store, app.clock, "NOBODY", read_statement(good), day
        )
    assert rows(app.store, "SELECT * FROM reconciliation_lines") == []


def test_reconcile_cli_writes_the_report_and_confirms(
    app: bootstrap.App,
    icbc: partners.Partner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pay(app, icbc, "R1", 1, "10")
    path = statement(tmp_path, ["R1,0000000001,10", "R9,0000000002,9.90"])
    report = tmp_path / "report.csv"
    now = ["--now", "2026-11-29T09:00"]  # the statement of yesterday, 2026-11-28
    code, out, err = cli(
        app.store,
        monkeypatch,
        capsys,
        *now,
        "reconcile",
        "ICBC",
        str(path),
        "--report",
        str(report),
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["day"] == "2026-11-28"
    assert summary["lines"]["matched"] == 1 and summary["lines"]["missing_ours"] == 1
    assert report.read_text().splitlines() == [
        "reference,account_no,outcome,amount_yuan_ours,amount_yuan_theirs,confirmed_by",
        "R1,0000000001,matched,10.00,10.00,",
        "R9,0000000002,missing_ours,,9.90,",
    ]
    code, out, err = cli(
        app.store, monkeypatch, capsys, *now, "reconcile", "confirm", "ICBC", "R9", "--by", "li"
    )
    assert code == 0, err
    assert balance_fen(app.store, 2) == 990
    code, _, err = cli(
        app.store, monkeypatch, capsys, *now, "reconcile", "report", "ICBC", str(report)
    )
    assert code == 0, err
    assert "R9,0000000002,missing_ours,,9.90,li" in report.read_text()
