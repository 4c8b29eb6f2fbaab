"""Helpers for the meter command tests: queue commands, read them back, fake the credit repo."""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import Any, Self

import polars as pl

from gridpay.adapters.sql.store import SqlStore, SqlUnitOfWork
from gridpay.domain.commands import (
    PRIORITY,
    CommandAction,
    CommandResult,
    MeterCommand,
    correlation_id,
)

METER_BASE = 200_000_000_000


def command_frame(
    account_ids: list[int], action: CommandAction, created_at: dt.datetime, cycle: int = 0
) -> pl.DataFrame:
    """What the credit policy enqueues: one command per account for this cycle."""
    n = len(account_ids)
    return pl.DataFrame(
        {
            "correlation_id": [correlation_id(action, a, cycle) for a in account_ids],
            "account_id": account_ids,
            "meter_id": [METER_BASE + a for a in account_ids],
            "action": [action.value] * n,
            "priority": [PRIORITY[action]] * n,
            "created_at": [created_at] * n,
        },
        schema_overrides={
            "account_id": pl.Int64,
            "meter_id": pl.Int64,
            "priority": pl.Int64,
            "created_at": pl.Datetime("us", "UTC"),
        },
    )


def enqueue(store: SqlStore, frame: pl.DataFrame) -> int:
    with store.unit_of_work() as uow:
        added = uow.commands.enqueue(frame)
        uow.commit()
    return added


def command(store: SqlStore, cid: str) -> MeterCommand:
    with store.unit_of_work() as uow:
        row = uow.commands.get(cid)
    assert row is not None
    return row


class RecordingCredit:
    """The credit repository's two calls the dispatcher makes, recorded."""

    def __init__(self) -> None:
        self.confirmed: list[tuple[int, str, dt.datetime]] = []
        self.staff_tasks: list[dict[str, Any]] = []

    def confirm_supply(self, account_id: int, supply: str, at: dt.datetime) -> None:
        self.confirmed.append((account_id, supply, at))

    def confirm_supplies(self, confirmations: list[tuple[int, str, dt.datetime]]) -> None:
        self.confirmed.extend(confirmations)

    def add_staff_tasks(self, tasks: pl.DataFrame) -> int:
        keys = {t["key"] for t in self.staff_tasks}
        new = [t for t in tasks.to_dicts() if t["key"] not in keys]
        self.staff_tasks.extend(new)
        return len(new)


class _UnitOfWorkWithCredit:
    def __init__(self, inner: SqlUnitOfWork, credit: RecordingCredit) -> None:
        self._inner = inner
        self._credit = credit

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    @property
    def credit(self) -> RecordingCredit:
        return self._credit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class StoreWithRecordingCredit:
    """The SQL store, with the credit policy's side of the dispatcher recorded instead.

    Keeps these tests about commands, independent of how the credit state reacts.
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.credit = RecordingCredit()

    @property
    def dialect(self) -> str:
        return self._store.dialect

    def unit_of_work(self) -> Any:
        return _UnitOfWorkWithCredit(self._store.unit_of_work(), self.credit)

    def migrate(self) -> None:
        self._store.migrate()

    def let_other_writers_in(self) -> None:
        self._store.let_other_writers_in()

    def checkpoint(self) -> None:
        self._store.checkpoint()

    def opener(self) -> None:
        return None  # the recording credit lives in this process only


class ScriptedHeadEnd:
    """A head-end whose results the test hands in; it records what it was sent."""

    name = "scripted"

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, str, dt.datetime]] = []
        self._results: list[CommandResult] = []

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        self.sent.append((correlation_id, meter_id, action, at))

    def answer(self, cid: str, ok: bool, at: dt.datetime, error: str | None = None) -> None:
        self._results.append(CommandResult(cid, ok, at, error))

    def results(self, now: dt.datetime) -> list[CommandResult]:
        due = [r for r in self._results if r.at <= now]
        self._results = [r for r in self._results if r.at > now]
        return due
