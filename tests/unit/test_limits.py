"""The limits: their relations hold, and text limits are as wide as their columns."""

from __future__ import annotations

import importlib

import pytest

from gridpay import limits
from gridpay.adapters.sql import schema

# (limit, table, column): the limit on what may be written is the column's width.
TEXT_COLUMNS = [
    ("account_name_chars_max", "accounts", "name"),
    ("account_phone_chars_max", "accounts", "phone"),
    ("transfer_note_chars_max", "transfers", "note"),
    ("staff_task_reason_chars_max", "staff_tasks", "reason"),
    ("command_error_chars_max", "meter_commands", "last_error"),
    ("message_error_chars_max", "messages", "last_error"),
    ("message_delivery_error_chars_max", "messages", "delivery_error"),
    ("reading_source_chars_max", "readings", "source"),
    ("reading_source_chars_max", "reading_quarantine", "source"),
    ("quarantine_meter_no_chars_max", "reading_quarantine", "meter_no"),
    ("quarantine_reason_chars_max", "reading_quarantine", "reason"),
    ("partner_name_chars_max", "partners", "name"),
    ("partner_code_chars_max", "partners", "code"),
    ("reconcile_by_chars_max", "reconciliation_lines", "confirmed_by"),
]


@pytest.mark.parametrize(("limit", "table", "column"), TEXT_COLUMNS)
def test_a_text_limit_is_as_wide_as_its_column(limit, table, column):
    width = schema.metadata.tables[table].c[column].type.length
    assert getattr(limits, limit) == width


def test_limits_that_break_a_relation_fail_at_import():
    source = importlib.util.find_spec("gridpay.limits")
    assert source is not None and source.origin is not None
    with open(source.origin, encoding="utf-8") as file:
        text = file.read()
    broken = text.replace(
        "settle_batch_accounts_max = 10_000", "settle_batch_accounts_max = 60_000"
    )
    assert broken != text
    with pytest.raises(AssertionError):
        exec(compile(broken, source.origin, "exec"), {})
    exec(compile(text, source.origin, "exec"), {})  # as shipped: every relation holds
