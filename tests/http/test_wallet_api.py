"""Paying online over HTTP: the pay form, the order page, the wallet's callback and its refusals.

Every refused callback must leave the ledger, the meter commands and the messages exactly as
they were, on both engines; a good one credits exactly once however often it comes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import text

from gridpay import bootstrap
from gridpay.adapters.wallet_rsa2 import signed
from gridpay.domain.money import format_fen
from gridpay.domain.wallet import TradeStatus
from gridpay.entrypoints.http import pay as pay_http
from gridpay.entrypoints.http.pay import CSRF_COOKIE, check_csrf, signed_in_account
from gridpay.services.wallet import accept_callback, accept_many, make_order, query_open_orders
from gridpay.services.workers import WALLET_JOB, Workers
from tests.fakes import FakeSmsGateway
from tests.helpers_accounts import add_accounts, balance_fen, cli
from tests.http.wallet_helpers import (
    APP_ID,
    FakeWallet,
    Keys,
    ledger_snapshot,
    notification,
    order_rows,
    wallet_keys,  # noqa: F401  (the ``keys`` fixture)
)

ME, OTHER = 101, 102


@pytest.fixture
def wallet(keys: Keys) -> Iterator[FakeWallet]:
    w = FakeWallet(keys)
    yield w
    w.close()


@pytest.fixture
def paying(built: bootstrap.App, web_app: FastAPI, wallet: FakeWallet) -> bootstrap.App:
    """Two prepaid households; the app signed in as the first, with the test wallet."""
    built.settings = replace(built.settings, wallet_app_id=APP_ID)
    add_accounts(built.store, [ME, OTHER])
    web_app.state.wallet = wallet
    web_app.dependency_overrides[signed_in_account] = lambda: f"{ME:010d}"
    return built


@pytest.fixture
def no_csrf(web_app: FastAPI) -> None:
    web_app.dependency_overrides[check_csrf] = lambda: None


def _order(paying: bootstrap.App, wallet: FakeWallet, yuan: str = "50.00", account: int = ME):
    made = make_order(paying.store, paying.clock, paying.settings, wallet, f"{account:010d}", yuan)
    return wallet.made[made.order_id]


# --- the household's side ---------------------------------------------------------------


def test_the_pay_form_needs_a_signed_in_household(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        response = client.get("/pay")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_signed_in"


def test_pay_with_the_forms_token_makes_an_order_and_goes_to_the_wallet(
    paying: bootstrap.App, client: TestClient, wallet: FakeWallet
) -> None:
    form = client.get("/pay")
    assert form.status_code == 200
    token = client.cookies[CSRF_COOKIE]
    assert f'value="{token}"' in form.text
    assert "httponly" in form.headers["set-cookie"].lower()
    response = client.post(
        "/pay", data={"amount_yuan": "88.50", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    (order,) = wallet.made.values()
    assert response.headers["location"] == f"/pay/orders/{order.order_id}/wallet"
    handoff = client.get(response.headers["location"])
    pay_url = f"http://wallet.test/pay/T{order.order_id}"
    assert f'content="0;url={pay_url}"' in handoff.text and f'href="{pay_url}"' in handoff.text
    assert (order.account_id, order.amount_fen) == (ME, 8850)
    assert order_rows(paying.store) == [(order.order_id, "created")]


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_pay_without_the_forms_token_is_refused_and_writes_nothing(
    paying: bootstrap.App, client: TestClient, wallet: FakeWallet, token: str | None
) -> None:
    client.get("/pay")
    data = {"amount_yuan": "10"} | ({"csrf_token": token} if token is not None else {})
    response = client.post("/pay", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert order_rows(paying.store) == [] and wallet.made == {}


@pytest.mark.parametrize("amount", ["0", "-5", "12.345", "ten", "99999999"])
def test_pay_with_a_bad_amount_is_refused_with_a_reason(
    paying: bootstrap.App, client: TestClient, no_csrf: None, amount: str
) -> None:
    response = client.post("/pay", data={"amount_yuan": amount}, follow_redirects=False)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert order_rows(paying.store) == []


def test_the_order_page_shows_another_households_order_to_nobody(
    paying: bootstrap.App, client: TestClient, wallet: FakeWallet
) -> None:
    theirs = _order(paying, wallet, account=OTHER)
    mine = _order(paying, wallet)
    assert client.get(f"/pay/orders/{theirs.order_id}").status_code == 404
    assert client.get(f"/pay/orders/{theirs.order_id}/wallet").status_code == 404
    assert client.get("/pay/orders/GW0000").status_code == 404
    page = client.get(f"/pay/orders/{mine.order_id}")
    assert page.status_code == 200
    assert 'data-state="created"' in page.text and "¥50.00" in page.text


# --- the wallet's callback ----------------------------------------------------------------


def test_a_signed_callback_credits_once_and_a_wallet_resend_credits_nothing_more(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
) -> None:
    order = _order(paying, wallet, "50.00")
    first = notification(order, keys.wallet)
    response = client.post("/wallet/notify", data=first)
    assert (response.status_code, response.text) == (200, "success")
    assert balance_fen(paying.store, ME) == 5000
    after = ledger_snapshot(paying.store)
    # the wallet resends (our "success" was lost): a new notify id, the same trade
    resend = notification(order, keys.wallet)
    response = client.post("/wallet/notify", data=resend)
    assert (response.status_code, response.text) == (200, "success")
    assert ledger_snapshot(paying.store) == after
    assert order_rows(paying.store) == [(order.order_id, "credited")]
    with paying.store.reader() as uow:
        outcomes = [c.outcome for c in uow.wallet.callbacks(order.order_id)]
    assert outcomes == ["credited", "duplicate"]
    page = client.get(f"/pay/orders/{order.order_id}")
    assert 'data-state="credited"' in page.text and "¥50.00" in page.text


def _refusals(order, keys: Keys) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    good = notification(order, keys.wallet)
    tampered = dict(good, total_amount="5000.00")
    return {
        "unsigned": notification(order, None),
        "signed by a stranger": notification(order, keys.stranger),
        "signed by gridpay": notification(order, keys.gridpay),
        "sign_type missing": {k: v for k, v in good.items() if k != "sign_type"},
        "garbage signature": dict(good, sign="not base64 !"),
        "tampered amount": tampered,
        "tampered account": dict(good, passback_params=f"{OTHER:010d}"),
        "wrong amount": notification(order, keys.wallet, total_amount="0.01"),
        "unknown order": notification(order, keys.wallet, out_trade_no="GW" + "0" * 24),
        "other account": notification(order, keys.wallet, account_no=f"{OTHER:010d}"),
        "wrong app id": notification(order, keys.wallet, app_id="2026999999999999"),
        "not paid": notification(order, keys.wallet, trade_status="WAIT_BUYER_PAY"),
        "malformed amount": notification(order, keys.wallet, total_amount="50"),
    }


REFUSED = {
    "unsigned": (401, "unsigned"),
    "signed by a stranger": (401, "bad_signature"),
    "signed by gridpay": (401, "bad_signature"),
    "sign_type missing": (401, "unsigned"),
    "garbage signature": (401, "bad_signature"),
    "tampered amount": (401, "bad_signature"),
    "tampered account": (401, "bad_signature"),
    "wrong amount": (409, "wrong_amount"),
    "unknown order": (404, "unknown_order"),
    "other account": (403, "wrong_account"),
    "wrong app id": (403, "wrong_app_id"),
    "not paid": (409, "not_paid"),
    "malformed amount": (422, "malformed"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_callback_is_refused_recorded_and_credits_nothing(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    order = _order(paying, wallet)
    before = ledger_snapshot(paying.store)
    params = _refusals(order, keys)[case]
    with caplog.at_level("WARNING", logger="gridpay.wallet"):
        response = client.post("/wallet/notify", data=params)
    status, refusal = REFUSED[case]
    assert (response.status_code, response.text) == (status, "failure")
    assert response.headers["x-gridpay-refusal"] == refusal
    assert ledger_snapshot(paying.store) == before
    assert order_rows(paying.store) == [(order.order_id, "created")]
    with paying.store.reader() as uow:
        (record,) = uow.wallet.callbacks()
    assert record.outcome == refusal
    assert any(refusal in r.getMessage() for r in caplog.records)


def test_a_resent_notification_of_a_credited_order_is_answered_success_and_credits_nothing(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The wallet resends a notification until it reads "success" (Alipay: 8 times over 25
    hours): a lost answer must not leave it resending for a day, nor credit twice."""
    order = _order(paying, wallet)
    callback = notification(order, keys.wallet)
    assert client.post("/wallet/notify", data=callback).text == "success"
    after = ledger_snapshot(paying.store)
    for _ in range(8):
        resent = client.post("/wallet/notify", data=callback)
        assert (resent.status_code, resent.text) == (200, "success")
        assert "x-gridpay-refusal" not in resent.headers
    assert ledger_snapshot(paying.store) == after  # one transfer, no command or message more
    assert after[:2] == (1, 5000) and balance_fen(paying.store, ME) == 5000
    assert order_rows(paying.store) == [(order.order_id, "credited")]
    with paying.store.reader() as uow:
        records = uow.wallet.callbacks(order.order_id)
    assert [r.outcome for r in records] == ["credited"] + ["duplicate"] * 8
    assert {r.notify_id for r in records} == {callback["notify_id"]}
    assert "gridpay_wallet_callbacks_refused_total{" not in client.get("/metrics").text
    args = ("wallet", "callbacks", "--refused", "--json")
    code, out, _ = cli(paying.store, monkeypatch, capsys, *args)
    assert code == 0 and json.loads(out) == []  # nothing for staff to look at


