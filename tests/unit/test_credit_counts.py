"""A judgement's decisions are counted by action alike for one payment and for a city."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay import limits
from gridpay.domain.commands import COMMAND_SCHEMA
from gridpay.domain.credit_policy import (
    DECISION_SCHEMA,
    MESSAGE_SCHEMA,
    STATE_SCHEMA,
    TASK_SCHEMA,
    Evaluation,
)
from gridpay.services.credit import _counts

AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def outcome(actions: list[str]) -> Evaluation:
    decisions = pl.DataFrame(
        [(f"k{i}", i, AT, a, "code", "reason") for i, a in enumerate(actions)],
        schema=DECISION_SCHEMA,
        orient="row",
    )
    return Evaluation(
        states=pl.DataFrame(schema=STATE_SCHEMA),
        messages=pl.DataFrame(schema=MESSAGE_SCHEMA),
        commands=pl.DataFrame(schema=COMMAND_SCHEMA),
        cancel_cuts=pl.Series("account_id", [], pl.Int64),
        decisions=decisions,
        tasks=pl.DataFrame(schema=TASK_SCHEMA),
    )


@pytest.mark.parametrize(
    "actions", [[], ["restore"], ["warn", "notice", "warn"] * 30], ids=["none", "one", "many"]
)
def test_decisions_are_counted_alike_in_python_and_in_polars(
    actions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    in_python = _counts(outcome(actions))
    monkeypatch.setattr(limits, "credit_outcome_python_rows_max", -1)
    in_polars = _counts(outcome(actions))
    assert in_python == in_polars
    assert sum(in_python.values()) == len(actions)
