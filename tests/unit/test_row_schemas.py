"""Rows crossing the ports are declared once, in the domain, and match the tables they come from."""

from __future__ import annotations

from dataclasses import fields

import pytest
from sqlalchemy import Table

from gridpay.adapters.sql import schema
from gridpay.domain.commands import COMMAND_SCHEMA, STORED_COMMAND_SCHEMA, MeterCommand
from gridpay.domain.credit_policy import STATE_SCHEMA, AccountCreditState
from gridpay.domain.enrolment import Agreement
from gridpay.domain.messages import OUTBOX_SCHEMA, STORED_MESSAGE_SCHEMA, OutboxMessage
from gridpay.domain.registry import REGISTERED_METER_SCHEMA, Account, Meter
from gridpay.domain.settlement import RunTotals, SettlementRun


def _names(row: type) -> list[str]:
    return [f.name for f in fields(row)]


def _columns(table: Table) -> set[str]:
    return {c.name for c in table.columns}


@pytest.mark.parametrize(
    ("row", "frame_schema", "table"),
    [
        (MeterCommand, STORED_COMMAND_SCHEMA, schema.meter_commands),
        (OutboxMessage, STORED_MESSAGE_SCHEMA, schema.messages),
        (Meter, REGISTERED_METER_SCHEMA, schema.meters),
        (AccountCreditState, STATE_SCHEMA, schema.credit_state),
    ],
)
def test_a_stored_row_has_its_frame_schemas_columns_in_order_and_its_tables_columns(
    row: type, frame_schema: dict[str, object], table: Table
) -> None:
    assert set(_names(row)) == set(frame_schema) == _columns(table)
    if row is not Meter:  # a Meter lists its optional fields last, as its constructor wants
        assert _names(row) == list(frame_schema)


def test_new_commands_and_messages_are_the_stored_rows_less_what_the_store_fills_in() -> None:
    assert set(COMMAND_SCHEMA) < set(STORED_COMMAND_SCHEMA)
    assert all(STORED_COMMAND_SCHEMA[c] == t for c, t in COMMAND_SCHEMA.items())
    assert set(OUTBOX_SCHEMA) < set(STORED_MESSAGE_SCHEMA)
    assert all(STORED_MESSAGE_SCHEMA[c] == t for c, t in OUTBOX_SCHEMA.items())


def test_a_settlement_run_and_its_totals_cover_the_runs_table() -> None:
    run = set(_names(SettlementRun)) - {"totals"}
    assert run | set(_names(RunTotals)) == _columns(schema.settlement_runs)


def test_accounts_and_agreements_carry_their_tables_columns() -> None:
    assert set(_names(Account)) == _columns(schema.accounts)
    assert set(_names(Agreement)) == _columns(schema.enrolments)