def test_a_resent_notification_with_a_changed_amount_is_still_refused(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
) -> None:
    order = _order(paying, wallet, "50.00")
    callback = notification(order, keys.wallet)
    assert client.post("/wallet/notify", data=callback).text == "success"
    after = ledger_snapshot(paying.store)
    unsigned = {k: v for k, v in callback.items() if k not in ("sign", "sign_type")}
    resigned = signed(dict(unsigned, total_amount="500.00"), keys.wallet)  # the wallet's key
    tampered = dict(callback, total_amount="500.00")  # the signature no longer covers it
    other_account = signed(dict(unsigned, passback_params=f"{OTHER:010d}"), keys.wallet)
    for params, status, refusal in (
        (resigned, 409, "wrong_amount"),
        (tampered, 401, "bad_signature"),
        (other_account, 403, "wrong_account"),
        (unsigned, 401, "unsigned"),
    ):
        response = client.post("/wallet/notify", data=params)
        assert (response.status_code, response.text) == (status, "failure")
        assert response.headers["x-gridpay-refusal"] == refusal
    assert ledger_snapshot(paying.store) == after
    assert (balance_fen(paying.store, ME), balance_fen(paying.store, OTHER)) == (5000, 0)
    with paying.store.reader() as uow:
        outcomes = [r.outcome for r in uow.wallet.callbacks(order.order_id)]
    assert outcomes == ["credited", "wrong_amount", "bad_signature", "wrong_account", "unsigned"]


