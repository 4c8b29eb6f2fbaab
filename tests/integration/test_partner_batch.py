"""The batch path of partner payments: a group-committed batch judged first, then written with
one statement per table, gives each request the answer it would get one request later, and a
batch of payments posted together keeps the ledger's rules (receipts, restoration, limits)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gridpay import bootstrap
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.actors import SYSTEM
from gridpay.domain.payments import TakePayment
from gridpay.errors import Conflict, NotFound, Refused
from gridpay.services import partners, payments
from gridpay.services.partners import PaymentAnswer
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, balance_fen, scalar
from tests.integration.credit_helpers import (
    BROKE,
    RICH,
    commands,
    cut_off_broke,
    local,
    messages,
    state,
)
from tests.integration.test_partner_group_commit import _signed, _written


@pytest.fixture
def built(store: SqlStore, clock: FakeClock) -> bootstrap.App:
    settings = Settings(database_url=store.url, environment="test")
    add_accounts(store, [1, 2, 3])
    return bootstrap.App(settings, store, clock, bootstrap.credit_policy(settings))


@pytest.fixture
def agent(built: bootstrap.App, clock: FakeClock) -> partners.Partner:
    """A collection agent allowed 50 yuan a day."""
    return partners.add_partner(
        built.store,
        clock,
        code="AGENT",
        name="Agent",
        kind="agent",
        payment_max_yuan="40",
        day_max_yuan="50",
    )


def test_two_payments_of_one_batch_that_together_pass_the_day_limit_the_second_refused(
    built: bootstrap.App, agent: partners.Partner, clock: FakeClock
) -> None:
    before = _written(built.store)
    batch = [
        _signed(agent, clock, "D-1", 1, "30"),
        _signed(agent, clock, "D-2", 2, "30"),  # 60 > 50: refused
        _signed(agent, clock, "D-3", 3, "20"),  # 50: still within
        _signed(agent, clock, "D-4", 3, "0.01"),  # 50.01: refused
    ]
    first, second, third, fourth = partners.pay_many(
        built.store, clock, built.settings, built.credit, batch
    )
    assert isinstance(first, PaymentAnswer) and isinstance(third, PaymentAnswer)
    for refused in (second, fourth):
        assert isinstance(refused, Refused) and "limit per day" in refused.message
    day = "SELECT amount_fen FROM partner_days WHERE partner_code = 'AGENT'"
    assert scalar(built.store, day) == 5_000
    assert [balance_fen(built.store, a) for a in (1, 2, 3)] == [3_000, 0, 2_000]
    after = _written(built.store)
    assert after["transfers"] - before["transfers"] == 2
    assert after["partner_payments"] - before["partner_payments"] == 2
    assert after["partner_nonces"] - before["partner_nonces"] == 4  # every nonce spent
    # The next batch starts from the day's 50 yuan: nothing more today.
    (late,) = partners.pay_many(
        built.store, clock, built.settings, built.credit, [_signed(agent, clock, "D-5", 1, "1")]
    )
    assert isinstance(late, Refused)


def test_payments_into_one_account_in_a_batch_each_show_the_balance_after_their_own(
    built: bootstrap.App, agent: partners.Partner, clock: FakeClock
) -> None:
    batch = [
        _signed(agent, clock, "S-1", 1, "10"),
        _signed(agent, clock, "S-2", 2, "5"),
        _signed(agent, clock, "S-3", 1, "20"),
        _signed(agent, clock, "S-1", 1, "10", nonce="nonce-retry-S-1-in-the-same-batch"),
        _signed(agent, clock, "S-4", 4040, "1"),  # no such account
    ]
    first, other, second, retry, unknown = partners.pay_many(
        built.store, clock, built.settings, built.credit, batch
    )
    assert isinstance(first, PaymentAnswer) and first.payment.balance_fen == 1_000
    assert isinstance(other, PaymentAnswer) and other.payment.balance_fen == 500
    assert isinstance(second, PaymentAnswer) and second.payment.balance_fen == 3_000
    assert isinstance(retry, PaymentAnswer) and retry.replayed
    assert retry.payment == first.payment  # the first answer, as one request later
    assert isinstance(unknown, NotFound)
    posted = "SELECT count(*) FROM partner_payments WHERE status = 'posted'"
    assert scalar(built.store, posted) == 3
    audited = "SELECT count(*) FROM audit_log WHERE action = 'payment.take'"
    assert scalar(built.store, audited) == 3
    # the receipts as a retry reads them back
    (again,) = partners.pay_many(
        built.store,
        clock,
        built.settings,
        built.credit,
        [_signed(agent, clock, "S-3", 1, "20", nonce="nonce-retry-S-3-next-batch")],
    )
    assert isinstance(again, PaymentAnswer) and again.replayed
    assert again.payment.balance_fen == 3_000


def test_a_batch_of_payments_restores_the_account_it_brings_out_of_debt_once(
    store: SqlStore, clock: FakeClock, credit: Any, city: Any
) -> None:
    cut_off_broke(store, clock, credit)
    assert state(store, BROKE).state == "disconnected"
    clock.set(local(dt.date(2026, 12, 7), 19, 0))
    settings = Settings()

    def paid(ref: str, account_id: int, yuan: str) -> payments.PaymentIn:
        cmd = TakePayment(f"{account_id:010d}", yuan, "bank", ref)
        with store.reader() as uow:
            account = uow.registry.account(account_id)
        assert account is not None
        return payments.PaymentIn(cmd, account, SYSTEM)

    with store.unit_of_work() as uow:
        outcomes = payments.take_payments_in(
            uow,
            clock,
            settings,
            [paid("B-1", RICH, "10"), paid("B-2", BROKE, "100"), paid("B-3", BROKE, "5")],
            credit,
        )
        uow.commit()
    rich, broke, broke_again = outcomes
    assert isinstance(broke, payments.Receipt) and isinstance(broke_again, payments.Receipt)
    assert broke_again.balance_fen == broke.balance_fen + 500
    assert isinstance(rich, payments.Receipt) and not rich.already_recorded
    assert state(store, BROKE).state == "reconnecting"  # by the first payment, once
    restored = messages(store, BROKE).filter(pl.col("kind") == "restored")
    assert restored.height == 1 and "您已缴费100.00元" in restored["body"][0]
    queued = commands(store, BROKE).filter(pl.col("action") == "reconnect")
    assert queued.select("correlation_id", "state").rows() == [("reconnect/0000000003/0", "queued")]
    # A retry of the batch posts nothing and answers each with its first receipt.
    with store.unit_of_work() as uow:
        again = payments.take_payments_in(
            uow, clock, settings, [paid("B-2", BROKE, "100"), paid("B-2x", BROKE, "5")], credit
        )
        uow.commit()
    first_again, new = again
    assert isinstance(first_again, payments.Receipt) and first_again.already_recorded
    assert isinstance(new, payments.Receipt) and not new.already_recorded


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@hypothesis_settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["R1", "R2", "R3", "R4"]), st.sampled_from([1, 2, 3, 7])),
        min_size=1,
        max_size=12,
    ),
    st.lists(st.sampled_from(["5", "20", "45", "0.50"]), min_size=12, max_size=12),
)
def test_a_batch_answers_as_the_same_requests_one_after_the_other_would(
    built: bootstrap.App,
    agent: partners.Partner,
    clock: FakeClock,
    orders: list[tuple[str, int]],
    amounts: list[str],
) -> None:
    """Whatever the mix of retries, conflicts, unknown accounts and limits (40 yuan a payment,
    50 a day), the batch's answers and what it wrote match a model of one request at a time."""
    run = f"{scalar(built.store, 'SELECT count(*) FROM partner_nonces')}"
    day_fen = int(
        scalar(
            built.store,
            "SELECT coalesce(sum(amount_fen), 0) FROM partner_days WHERE partner_code = 'AGENT'",
        )
    )
    batch = []
    model: dict[str, tuple[int, int]] = {}
    expected: list[str] = []
    paid_fen = {a: 0 for a in (1, 2, 3)}
    for n, (reference, account_id) in enumerate(orders):
        yuan = amounts[n]
        amount_fen = round(float(yuan) * 100)
        ref = f"{run}-{reference}"
        batch.append(_signed(agent, clock, ref, account_id, yuan, nonce=f"nonce-{run}-{n}-0000000"))
        if ref in model:
            expected.append("retry" if model[ref] == (account_id, amount_fen) else "conflict")
        elif amount_fen > 4_000 or account_id == 7 or day_fen + amount_fen > 5_000:
            expected.append("refused")
        else:
            model[ref] = (account_id, amount_fen)
            day_fen += amount_fen
            paid_fen[account_id] += amount_fen
            expected.append("posted")
    before = {a: balance_fen(built.store, a) for a in (1, 2, 3)}
    outcomes = partners.pay_many(built.store, clock, built.settings, built.credit, batch)
    got = []
    for outcome in outcomes:
        if isinstance(outcome, PaymentAnswer):
            got.append("retry" if outcome.replayed else "posted")
        elif isinstance(outcome, Conflict):
            got.append("conflict")
        else:
            assert isinstance(outcome, Refused | NotFound), outcome
            got.append("refused")
    assert got == expected
    assert {a: balance_fen(built.store, a) - before[a] for a in (1, 2, 3)} == paid_fen
    day = "SELECT amount_fen FROM partner_days WHERE partner_code = 'AGENT'"
    assert int(scalar(built.store, day) or 0) == day_fen
    pending = "SELECT count(*) FROM partner_payments WHERE status = 'pending'"
    assert scalar(built.store, pending) == 0
