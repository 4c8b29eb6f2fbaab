"""SQL: remote meter commands.

Every state change is one conditional UPDATE on the command's current state, so a late or
repeated head-end result, or two dispatchers racing, can never move a command twice. On
PostgreSQL the commands a dispatcher picks (``due``, ``sent_before``, ``get``) are row-locked
until commit and skipped by other dispatchers; SQLite's single writer serializes them anyway.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gridpay.adapters.sql import schema
from gridpay.domain.commands import CommandAction, CommandState

COMMAND_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "correlation_id": pl.String,
    "account_id": pl.Int64,
    "meter_id": pl.Int64,
    "action": pl.String,
    "priority": pl.Int64,
    "state": pl.String,
    "attempts": pl.Int64,
    "created_at": pl.Datetime("us", "UTC"),
    "next_attempt_at": pl.Datetime("us", "UTC"),
    "sent_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "head_end": pl.String,
    "last_error": pl.String,
}

ENQUEUE_COLUMNS = ("correlation_id", "account_id", "meter_id", "action", "priority", "created_at")

ERROR_CHARS_MAX = 300  # the last_error column

# Built once per engine (a payment's restoration enqueues one command: building the statement
# cost more than running it). A correlation id already stored is skipped.
_ENQUEUE = {
    dialect: insert(schema.meter_commands)
    .on_conflict_do_nothing(index_elements=["correlation_id"])
    .returning(schema.meter_commands.c.id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


class SqlCommandsRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def enqueue(self, commands: pl.DataFrame) -> int:
        if commands.height == 0:
            return 0
        missing = set(ENQUEUE_COLUMNS) - set(commands.columns)
        assert not missing, f"commands frame lacks {sorted(missing)}"
        rows = [
            {
                **{name: row[name] for name in ENQUEUE_COLUMNS},
                "created_at": _utc(row["created_at"]),
                "state": CommandState.QUEUED.value,
            }
            for row in commands.iter_rows(named=True)
        ]
        actions = {row["action"] for row in rows}
        assert actions <= {a.value for a in CommandAction}, f"unknown actions in {actions}"
        return len(self.conn.execute(_ENQUEUE[self.conn.dialect.name], rows).all())

    def cancel_queued(self, account_id: int, action: str, at: dt.datetime) -> int:
        c = schema.meter_commands
        result = self.conn.execute(
            c.update()
            .where(
                c.c.account_id == account_id,
                c.c.action == CommandAction(action).value,
                c.c.state == CommandState.QUEUED.value,
            )
            .values(state=CommandState.CANCELLED.value, finished_at=_utc(at), next_attempt_at=None)
        )
        return int(result.rowcount)

    def due(self, now: dt.datetime, limit: int) -> pl.DataFrame:
        c = schema.meter_commands
        stmt = (
            select(c)
            .where(
                c.c.state == CommandState.QUEUED.value,
                or_(c.c.next_attempt_at.is_(None), c.c.next_attempt_at <= _utc(now)),
            )
            .order_by(c.c.priority, c.c.created_at, c.c.id)
            .limit(limit)
        )
        return self._frame(self._pick(stmt))

    def sent_before(self, deadline: dt.datetime, limit: int) -> pl.DataFrame:
        c = schema.meter_commands
        stmt = (
            select(c)
            .where(c.c.state == CommandState.SENT.value, c.c.sent_at < _utc(deadline))
            .order_by(c.c.sent_at, c.c.id)
            .limit(limit)
        )
        return self._frame(self._pick(stmt))

    def get(self, correlation_id: str) -> dict[str, Any] | None:
        c = schema.meter_commands
        stmt = select(c).where(c.c.correlation_id == correlation_id)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        return _utc_dict(row._mapping) if row else None

    def mark_sent(self, command_id: int, at: dt.datetime, head_end: str) -> None:
        c = schema.meter_commands
        updated = self.conn.execute(
            c.update()
            .where(c.c.id == command_id, c.c.state == CommandState.QUEUED.value)
            .values(
                state=CommandState.SENT.value,
                sent_at=_utc(at),
                head_end=head_end,
                attempts=c.c.attempts + 1,
                next_attempt_at=None,
            )
        ).rowcount
        assert updated == 1, f"command {command_id} was not queued"

    def finish(
        self, correlation_id: str, state: str, at: dt.datetime, error: str | None
    ) -> dict[str, Any] | None:
        final = CommandState(state)
        assert final in {
            CommandState.ACKNOWLEDGED,
            CommandState.FAILED,
            CommandState.TIMED_OUT,
        }, f"{final.value} is not a head-end outcome"
        c = schema.meter_commands
        finishable = c.c.state == CommandState.SENT.value
        if final is CommandState.ACKNOWLEDGED:
            # An earlier attempt's confirmation, arriving while the retry waits in the queue.
            waiting_retry = and_(c.c.state == CommandState.QUEUED.value, c.c.attempts > 0)
            finishable = or_(finishable, waiting_retry)
        values: dict[str, Any] = {
            "state": final.value,
            "finished_at": _utc(at),
            "next_attempt_at": None,
        }
        if error is not None:
            values["last_error"] = error[:ERROR_CHARS_MAX]
        row = self.conn.execute(
            c.update()
            .where(c.c.correlation_id == correlation_id, finishable)
            .values(values)
            .returning(*c.c)
        ).first()
        return _utc_dict(row._mapping) if row else None

    def postpone(self, command_id: int, next_attempt_at: dt.datetime) -> None:
        c = schema.meter_commands
        updated = self.conn.execute(
            c.update()
            .where(c.c.id == command_id, c.c.state == CommandState.QUEUED.value)
            .values(next_attempt_at=_utc(next_attempt_at))
        ).rowcount
        assert updated == 1, f"command {command_id} was not queued"

    def retry_later(self, command_id: int, next_attempt_at: dt.datetime, error: str) -> None:
        c = schema.meter_commands
        updated = self.conn.execute(
            c.update()
            .where(c.c.id == command_id, c.c.state == CommandState.SENT.value)
            .values(
                state=CommandState.QUEUED.value,
                next_attempt_at=_utc(next_attempt_at),
                last_error=error[:ERROR_CHARS_MAX],
            )
        ).rowcount
        assert updated == 1, f"command {command_id} was not waiting for an answer"

    def list(self, account_id: int | None, state: str | None, limit: int) -> pl.DataFrame:
        c = schema.meter_commands
        stmt = select(c).order_by(c.c.created_at.desc(), c.c.id.desc()).limit(limit)
        if account_id is not None:
            stmt = stmt.where(c.c.account_id == account_id)
        if state is not None:
            stmt = stmt.where(c.c.state == CommandState(state).value)
        return self._frame(stmt)

    def _pick(self, stmt: Select[Any]) -> Select[Any]:
        """Hold the picked rows until commit; another dispatcher skips them (PostgreSQL)."""
        if self.conn.dialect.name == "postgresql":
            return stmt.with_for_update(skip_locked=True)
        return stmt

    def _frame(self, stmt: Select[Any]) -> pl.DataFrame:
        rows = [tuple(_utc_dict(r._mapping).values()) for r in self.conn.execute(stmt)]
        return pl.DataFrame(rows, schema=COMMAND_SCHEMA, orient="row")


def _utc(at: dt.datetime) -> dt.datetime:
    """Instants are stored as UTC (SQLite keeps the wall time and drops the zone)."""
    assert at.tzinfo is not None
    return at.astimezone(dt.UTC)


def _utc_dict(mapping: Any) -> dict[str, Any]:
    """A row in the table's column order; SQLite's naive instants made aware (they are UTC)."""
    return {
        name: (
            mapping[name].replace(tzinfo=dt.UTC)
            if isinstance(mapping[name], dt.datetime) and mapping[name].tzinfo is None
            else mapping[name]
        )
        for name in COMMAND_SCHEMA
    }