def test_a_callback_of_another_households_order_with_its_own_account_cannot_pay_mine(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
) -> None:
    theirs = _order(paying, wallet, "30.00", account=OTHER)
    response = client.post("/wallet/notify", data=notification(theirs, keys.wallet))
    assert response.text == "success"
    assert (balance_fen(paying.store, ME), balance_fen(paying.store, OTHER)) == (0, 3000)


def test_concurrent_duplicate_callbacks_credit_once(
    paying: bootstrap.App,
    wallet: FakeWallet,
    keys: Keys,
) -> None:
    order = _order(paying, wallet, "20.00")
    callbacks = [notification(order, keys.wallet) for _ in range(4)]
    callbacks += [dict(callbacks[0]) for _ in range(4)]  # and the very same one, resent
    barrier = threading.Barrier(len(callbacks))
    outcomes: list[str] = []

    def post(params: dict[str, str]) -> None:
        barrier.wait()
        outcome = accept_callback(
            paying.store, paying.clock, paying.settings, wallet, paying.credit, params
        )
        outcomes.append(outcome.outcome)

    threads = [threading.Thread(target=post, args=(c,)) for c in callbacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("credited") == 1, outcomes
    assert set(outcomes) <= {"credited", "duplicate"}
    assert balance_fen(paying.store, ME) == 2000
    assert ledger_snapshot(paying.store)[0] == 1


# --- the query fallback -------------------------------------------------------------------


def test_the_query_fallback_credits_a_paid_order_whose_callback_never_came(
    paying: bootstrap.App, wallet: FakeWallet
) -> None:
    paid = _order(paying, wallet, "40.00")
    waiting = _order(paying, wallet, "41.00")
    lost = _order(paying, wallet, "42.00")
    wallet.statuses[paid.order_id] = TradeStatus(
        paid.order_id, "TRADE_SUCCESS", "T1", 4000, f"{ME:010d}"
    )
    wallet.statuses[waiting.order_id] = TradeStatus(waiting.order_id, "WAIT_BUYER_PAY")
    fresh = query_open_orders(paying.store, paying.clock, paying.settings, wallet, paying.credit)
    assert fresh.asked == 0  # too young to ask about: the callback may still come
    paying.clock.advance(seconds=paying.settings.wallet_query_after_s + 1)
    workers = Workers(
        paying.store,
        paying.clock,
        paying.credit,
        None,  # type: ignore[arg-type]  # only the wallet's job runs
        FakeSmsGateway(),
        timing=_OnlyWallet(),
        wallet=wallet,
    )
    tick = workers.tick()
    assert tick.ran == ["wallet"] and tick.wallet is not None
    report = tick.wallet
    assert (report.asked, report.credited, report.closed, report.still_open) == (3, 1, 1, 1)
    assert balance_fen(paying.store, ME) == 4000
    assert dict(order_rows(paying.store)) == {
        paid.order_id: "credited",
        waiting.order_id: "created",
        lost.order_id: "closed",
    }
    # asked again, the paid order is not credited twice
    assert (
        query_open_orders(
            paying.store, paying.clock, paying.settings, wallet, paying.credit
        ).credited
        == 0
    )
    paying.clock.advance(seconds=paying.settings.wallet_order_expire_s)
    late = query_open_orders(paying.store, paying.clock, paying.settings, wallet, paying.credit)
    assert late.closed == 1 and dict(order_rows(paying.store))[waiting.order_id] == "closed"


def test_a_payment_after_the_order_was_closed_is_still_credited(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
) -> None:
    order = _order(paying, wallet, "15.00")
    paying.clock.advance(seconds=paying.settings.wallet_order_expire_s + 1)
    query_open_orders(paying.store, paying.clock, paying.settings, wallet, paying.credit)
    assert order_rows(paying.store) == [(order.order_id, "closed")]
    assert client.post("/wallet/notify", data=notification(order, keys.wallet)).text == "success"
    assert balance_fen(paying.store, ME) == 1500
    assert order_rows(paying.store) == [(order.order_id, "credited")]


def test_a_wallet_that_cannot_be_asked_leaves_the_order_open(
    paying: bootstrap.App, wallet: FakeWallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridpay.errors import DeliveryFailed

    order = _order(paying, wallet)

    def down(order_id: str) -> TradeStatus:
        raise DeliveryFailed("connection refused")

    monkeypatch.setattr(wallet, "query_order", down)
    paying.clock.advance(seconds=paying.settings.wallet_query_after_s + 1)
    report = query_open_orders(paying.store, paying.clock, paying.settings, wallet, paying.credit)
    assert (report.asked, report.unanswered) == (1, 1)
    assert order_rows(paying.store) == [(order.order_id, "created")]


class _OnlyWallet:
    def due(self, job: str, now: dt.datetime) -> bool:
        return job == WALLET_JOB


def test_refused_callbacks_are_counted_by_reason_and_listed_by_the_cli(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    order = _order(paying, wallet)
    refusals = _refusals(order, keys)
    for case in ("unsigned", "sign_type missing", "wrong amount"):
        assert client.post("/wallet/notify", data=refusals[case]).text == "failure"
    good = notification(order, keys.wallet)
    assert client.post("/wallet/notify", data=good).text == "success"
    metrics = client.get("/metrics").text
    assert 'gridpay_wallet_callbacks_refused_total{reason="unsigned"} 2.0' in metrics
    assert 'gridpay_wallet_callbacks_refused_total{reason="wrong_amount"} 1.0' in metrics
    assert 'reason="bad_signature"' not in metrics  # only reasons that happened

    code, out, _ = cli(paying.store, monkeypatch, capsys, "wallet", "callbacks", "--json")
    assert code == 0
    assert [c["outcome"] for c in json.loads(out)] == [
        "credited",
        "wrong_amount",
        "unsigned",
        "unsigned",
    ]
    args = ("wallet", "callbacks", "--refused", "--json")
    code, out, _ = cli(paying.store, monkeypatch, capsys, *args)
    listed = json.loads(out)
    assert code == 0 and [c["outcome"] for c in listed] == ["wrong_amount", "unsigned", "unsigned"]
    assert listed[0]["order_id"] == order.order_id and "amount" in listed[0]["detail"]
    today = paying.clock.today()
    for since, count in ((today, 3), (today + dt.timedelta(days=1), 0)):
        code, out, _ = cli(paying.store, monkeypatch, capsys, *args, "--since", since.isoformat())
        assert code == 0 and len(json.loads(out)) == count
    code, out, _ = cli(paying.store, monkeypatch, capsys, "wallet", "callbacks", "--refused")
    assert code == 0 and "3 refused wallet callbacks" in out and "wrong_amount" in out


def test_a_batch_of_callbacks_credits_each_good_one_once_and_records_each_bad_one(
    paying: bootstrap.App, wallet: FakeWallet, keys: Keys
) -> None:
    mine, other = _order(paying, wallet, "30.00"), _order(paying, wallet, "12.00", account=OTHER)
    first = notification(mine, keys.wallet)
    batch = [
        first,
        dict(first),  # the very same one again, in the same batch
        notification(mine, keys.wallet, total_amount="0.01"),  # wrong amount
        notification(other, keys.stranger),  # not the wallet's signature
        notification(mine, keys.wallet),  # a second notification of a credited order
        notification(other, keys.wallet),
    ]
    outcomes = accept_many(
        paying.store, paying.clock, paying.settings, wallet, paying.credit, batch
    )
    assert [o.outcome for o in outcomes if not isinstance(o, Exception)] == [
        "credited",
        "duplicate",  # the same one resent: answered success
        "wrong_amount",
        "bad_signature",
        "duplicate",
        "credited",
    ]
    assert [balance_fen(paying.store, a) for a in (ME, OTHER)] == [3_000, 1_200]
    assert ledger_snapshot(paying.store)[0] == 2  # two payment transfers, once each
    assert sorted(order_rows(paying.store)) == sorted(
        [(mine.order_id, "credited"), (other.order_id, "credited")]
    )
    with paying.store.reader() as uow:
        assert len(uow.wallet.callbacks()) == 6  # every callback recorded with its outcome


def test_callbacks_arriving_together_at_start_up_build_one_wallet(
    built: bootstrap.App, web_app: FastAPI, wallet: FakeWallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first callbacks of a fresh server share the wallet the first of them builds (eight
    builds at once, each loading keys, were the slow first answers of every connection)."""
    builds: list[int] = []

    def slow_build(settings: object) -> FakeWallet:
        builds.append(1)
        time.sleep(0.05)  # reading and parsing the keys
        return wallet

    monkeypatch.setattr(pay_http.bootstrap, "payment_provider", slow_build)

    async def eight_at_once() -> list[int]:
        transport = httpx.ASGITransport(app=web_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(
                *(client.post("/wallet/notify", data={"notify_id": str(i)}) for i in range(8))
            )
        writers = asyncio.all_tasks() - {asyncio.current_task()}  # the group commit's writer
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        return [a.status_code for a in answers]

    # On a thread of its own: its own event loop, whatever loop the test's thread runs.
    statuses: list[list[int]] = []
    runner = threading.Thread(target=lambda: statuses.append(asyncio.run(eight_at_once())))
    runner.start()
    runner.join()
    assert statuses == [[401] * 8]  # unsigned: refused, after the wallet was found
    assert len(builds) == 1


_KINDS = ("resent", "another", "changed_amount", "tampered")


@hyp_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amounts_fen=st.lists(st.integers(1, 500_000), min_size=1, max_size=3),
    events=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(_KINDS)), max_size=10),
    batch_sizes=st.lists(st.integers(1, 4), min_size=1, max_size=12),
)
def test_any_mix_of_resent_and_altered_notifications_credits_each_paid_order_once(
    paying: bootstrap.App,
    wallet: FakeWallet,
    keys: Keys,
    amounts_fen: list[int],
    events: list[tuple[int, str]],
    batch_sizes: list[int],
) -> None:
    """Whatever the wallet resends, in whatever batches the callbacks meet: one credit per
    order that was notified, of its amount; every genuine notification answered success; every
    altered one refused."""
    orders = [_order(paying, wallet, format_fen(a)) for a in amounts_fen]
    firsts = [notification(o, keys.wallet) for o in orders]
    callbacks: list[tuple[dict[str, str], bool]] = []
    for index, kind in events:
        order, first = orders[index % len(orders)], firsts[index % len(orders)]
        body = {k: v for k, v in first.items() if k not in ("sign", "sign_type")}
        other_amount = format_fen(order.amount_fen + 1)
        params = {
            "resent": first,
            "another": notification(order, keys.wallet),
            "changed_amount": signed(dict(body, total_amount=other_amount), keys.wallet),
            "tampered": dict(first, total_amount=other_amount),
        }[kind]
        callbacks.append((params, kind in ("resent", "another")))
    transfers_before, total_before, *_ = ledger_snapshot(paying.store)
    balance_before = balance_fen(paying.store, ME)
    outcomes: list[object] = []
    sizes = itertools.cycle(batch_sizes)
    while len(outcomes) < len(callbacks):
        batch = [p for p, _ in callbacks[len(outcomes) : len(outcomes) + next(sizes)]]
        outcomes += accept_many(
            paying.store, paying.clock, paying.settings, wallet, paying.credit, batch
        )
    for (_, genuine), outcome in zip(callbacks, outcomes, strict=True):
        assert not isinstance(outcome, Exception), outcome
        assert outcome.accepted is genuine, outcome  # type: ignore[attr-defined]
    notified = {id(orders[i % len(orders)]) for i, k in events if k in ("resent", "another")}
    paid_fen = sum(o.amount_fen for o in orders if id(o) in notified)
    transfers, total, *_ = ledger_snapshot(paying.store)
    assert (transfers - transfers_before, total - total_before) == (len(notified), paid_fen)
    assert balance_fen(paying.store, ME) - balance_before == paid_fen
    states = dict(order_rows(paying.store))
    for order in orders:
        assert states[order.order_id] == ("credited" if id(order) in notified else "created")


@pytest.mark.parametrize("in_a_batch", [False, True], ids=["alone", "in a batch"])
def test_a_payment_the_account_refuses_fails_its_order_credits_nothing_and_stops_the_wallet(
    paying: bootstrap.App,
    client: TestClient,
    wallet: FakeWallet,
    keys: Keys,
    in_a_batch: bool,
) -> None:
    """Paid at the wallet, but the account left prepaid meanwhile: nothing of the attempted
    credit stays (its claim of the order included), the order is failed for staff to refund,
    and the wallet is answered success, resends included."""
    order = _order(paying, wallet, "25.00")
    theirs = _order(paying, wallet, "12.00", account=OTHER)
    with paying.store.engine.begin() as conn:
        conn.execute(
            text("update accounts set billing_mode = 'postpaid' where id = :id"), {"id": ME}
        )
    before = ledger_snapshot(paying.store)
    mine = notification(order, keys.wallet)
    if in_a_batch:
        batch = [mine, notification(theirs, keys.wallet), dict(mine)]
        outcomes = accept_many(
            paying.store, paying.clock, paying.settings, wallet, paying.credit, batch
        )
        assert [(o.accepted, o.outcome) for o in outcomes] == [  # type: ignore[union-attr]
            (True, "failed"),
            (True, "credited"),
            (True, "failed"),
        ]
        assert ledger_snapshot(paying.store)[:2] == (before[0] + 1, before[1] + 1200)
    else:
        for _ in range(2):
            response = client.post("/wallet/notify", data=mine)
            assert (response.status_code, response.text) == (200, "success")
        assert ledger_snapshot(paying.store) == before
    assert balance_fen(paying.store, ME) == 0
    assert dict(order_rows(paying.store))[order.order_id] == "failed"
    with paying.store.reader() as uow:
        assert [r.outcome for r in uow.wallet.callbacks(order.order_id)] == ["failed", "failed"]
