"""A provider's template parameters (``template_params``) and the restoration promise's rule."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.credit_policy import CreditPolicy, broke_restoration_promise
from gridpay.domain.messages import FIELDS, MessageKind, template_params

VALUES: dict[str, object] = {
    "account_no": "0000000001",
    "as_of": dt.date(2026, 12, 1),
    "balance_fen": -120,
    "pay_by": dt.date(2026, 12, 4),
    "last_day": dt.date(2026, 12, 4),
    "cut_at": dt.datetime(2026, 12, 7, 8, 30),
    "paid_fen": 10_000,
    "customer_name": "张\x07三",
    "refund_fen": 0,
    "code": "123456",
    "minutes": "10",
}


def test_every_kind_has_its_fields_as_texts_without_units():
    for kind in MessageKind:
        params = json.loads(template_params(kind, **VALUES))
        assert set(params) == {name.removesuffix("_fen") for name in FIELDS[kind]}
        assert all(isinstance(v, str) for v in params.values())


def test_money_is_yuan_dates_iso_instants_local_minutes_and_text_printable():
    params = json.loads(template_params(MessageKind.TRUSTED_CONTACT, **VALUES))
    assert params == {
        "account_no": "0000000001",
        "customer_name": "张\ufffd三",  # a control character never reaches a phone raw
        "balance": "-1.20",
        "pay_by": "2026-12-04",
    }
    cut = json.loads(template_params(MessageKind.CUT_SOON, **VALUES))
    assert cut["cut_at"] == "2026-12-07 08:30"


POLICY = CreditPolicy(code="t", name="t", effective_from=dt.date(2026, 1, 1))
QUEUED = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)


@given(
    hours=st.integers(1, 72),
    confirmed_after_min=st.one_of(st.none(), st.integers(0, 6_000)),
    now_after_min=st.integers(0, 6_000),
)
def test_a_promise_is_broken_exactly_when_no_confirmation_came_within_it(
    hours, confirmed_after_min, now_after_min
):
    policy = CreditPolicy(
        code="t", name="t", effective_from=dt.date(2026, 1, 1), restore_promise_hours=hours
    )
    now = QUEUED + dt.timedelta(minutes=now_after_min)
    promised_by = QUEUED + dt.timedelta(hours=hours)
    if confirmed_after_min is None:
        assert broke_restoration_promise(QUEUED, None, False, now, policy) == (now >= promised_by)
        return
    finished = QUEUED + dt.timedelta(minutes=confirmed_after_min)
    assert broke_restoration_promise(QUEUED, finished, True, now, policy) == (
        finished > promised_by
    )
