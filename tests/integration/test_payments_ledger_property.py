"""Property: for any sequence of payments, retries, conflicting duplicates, refunds, reversals and
daily charges, the ledger stays balanced, matches a model, and every (channel, ref) lands once.

One database per engine serves all examples; each example works on its own accounts and
references, so examples never see each other's operations, while the audit checks everything.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.payments import Refund, Reverse, TakePayment
from gridpay.errors import Conflict, Refused
from gridpay.services.audit import LEDGER_CHECKS, audit
from gridpay.services.payments import refund, reverse, take_payment
from tests.fakes import FakeClock
from tests.helpers_accounts import add_accounts, balance_fen, rows, settle_day_by_hand

SETTINGS = Settings()
ACCOUNTS_PER_EXAMPLE = 3
FIRST_DAY = dt.date(2026, 1, 1)
_examples = itertools.count(1)

accounts = st.integers(0, ACCOUNTS_PER_EXAMPLE - 1)
refs = st.integers(0, 3)  # few references, so retries and conflicts happen by themselves
pays = st.tuples(
    st.just("pay"),
    accounts,
    st.integers(1, 20_000),
    st.sampled_from(["app", "counter", "bank"]),
    refs,
)
ops = st.one_of(
    pays,
    pays,
    st.tuples(st.just("retry"), st.integers(0, 50)),
    st.tuples(st.just("conflict"), st.integers(0, 50), st.integers(1, 500)),
    st.tuples(st.just("refund"), accounts, st.integers(1, 3_000), refs),
    st.tuples(st.just("refund"), accounts, st.integers(1, 3_000), refs),
    st.tuples(st.just("reverse"), st.integers(0, 50)),
    st.tuples(st.just("reverse"), st.integers(0, 50)),
    st.tuples(st.just("charge"), accounts, st.integers(-300, 3_000)),
)


@dataclass
class Model:
    """What the books should say, kept in plain Python."""

    base: int  # first account id of this example
    prefix: str  # reference prefix of this example
    balances: dict[int, int] = field(default_factory=dict)
    posted: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id -> kind, acct, fen
    payments: list[tuple[TakePayment, int]] = field(default_factory=list)
    days: dict[int, int] = field(default_factory=dict)  # account -> days settled
    ytd_charged: dict[int, int] = field(default_factory=dict)

    def account_no(self, index: int) -> str:
        return f"{self.base + index:010d}"


def _pay(store: SqlStore, clock: FakeClock, m: Model, cmd: TakePayment, fen: int) -> None:
    transfer_id = f"pay/{cmd.channel}/{cmd.ref}"
    account_id = int(cmd.account_no)
    known = m.posted.get(transfer_id)
    if known is not None and known != ("payment", account_id, fen):
        try:
            take_payment(store, clock, SETTINGS, cmd)
        except Conflict:
            event("payment: conflicting duplicate refused")
            return
        raise AssertionError(f"{transfer_id} reused for another payment was not refused")
    receipt = take_payment(store, clock, SETTINGS, cmd)
    event("payment: retry was a no-op" if known else "payment: posted")
    assert receipt.already_recorded == (known is not None)
    if known is None:
        m.posted[transfer_id] = ("payment", account_id, fen)
        m.balances[account_id] += fen
        m.payments.append((cmd, fen))
    assert receipt.balance_fen == m.balances[account_id]


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _payment_cmd(m: Model, account: int, fen: int, channel: str, ref: int) -> TakePayment:
    office = 1 if channel == "counter" else None
    return TakePayment(m.account_no(account), _yuan(fen), channel, f"{m.prefix}P{ref}", office)


def _refund(store: SqlStore, clock: FakeClock, m: Model, account: int, fen: int, ref: int) -> None:
    cmd = Refund(m.account_no(account), _yuan(fen), f"{m.prefix}R{ref}")
    transfer_id = f"refund/{cmd.ref}"
    account_id = m.base + account
    known = m.posted.get(transfer_id)
    if known is not None and known != ("refund", account_id, fen):
        expected: type[Exception] | None = Conflict
    elif known is None and fen > m.balances[account_id]:
        expected = Refused
    else:
        expected = None
    try:
        receipt = refund(store, clock, SETTINGS, cmd)
    except (Conflict, Refused) as exc:
        assert type(exc) is expected, exc
        event(f"refund: {type(exc).__name__}")
        return
    assert expected is None
    event("refund: retry was a no-op" if known else "refund: posted")
    assert receipt.already_recorded == (known is not None)
    if known is None:
        m.posted[transfer_id] = ("refund", account_id, fen)
        m.balances[account_id] -= fen
    assert receipt.balance_fen == m.balances[account_id]


def _reverse(store: SqlStore, clock: FakeClock, m: Model, k: int) -> None:
    if not m.posted:
        return
    original_id = sorted(m.posted)[k % len(m.posted)]
    kind, account_id, fen = m.posted[original_id]
    reversal_id = f"reversal/{original_id}"
    try:
        receipt = reverse(store, clock, Reverse(original_id))
    except Refused:
        assert kind in ("reversal", "charge", "credit")
        event(f"reverse: {kind} refused")
        return
    assert kind in ("payment", "refund")
    event(f"reverse: {kind} {'again (no-op)' if receipt.already_recorded else 'reversed'}")
    assert receipt.already_recorded == (reversal_id in m.posted)
    if reversal_id not in m.posted:
        m.posted[reversal_id] = ("reversal", account_id, fen)
        m.balances[account_id] += -fen if kind == "payment" else fen
    assert receipt.balance_fen == m.balances[account_id]


def _charge(store: SqlStore, m: Model, account: int, charge_fen: int) -> None:
    account_id = m.base + account
    day = FIRST_DAY + dt.timedelta(days=m.days[account_id])
    m.days[account_id] += 1
    m.ytd_charged[account_id] += charge_fen
    settle_day_by_hand(
        store,
        account_id,
        day,
        energy_wh=max(charge_fen, 0) * 10,
        charge_fen=charge_fen,
        ytd_wh=m.days[account_id] * 10_000,
        ytd_charged_fen=m.ytd_charged[account_id],
    )
    if charge_fen:
        kind = "charge" if charge_fen > 0 else "credit"
        m.posted[f"{kind}/{day}/{account_id:010d}"] = (kind, account_id, abs(charge_fen))
    m.balances[account_id] -= charge_fen


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(ops, min_size=8, max_size=30))
def test_ledger_invariants_hold_for_any_sequence_of_operations(
    store: SqlStore, clock: FakeClock, operations: list[tuple]
) -> None:
    n = next(_examples)
    m = Model(base=n * 10, prefix=f"E{n}-")
    ids = add_accounts(store, range(m.base, m.base + ACCOUNTS_PER_EXAMPLE))
    m.balances = dict.fromkeys(ids, 0)
    m.days = dict.fromkeys(ids, 0)
    m.ytd_charged = dict.fromkeys(ids, 0)

    for op in operations:
        match op:
            case ("pay", account, fen, channel, ref):
                _pay(store, clock, m, _payment_cmd(m, account, fen, channel, ref), fen)
            case ("retry", k) if m.payments:
                _pay(store, clock, m, *m.payments[k % len(m.payments)])
            case ("conflict", k, delta) if m.payments:
                original, fen = m.payments[k % len(m.payments)]
                cmd = replace(original, amount_yuan=_yuan(fen + delta))
                _pay(store, clock, m, cmd, fen + delta)
            case ("refund", account, fen, ref):
                _refund(store, clock, m, account, fen, ref)
            case ("reverse", k):
                _reverse(store, clock, m, k)
            case ("charge", account, fen):
                _charge(store, m, account, fen)

    for account_id, expected_fen in m.balances.items():
        assert balance_fen(store, account_id) == expected_fen
    duplicates = rows(
        store,
        "SELECT channel, ref FROM transfers WHERE kind = 'payment' "
        "GROUP BY channel, ref HAVING COUNT(*) > 1",
    )
    assert duplicates == []
    posted = rows(
        store,
        "SELECT id FROM transfers WHERE account_id >= :lo AND account_id < :hi",
        lo=m.base,
        hi=m.base + ACCOUNTS_PER_EXAMPLE,
    )
    assert sorted(r.id for r in posted) == sorted(m.posted)
    report = audit(store, LEDGER_CHECKS)  # the usage rows here are made by hand
    assert report.ok, report.failed_checks
