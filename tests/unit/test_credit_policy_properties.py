"""Properties of the credit policy over random batches of accounts (Hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gridpay.domain.credit_policy import (
    INPUT_SCHEMA,
    STATE_SCHEMA,
    AccountCreditState,
    Context,
    CreditPolicy,
    CreditState,
)
from gridpay.domain.credit_rules import evaluate, restore_one

NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 2)
STATES = [None, "normal", "warned", "arrears", "disconnecting", "disconnected", "reconnecting"]

policies = st.builds(
    CreditPolicy,
    code=st.just("p"),
    name=st.just("p"),
    effective_from=st.just(dt.date(2026, 1, 1)),
    warn_days_of_credit=st.integers(1, 10),
    notice_days=st.integers(1, 7),
    notice_delivery_task_hours=st.integers(1, 72),
    second_notice_minutes=st.integers(0, 120),
    emergency_credit_fen=st.integers(0, 2_000),
)


@st.composite
def accounts(draw: st.DrawFn, account_id: int) -> dict[str, Any]:
    state = draw(st.sampled_from(STATES))
    noticed = state not in (None, "normal", "warned", "reconnecting")
    return {
        "account_id": account_id,
        "meter_id": draw(st.one_of(st.none(), st.just(100_000_000_000 + account_id))),
        "has_switch": draw(st.booleans()),
        "balance_fen": draw(st.integers(-20_000, 20_000)),
        "window_charge_fen": draw(st.one_of(st.none(), st.integers(0, 30_000))),
        "window_days": draw(st.one_of(st.none(), st.integers(0, 30))),
        "state": state,
        "cycle": draw(st.one_of(st.none(), st.integers(0, 50))),
        "warned_at": None,
        "notice_at": NOW - dt.timedelta(days=draw(st.integers(0, 10))) if noticed else None,
        # An arrears notice resting on estimates keeps no pay-by date.
        "pay_by": (
            draw(st.one_of(st.none(), st.integers(-5, 5).map(lambda d: TODAY + dt.timedelta(d))))
            if state == "arrears"
            else TODAY + dt.timedelta(days=draw(st.integers(-5, 5)))
            if noticed
            else None
        ),
        "second_notice_at": (
            draw(
                st.one_of(
                    st.none(), st.integers(0, 300).map(lambda m: NOW - dt.timedelta(minutes=m))
                )
            )
            if noticed
            else None
        ),
        "supply": draw(st.sampled_from([None, "on", "off"])),
        "protected": draw(st.sampled_from([None, None, "medical", "elderly_alone"])),
        "estimated_recent": draw(st.booleans()),
        # The notice's delivery receipt: none yet, or stamped by the provider's clock, which
        # may put it before the notice's sending.
        "notice_delivered_at": (
            draw(
                st.one_of(
                    st.none(),
                    st.integers(0, 240).map(lambda h: NOW - dt.timedelta(days=10, hours=-h)),
                )
            )
            if noticed
            else None
        ),
    }


@st.composite
def batches(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 25))
    rows = [draw(accounts(i + 1)) for i in range(n)]
    return pl.DataFrame(rows, schema=INPUT_SCHEMA)


contexts = st.builds(
    Context,
    now=st.just(NOW),
    today=st.just(TODAY),
    cut_allowed_now=st.booleans(),
    cut_hold_code=st.just("night"),
    cut_hold_reason=st.just("not cut at night"),
    cut_allowed_after_notice=st.booleans(),
    paid_fen=st.one_of(st.none(), st.integers(1, 50_000)),
    cuts=st.booleans(),
)


def _by_id(frame: pl.DataFrame) -> dict[int, dict[str, Any]]:
    return {r["account_id"]: r for r in frame.iter_rows(named=True)}


@settings(max_examples=75, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_a_cut_is_queued_only_when_every_rule_allows_it(batch, policy, ctx):
    ev = evaluate(batch, policy, ctx)
    rows = _by_id(batch)
    for cut in ev.commands.filter(pl.col("action") == "disconnect").iter_rows(named=True):
        a = rows[cut["account_id"]]
        assert ctx.cuts and ctx.cut_allowed_now
        assert a["state"] == "arrears"
        assert a["pay_by"] < ctx.today  # never on or before the pay-by date
        assert a["notice_at"] <= ctx.now - dt.timedelta(days=policy.notice_days)
        # never without a delivered notice, the full notice period before
        assert a["notice_delivered_at"] is not None
        assert a["notice_delivered_at"] <= ctx.now - dt.timedelta(days=policy.notice_days)
        assert a["protected"] is None
        assert not a["estimated_recent"]
        assert a["has_switch"] and a["meter_id"] is not None
        assert a["second_notice_at"] <= ctx.now - dt.timedelta(minutes=policy.second_notice_minutes)
        assert a["balance_fen"] <= policy.arrears_balance_fen_max - policy.emergency_credit_fen


@settings(max_examples=75, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_an_account_in_credit_is_never_cut_and_a_cut_one_in_credit_is_always_reconnected(
    batch, policy, ctx
):
    ev = evaluate(batch, policy, ctx)
    commands = {(c["account_id"], c["action"]) for c in ev.commands.iter_rows(named=True)}
    for a in batch.iter_rows(named=True):
        in_credit = a["balance_fen"] >= policy.restore_balance_fen_min
        if in_credit:
            assert (a["account_id"], "disconnect") not in commands
        cut = a["state"] in ("disconnecting", "disconnected")
        if in_credit and cut and a["meter_id"] is not None:
            assert (a["account_id"], "reconnect") in commands
        assert not {(a["account_id"], "disconnect"), (a["account_id"], "reconnect")} <= commands


@settings(max_examples=75, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_judging_again_at_the_same_moment_sends_nothing_new(batch, policy, ctx):
    first = evaluate(batch, policy, ctx)
    updated = batch.update(
        first.states.drop("updated_at").cast(
            {k: v for k, v in STATE_SCHEMA.items() if k != "updated_at"}
        ),
        on="account_id",
        include_nulls=True,
    )
    second = evaluate(updated, policy, ctx)
    sent = set(zip(first.messages["account_id"], first.messages["kind"], strict=True))
    queued = set(first.commands["correlation_id"])
    again = set(zip(second.messages["account_id"], second.messages["kind"], strict=True))
    assert not (sent & again)
    assert not (queued & set(second.commands["correlation_id"]))
    # A held cut is re-judged each time but stored once a day (its key names the day).
    repeated = set(first.decisions["key"]) & set(second.decisions["key"])
    assert all(key.startswith("hold/") for key in repeated)


@settings(max_examples=75, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_a_notice_on_estimates_threatens_no_cut_and_none_follows_it(batch, policy, ctx):
    ev = evaluate(batch, policy, ctx)
    rows, states = _by_id(batch), _by_id(ev.states)
    for m in ev.messages.iter_rows(named=True):
        a = rows[m["account_id"]]
        if m["kind"] == "arrears":  # the notice that names a cut: on real readings only
            assert not a["estimated_recent"]
            assert states[a["account_id"]]["pay_by"] == TODAY + dt.timedelta(policy.notice_days)
        if m["kind"] == "arrears_estimated":
            assert a["estimated_recent"] and a["state"] in (None, "normal", "warned")
            assert m["pay_by"] is None and states[a["account_id"]]["pay_by"] is None
    unread = {
        a["account_id"]
        for a in rows.values()
        if a["state"] == "arrears" and a["pay_by"] is None and a["estimated_recent"]
    }
    announced = ev.messages.filter(pl.col("kind").is_in(["arrears", "cut_soon"]))
    assert not unread & set(announced["account_id"])
    assert not unread & set(ev.commands.filter(pl.col("action") == "disconnect")["account_id"])


@settings(max_examples=75, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_a_task_is_closed_only_when_its_cause_went_away(batch, policy, ctx):
    ev = evaluate(batch, policy, ctx)
    rows = _by_id(batch)
    for c in ev.closings.iter_rows(named=True):
        a = rows[c["account_id"]]
        debt_ended = a["state"] in ("arrears", "disconnecting", "disconnected") and (
            a["balance_fen"] >= policy.restore_balance_fen_min
        )
        meter_read = c["kind"] == "estimated" and not a["estimated_recent"]
        notice_delivered = (
            c["kind"] == "undelivered_notice" and a["notice_delivered_at"] is not None
        )
        assert debt_ended or meter_read or notice_delivered
        assert c["close_code"] in ("trued_up", "delivered") or debt_ended
        assert c["closed_at"] == ctx.now and c["close_reason"]
    # a task raised now is never closed by the same judgement
    raised = set(zip(ev.tasks["account_id"], ev.tasks["kind"], strict=True))
    assert not raised & set(zip(ev.closings["account_id"], ev.closings["kind"], strict=True))


@settings(max_examples=50, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_every_key_is_unique_within_a_judgement(batch, policy, ctx):
    ev = evaluate(batch, policy, ctx)
    assert ev.decisions["key"].is_unique().all()
    assert ev.commands["correlation_id"].is_unique().all()
    assert ev.tasks["key"].is_unique().all()
    assert ev.states["account_id"].is_unique().all()


@settings(max_examples=150, deadline=None)
@given(
    account=accounts(1),
    policy=policies,
    paid_fen=st.one_of(st.none(), st.integers(1, 50_000)),
    state=st.sampled_from(["arrears", "disconnecting", "disconnected"]),
    cycle=st.integers(0, 50),
)
def test_a_payments_own_judgement_agrees_with_the_batch_rules(
    account, policy, paid_fen, state, cycle
):
    """``restore_one`` (plain Python, for a payment) and ``evaluate`` (the batch) decide the
    same for every account a payment restores."""
    account.update(state=state, cycle=cycle, supply=account["supply"] or "on")
    account["balance_fen"] = max(account["balance_fen"], policy.restore_balance_fen_min)
    ctx = Context(
        now=NOW,
        today=TODAY,
        cut_allowed_now=True,
        cut_hold_code="allowed",
        cut_hold_reason="",
        paid_fen=paid_fen,
        cuts=False,
    )
    batch = evaluate(pl.DataFrame([account], schema=INPUT_SCHEMA), policy, ctx)
    current = AccountCreditState(
        account_id=account["account_id"],
        state=CreditState(state),
        cycle=cycle,
        warned_at=account["warned_at"],
        notice_at=account["notice_at"],
        pay_by=account["pay_by"],
        second_notice_at=account["second_notice_at"],
        supply=account["supply"],
        updated_at=NOW,
    )
    one = restore_one(
        current,
        account["balance_fen"],
        account["meter_id"],
        policy,
        ctx,
        estimated_recent=account["estimated_recent"],
    )
    assert_frame_equal(one.states, batch.states)
    assert_frame_equal(one.messages, batch.messages)
    assert_frame_equal(one.commands, batch.commands)
    assert_frame_equal(one.decisions, batch.decisions)
    assert one.cancel_cuts.to_list() == batch.cancel_cuts.to_list()
    assert one.tasks.height == batch.tasks.height == 0
    assert_frame_equal(one.closings, batch.closings)


@settings(max_examples=75, deadline=None)
@given(batch=batches(), policy=policies, ctx=contexts)
def test_an_undelivered_notice_long_unanswered_becomes_one_call_task_and_no_cut(batch, policy, ctx):
    ev = evaluate(batch, policy, ctx)
    calls = {
        t["account_id"] for t in ev.tasks.iter_rows(named=True) if t["kind"] == "undelivered_notice"
    }
    late = ctx.now - dt.timedelta(hours=policy.notice_delivery_task_hours)
    for a in batch.iter_rows(named=True):
        restored = a["state"] in ("arrears", "disconnecting", "disconnected") and (
            a["balance_fen"] >= policy.restore_balance_fen_min
        )
        expected = (
            a["state"] == "arrears"
            and a["pay_by"] is not None
            and a["notice_delivered_at"] is None
            and a["notice_at"] <= late
            and not restored
        )
        assert (a["account_id"] in calls) == expected, a
        if a["notice_delivered_at"] is None:
            assert a["account_id"] not in set(
                ev.commands.filter(pl.col("action") == "disconnect")["account_id"].to_list()
            )
