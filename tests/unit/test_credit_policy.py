"""The credit policy's rules, one account at a time (the batch kernel over one-row frames)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from gridpay.adapters.policy_files import load_policy_text, shipped_policies
from gridpay.domain.calendar import RULE_SETS
from gridpay.domain.credit_policy import (
    INPUT_SCHEMA,
    Context,
    CreditPolicy,
    Evaluation,
    parse_policy,
)
from gridpay.domain.credit_rules import evaluate
from gridpay.errors import InvalidInput

POLICY = CreditPolicy(code="test", name="test", effective_from=dt.date(2026, 1, 1))
NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
TODAY = dt.date(2026, 12, 2)


def account(**values: Any) -> dict[str, Any]:
    """A prepaid account with 30 days averaging 3.00 yuan a day and 200.00 yuan of credit."""
    row: dict[str, Any] = {
        "account_id": 7,
        "meter_id": 100_000_000_007,
        "has_switch": True,
        "balance_fen": 20_000,
        "window_charge_fen": 9_000,
        "window_days": 30,
        "state": None,
        "cycle": None,
        "warned_at": None,
        "notice_at": None,
        "pay_by": None,
        "second_notice_at": None,
        "supply": None,
        "protected": None,
        "estimated_recent": False,
        "notice_delivered_at": None,
    }
    row.update(values)
    return row


def in_arrears(**values: Any) -> dict[str, Any]:
    """In arrears since a notice four days ago: the pay-by date was yesterday."""
    row = account(
        balance_fen=-250,
        state="arrears",
        cycle=2,
        notice_at=NOW - dt.timedelta(days=4),
        pay_by=TODAY - dt.timedelta(days=1),
        notice_delivered_at=NOW - dt.timedelta(days=4),
    )
    row.update(values)
    return row


def ctx(**values: Any) -> Context:
    base: dict[str, Any] = {
        "now": NOW,
        "today": TODAY,
        "cut_allowed_now": True,
        "cut_hold_code": "allowed",
        "cut_hold_reason": "",
    }
    base.update(values)
    return Context(**base)


def run(
    row: dict[str, Any], context: Context | None = None, policy: CreditPolicy = POLICY
) -> Evaluation:
    return evaluate(pl.DataFrame([row], schema=INPUT_SCHEMA), policy, context or ctx())


def actions(ev: Evaluation) -> list[str]:
    return sorted(ev.decisions["action"].to_list())


def kinds(ev: Evaluation) -> list[str]:
    return sorted(ev.messages["kind"].to_list())


# --- warning (SMS 2) ------------------------------------------------------------------------


def test_warning_when_the_balance_covers_fewer_than_five_days_of_average_charge():
    ev = run(account(balance_fen=1_499))  # 3.00 yuan a day: 15.00 is five days
    assert kinds(ev) == ["warning"]
    assert ev.states["state"].to_list() == ["warned"]
    assert ev.states["warned_at"].to_list() == [NOW]


def test_no_warning_when_the_balance_covers_five_days_exactly():
    ev = run(account(balance_fen=1_500))
    assert ev.messages.height == 0
    assert ev.states.height == 0


def test_an_account_without_enough_history_is_judged_by_the_policys_default_charge():
    # default 3.00 yuan a day over 5 days = 15.00; two days of history do not count yet
    ev = run(account(balance_fen=1_400, window_charge_fen=20, window_days=2))
    assert kinds(ev) == ["warning"]
    ev = run(account(balance_fen=1_600, window_charge_fen=20, window_days=2))
    assert kinds(ev) == []


def test_a_warned_account_is_not_warned_again_in_the_same_cycle():
    ev = run(account(balance_fen=1_000, state="warned", cycle=4, warned_at=NOW))
    assert ev.messages.height == 0
    assert ev.states.height == 0


def test_climbing_back_above_the_warning_line_starts_a_new_cycle():
    ev = run(account(balance_fen=5_000, state="warned", cycle=4, warned_at=NOW))
    assert actions(ev) == ["recover"]
    assert ev.states.select("state", "cycle", "warned_at").row(0) == ("normal", 5, None)


# --- arrears notice (SMS 3) -----------------------------------------------------------------


def test_arrears_notice_at_a_zero_balance_carries_the_pay_by_date():
    ev = run(account(balance_fen=0, state="warned", cycle=1))
    assert kinds(ev) == ["arrears"]
    assert ev.messages["pay_by"].to_list() == [TODAY + dt.timedelta(days=POLICY.notice_days)]
    state = ev.states.row(0, named=True)
    assert (state["state"], state["notice_at"]) == ("arrears", NOW)
    assert state["pay_by"] == dt.date(2026, 12, 5)


def test_one_fen_of_credit_is_a_warning_not_an_arrears_notice():
    assert kinds(run(account(balance_fen=1))) == ["warning"]


def test_a_protected_customers_trusted_contact_hears_of_the_arrears_too():
    ev = run(account(balance_fen=-10, protected="elderly_alone"))
    assert sorted(zip(ev.messages["kind"], ev.messages["to_trusted"], strict=True)) == [
        ("arrears", False),
        ("trusted_contact", True),
    ]


# --- the cut --------------------------------------------------------------------------------


def test_no_cut_on_the_pay_by_date_itself():
    ev = run(in_arrears(pay_by=TODAY))
    assert ev.commands.height == 0
    assert ev.decisions.height == 0


def test_after_the_pay_by_date_a_second_notice_comes_first():
    ev = run(in_arrears())
    assert kinds(ev) == ["cut_soon"]
    assert ev.commands.height == 0
    assert ev.messages["cut_at"].to_list() == [NOW + dt.timedelta(minutes=30)]
    assert ev.states["second_notice_at"].to_list() == [NOW]


def test_the_cut_follows_the_second_notice_once_its_wait_is_over():
    early = run(in_arrears(second_notice_at=NOW - dt.timedelta(minutes=29)))
    assert early.commands.height == 0
    ev = run(in_arrears(second_notice_at=NOW - dt.timedelta(minutes=30)))
    assert ev.commands.select("correlation_id", "action", "priority").row(0) == (
        "disconnect/0000000007/2",
        "disconnect",
        5,
    )
    assert ev.states["state"].to_list() == ["disconnecting"]
    assert actions(ev) == ["cut"]


def test_no_second_notice_when_the_cut_it_announces_would_fall_outside_the_window():
    ev = run(in_arrears(), ctx(cut_allowed_after_notice=False))
    assert ev.messages.height == 0
    assert ev.states.height == 0


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("holiday", "not cut on 2026-10-01: public holiday; next window 2026-10-08 08:00"),
        ("weekend", "not cut on 2026-12-05: weekend; next window 2026-12-07 08:00"),
        ("night", "not cut at 2026-12-02 20:00: outside 08:00-18:00; next window ..."),
        ("unknown_schedule", "not cut on 2027-01-04: no published holiday schedule for 2027"),
    ],
)
def test_outside_an_allowed_window_the_cut_is_held_with_the_calendars_reason(code, reason):
    ev = run(
        in_arrears(second_notice_at=NOW - dt.timedelta(hours=1)),
        ctx(cut_allowed_now=False, cut_hold_code=code, cut_hold_reason=reason),
    )
    assert ev.commands.height == 0
    assert ev.decisions.select("action", "reason_code", "reason").row(0) == ("hold", code, reason)
    assert ev.decisions["key"].to_list() == [f"hold/0000000007/2/2026-12-02/{code}"]


def test_a_protected_customer_is_never_cut_and_goes_to_the_staff_queue():
    ev = run(in_arrears(protected="medical", second_notice_at=NOW - dt.timedelta(hours=1)))
    assert ev.commands.height == 0
    assert ev.decisions.select("action", "reason_code").row(0) == ("hold", "protected")
    assert "medical equipment" in ev.decisions["reason"][0]
    assert ev.tasks.select("key", "kind").row(0) == ("protected/0000000007/2", "protected")


def test_arrears_from_estimated_readings_are_never_cut():
    ev = run(in_arrears(estimated_recent=True, second_notice_at=NOW - dt.timedelta(hours=1)))
    assert ev.commands.height == 0
    assert ev.decisions["reason_code"].to_list() == ["estimated"]
    assert ev.tasks["kind"].to_list() == ["estimated"]


def test_a_meter_without_a_remote_switch_is_not_cut_but_visited():
    ev = run(in_arrears(has_switch=False, second_notice_at=NOW - dt.timedelta(hours=1)))
    assert ev.commands.height == 0
    assert ev.tasks["kind"].to_list() == ["no_switch"]


def test_emergency_credit_defers_the_cut_until_it_is_used_up():
    policy = CreditPolicy(
        code="t", name="t", effective_from=dt.date(2026, 1, 1), emergency_credit_fen=500
    )
    late = NOW - dt.timedelta(hours=1)
    assert (
        run(in_arrears(balance_fen=-400, second_notice_at=late), policy=policy).commands.height == 0
    )
    assert (
        run(in_arrears(balance_fen=-500, second_notice_at=late), policy=policy).commands.height == 1
    )


def test_a_payment_is_never_the_moment_of_a_cut():
    ev = run(
        in_arrears(second_notice_at=NOW - dt.timedelta(hours=1)), ctx(cuts=False, paid_fen=100)
    )
    assert ev.commands.height == 0
    assert ev.decisions.height == 0


# --- restoration (SMS 4) --------------------------------------------------------------------


def test_a_payment_that_lifts_a_cut_account_above_zero_queues_the_reconnect_first():
    row = in_arrears(balance_fen=4_750, state="disconnected", supply="off")
    ev = run(row, ctx(paid_fen=5_000, cuts=False))
    assert ev.commands.select("correlation_id", "action", "priority").row(0) == (
        "reconnect/0000000007/2",
        "reconnect",
        0,
    )
    assert ev.messages.select("kind", "paid_fen", "balance_fen").row(0) == (
        "restored",
        5_000,
        4_750,
    )
    assert ev.states.select("state", "cycle", "pay_by", "supply").row(0) == (
        "reconnecting",
        3,
        None,
        "off",
    )


def test_paying_during_the_notice_period_ends_the_arrears_without_a_command():
    ev = run(in_arrears(balance_fen=100), ctx(paid_fen=350, cuts=False))
    assert ev.commands.height == 0
    assert ev.messages.height == 0  # the channel's receipt says it; nothing was cut
    assert ev.states.select("state", "cycle").row(0) == ("normal", 3)
    assert actions(ev) == ["restore"]


def test_paying_while_the_cut_is_queued_cancels_it_and_reconnects():
    ev = run(in_arrears(balance_fen=100, state="disconnecting"), ctx(paid_fen=350, cuts=False))
    assert ev.cancel_cuts.to_list() == [7]
    assert ev.commands["action"].to_list() == ["reconnect"]


def test_a_partial_payment_that_leaves_a_debt_restores_nothing():
    ev = run(in_arrears(balance_fen=-1, state="disconnected", supply="off"), ctx(paid_fen=200))
    assert ev.commands.height == 0
    assert ev.states.height == 0


# --- the policy file --------------------------------------------------------------------------


def test_the_shipped_policy_is_the_documented_default():
    shipped = shipped_policies()["henan-default"]
    defaults = CreditPolicy(
        code=shipped.code, name=shipped.name, effective_from=shipped.effective_from
    )
    assert shipped == defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('code = "x"\neffective_from = 2026-01-01\n[arrears]\nnotice_days = 0', "notice_days"),
        ('code = "x"\neffective_from = 2026-01-01\n[cut]\nrules = "nowhere"', "not one of"),
        ('code = "x"\neffective_from = 2026-01-01\n[warning]\ndays = 5', "unknown keys"),
        ('code = "x"\n', "effective_from"),
        ("effective_from = 2026-01-01", "code"),
        ('code = "x"\neffective_from = 2026-01-01\n[restore]\nbalance_fen_min = 0', "above"),
        ('code = "x"\neffective_from = 2026-01-01\n[restore]\npromise_hours = 0', "promise"),
        ('code = "x"\neffective_from = 2026-01-01\n[restore]\ncompensation_fen = -1', ">= 0"),
        ('code = "x"\neffective_from = 2026-01-01\n[restore]\ncompensation_fen = 1.5', "whole"),
        ('code = "x"\neffective_from = 2026-01-01\n[arrears]\ndelivery_task_hours = 0', "task"),
    ],
)
def test_a_malformed_policy_file_is_refused_naming_the_problem(text, message):
    with pytest.raises(InvalidInput, match=message):
        load_policy_text(text, "test.toml")


def test_a_policy_file_sets_what_it_names_and_keeps_the_other_defaults():
    policy = parse_policy(
        {"code": "sd", "effective_from": dt.date(2026, 1, 1), "arrears": {"notice_days": 7}},
        set(RULE_SETS),
    )
    assert (policy.notice_days, policy.warn_days_of_credit) == (7, 5)


def test_the_restoration_promise_and_the_call_task_are_policy_data():
    policy = load_policy_text(
        'code = "in"\neffective_from = 2026-01-01\n[arrears]\ndelivery_task_hours = 6\n'
        "[restore]\npromise_hours = 12\ncompensation_fen = 5000\n",
        "test.toml",
    )
    assert (
        policy.notice_delivery_task_hours,
        policy.restore_promise_hours,
        policy.restore_compensation_fen,
    ) == (6, 12, 5_000)


def test_no_cut_and_no_second_notice_without_a_delivered_arrears_notice():
    ev = run(in_arrears(notice_delivered_at=None))
    assert ev.commands.height == 0 and ev.messages.height == 0
    assert ev.decisions.select("action", "reason_code").rows() == [("hold", "undelivered")]
    assert ev.decisions["reason"][0] == (
        "not cut: the arrears notice has no delivery receipt; it must reach the household first"
    )
    # sent four days ago without a receipt: staff call the household
    (task,) = ev.tasks.iter_rows(named=True)
    assert (task["kind"], task["key"]) == ("undelivered_notice", "undelivered_notice/0000000007/2")
    assert task["reason"].startswith("the arrears notice sent 2026-11-28 10:00 has no delivery")


def test_a_notice_delivered_late_moves_the_cut_to_a_full_notice_period_after_delivery():
    delivered = NOW - dt.timedelta(days=2)  # pay-by date passed, but delivered 2 of 3 days ago
    late = NOW - dt.timedelta(hours=1)
    ev = run(in_arrears(notice_delivered_at=delivered, second_notice_at=late))
    assert ev.commands.height == 0 and ev.tasks.height == 0
    assert ev.decisions["reason"][0] == (
        "not cut: the arrears notice was delivered 2026-11-30 10:00, less than 3 days ago"
    )
    on_time = run(in_arrears(notice_delivered_at=NOW - dt.timedelta(days=3), second_notice_at=late))
    assert on_time.commands["action"].to_list() == ["disconnect"]


def test_no_call_task_before_the_configured_hours():
    recent = NOW - dt.timedelta(hours=POLICY.notice_delivery_task_hours - 1)
    ev = run(in_arrears(notice_at=recent, notice_delivered_at=None))
    assert ev.tasks.height == 0


def test_a_delivered_notice_closes_the_call_task():
    ev = run(in_arrears(notice_delivered_at=NOW - dt.timedelta(days=1)))
    (closing,) = ev.closings.filter(pl.col("kind") == "undelivered_notice").iter_rows(named=True)
    assert closing["close_code"] == "delivered"
    assert closing["close_reason"] == "the arrears notice was delivered 2026-12-01 10:00"


def test_a_receipt_dated_before_the_sending_counts_the_notice_period_from_the_sending():
    # The provider's clock put the receipt four days back; the notice went out an hour ago.
    sent = NOW - dt.timedelta(hours=1)
    skewed = in_arrears(notice_at=sent, notice_delivered_at=NOW - dt.timedelta(days=4))
    ev = run(dict(skewed, second_notice_at=NOW - dt.timedelta(hours=2)))
    assert ev.commands.height == 0
    assert ev.decisions.select("action", "reason_code").rows() == [("hold", "undelivered")]
    assert ev.decisions["reason"][0] == (
        "not cut: the arrears notice was delivered 2026-12-02 09:00, less than 3 days ago"
    )
