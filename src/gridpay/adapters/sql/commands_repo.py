"""SQL: remote meter commands.

Every state change is one conditional UPDATE on the command's current state, so a late or
repeated head-end result, or two dispatchers racing, can never move a command twice. On
PostgreSQL the commands a dispatcher picks (``due``, ``sent_before``, ``get``) are row-locked
until commit and skipped by other dispatchers; SQLite's single writer serializes them anyway.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import polars as pl
from sqlalchemy import Connection, Select, and_, bindparam, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.adapters.sql.driver_many import ManyRows
from gridpay.domain.commands import (
    COMMAND_SCHEMA,
    STORED_COMMAND_SCHEMA,
    CommandAction,
    CommandState,
    MeterCommand,
)

ENQUEUE_COLUMNS = tuple(COMMAND_SCHEMA)


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
        params = {
            "b_account_id": account_id,
            "b_action": CommandAction(action).value,
            "b_finished_at": _utc(at),
        }
        return int(self.conn.execute(_CANCEL_QUEUED, params).rowcount)

    def anything_to_do(self, now: dt.datetime, deadline: dt.datetime) -> bool:
        params = {"now": _utc(now), "deadline": _utc(deadline)}
        due, silent = self.conn.execute(_ANYTHING_TO_DO, params).one()
        return bool(due) or bool(silent)

    def due(self, now: dt.datetime, limit: int) -> list[MeterCommand]:
        return _picked(self.conn, _DUE, {"now": _utc(now), "limit": limit})

    def sent_before(self, deadline: dt.datetime, limit: int) -> list[MeterCommand]:
        return _picked(self.conn, _SENT_BEFORE, {"deadline": _utc(deadline), "limit": limit})

    def get(self, correlation_id: str) -> MeterCommand | None:
        row = self.conn.execute(
            _GET.locked if _locks(self.conn) else _GET.plain, {"correlation_id": correlation_id}
        ).first()
        return _command(row) if row else None

    def mark_sent(self, command_id: int, at: dt.datetime, head_end: str) -> None:
        params = {"b_id": command_id, "b_sent_at": _utc(at), "b_head_end": head_end}
        updated = self.conn.execute(_MARK_SENT, params).rowcount
        assert updated == 1, f"command {command_id} was not queued"

    def mark_sent_many(self, command_ids: Sequence[int], at: dt.datetime, head_end: str) -> None:
        if not command_ids:
            return
        params = {"b_ids": list(command_ids), "b_sent_at": _utc(at), "b_head_end": head_end}
        updated = self.conn.execute(_MARK_SENT_MANY, params).rowcount
        assert updated == len(set(command_ids)), f"of {len(command_ids)} commands, {updated} queued"

    def acknowledge_many(
        self, confirmations: Sequence[tuple[str, dt.datetime]]
    ) -> dict[str, MeterCommand]:
        first: dict[str, dt.datetime] = {}
        for cid, at in confirmations:
            first.setdefault(cid, at)
        if not first:
            return {}
        statement = _BY_CORRELATION.locked if _locks(self.conn) else _BY_CORRELATION.plain
        rows = [_command(r) for r in self.conn.execute(statement, {"cids": list(first)})]
        # As ``finish``: a sent command, or one waiting for a retry (an earlier attempt did
        # reach the meter). The rows are held (PostgreSQL) or the writer is alone (SQLite).
        taken = {
            c.correlation_id: c
            for c in rows
            if c.state is CommandState.SENT or (c.state is CommandState.QUEUED and c.attempts > 0)
        }
        if taken:
            updates = [
                {"b_id": c.id, "b_finished_at": _utc(first[cid]), "b_state": c.state.value}
                for cid, c in taken.items()
            ]
            _ACKNOWLEDGE.execute(self.conn, updates)
        return taken

    def finish(
        self, correlation_id: str, state: str, at: dt.datetime, error: str | None
    ) -> MeterCommand | None:
        final = CommandState(state)
        assert final in {
            CommandState.ACKNOWLEDGED,
            CommandState.FAILED,
            CommandState.TIMED_OUT,
        }, f"{final.value} is not a head-end outcome"
        params: dict[str, Any] = {
            "b_correlation_id": correlation_id,
            "b_state": final.value,
            "b_finished_at": _utc(at),
        }
        if error is not None:
            params["b_last_error"] = error[: limits.command_error_chars_max]
        statement = _finish(final is CommandState.ACKNOWLEDGED, error is not None)
        row = self.conn.execute(statement, params).first()
        return _command(row) if row else None

    def postpone(self, command_id: int, next_attempt_at: dt.datetime) -> None:
        params = {"b_id": command_id, "b_next_attempt_at": _utc(next_attempt_at)}
        updated = self.conn.execute(_POSTPONE, params).rowcount
        assert updated == 1, f"command {command_id} was not queued"

    def retry_later(self, command_id: int, next_attempt_at: dt.datetime, error: str) -> None:
        params = {
            "b_id": command_id,
            "b_next_attempt_at": _utc(next_attempt_at),
            "b_last_error": error[: limits.command_error_chars_max],
        }
        updated = self.conn.execute(_RETRY_LATER, params).rowcount
        assert updated == 1, f"command {command_id} was not waiting for an answer"

    def list(self, account_id: int | None, state: str | None, limit: int) -> pl.DataFrame:
        c = schema.meter_commands
        stmt = select(c).order_by(c.c.created_at.desc(), c.c.id.desc()).limit(limit)
        if account_id is not None:
            stmt = stmt.where(c.c.account_id == account_id)
        if state is not None:
            stmt = stmt.where(c.c.state == CommandState(state).value)
        rows = [tuple(_utc_dict(r._mapping).values()) for r in self.conn.execute(stmt)]
        return pl.DataFrame(rows, schema=STORED_COMMAND_SCHEMA, orient="row")


def _locks(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _picked(conn: Connection, pick: _Pick, params: dict[str, Any]) -> list[MeterCommand]:
    """Hold the picked rows until commit; another dispatcher skips them (PostgreSQL)."""
    statement = pick.locked if _locks(conn) else pick.plain
    return [_command(r) for r in conn.execute(statement, params)]


# --- statements, built once: a dispatch pass runs a few of them, thousands of times a day ------


class _Pick(NamedTuple):
    plain: Select[Any]
    locked: Select[Any]  # PostgreSQL: held until commit, and rows held elsewhere skipped


def _param(column: str) -> Any:
    """A bound parameter ``b_<column>`` typed as the column (a bound parameter of an UPDATE may
    not take a column's own name)."""
    return bindparam(f"b_{column}", type_=_C.c[column].type)


def _picking(stmt: Select[Any]) -> _Pick:
    return _Pick(stmt, stmt.with_for_update(skip_locked=True))


_C = schema.meter_commands
_QUEUED, _SENT = CommandState.QUEUED.value, CommandState.SENT.value
_BY_ID = _C.c.id == _param("id")
_DUE_NOW = and_(
    _C.c.state == _QUEUED,
    or_(
        _C.c.next_attempt_at.is_(None),
        _C.c.next_attempt_at <= bindparam("now", type_=_C.c.next_attempt_at.type),
    ),
)
_SILENT = and_(_C.c.state == _SENT, _C.c.sent_at < bindparam("deadline", type_=_C.c.sent_at.type))

_ANYTHING_TO_DO = select(exists().where(_DUE_NOW), exists().where(_SILENT))
_DUE = _picking(
    select(_C)
    .where(_DUE_NOW)
    .order_by(_C.c.priority, _C.c.created_at, _C.c.id)
    .limit(bindparam("limit"))
)
_SENT_BEFORE = _picking(
    select(_C).where(_SILENT).order_by(_C.c.sent_at, _C.c.id).limit(bindparam("limit"))
)
_GET_STMT = select(_C).where(_C.c.correlation_id == bindparam("correlation_id"))
_GET = _Pick(_GET_STMT, _GET_STMT.with_for_update())
_CANCEL_QUEUED = (
    _C.update()
    .where(
        _C.c.account_id == _param("account_id"),
        _C.c.action == _param("action"),
        _C.c.state == _QUEUED,
    )
    .values(
        state=CommandState.CANCELLED.value, finished_at=_param("finished_at"), next_attempt_at=None
    )
)
_MARK_SENT = (
    _C.update()
    .where(_BY_ID, _C.c.state == _QUEUED)
    .values(
        state=_SENT,
        sent_at=_param("sent_at"),
        head_end=_param("head_end"),
        attempts=_C.c.attempts + 1,
        next_attempt_at=None,
    )
)
_MARK_SENT_MANY = (
    _C.update()
    .where(_C.c.id.in_(bindparam("b_ids", expanding=True)), _C.c.state == _QUEUED)
    .values(
        state=_SENT,
        sent_at=_param("sent_at"),
        head_end=_param("head_end"),
        attempts=_C.c.attempts + 1,
        next_attempt_at=None,
    )
)
_BY_CORRELATION_STMT = select(_C).where(_C.c.correlation_id.in_(bindparam("cids", expanding=True)))
# Held, not skipped: a result must not pass as late because another dispatcher holds its row.
_BY_CORRELATION = _Pick(_BY_CORRELATION_STMT, _BY_CORRELATION_STMT.with_for_update())
# Run with each row's state as read under the lock: the condition only guards the assumption.
_ACKNOWLEDGE = ManyRows(
    _C.update()
    .where(_BY_ID, _C.c.state == bindparam("b_state", type_=_C.c.state.type))
    .values(
        state=CommandState.ACKNOWLEDGED.value,
        finished_at=_param("finished_at"),
        next_attempt_at=None,
    )
)
_POSTPONE = (
    _C.update()
    .where(_BY_ID, _C.c.state == _QUEUED)
    .values(next_attempt_at=_param("next_attempt_at"))
)
_RETRY_LATER = (
    _C.update()
    .where(_BY_ID, _C.c.state == _SENT)
    .values(
        state=_QUEUED,
        next_attempt_at=_param("next_attempt_at"),
        last_error=_param("last_error"),
    )
)


@functools.cache
def _finish(acknowledged: bool, with_error: bool) -> Any:
    """The UPDATE ... RETURNING of ``finish``, in each of its four shapes."""
    finishable = _C.c.state == _SENT
    if acknowledged:
        # An earlier attempt's confirmation, arriving while the retry waits in the queue.
        waiting_retry = and_(_C.c.state == _QUEUED, _C.c.attempts > 0)
        finishable = or_(finishable, waiting_retry)
    values: dict[str, Any] = {
        "state": _param("state"),
        "finished_at": _param("finished_at"),
        "next_attempt_at": None,
    }
    if with_error:
        values["last_error"] = _param("last_error")
    return (
        _C.update()
        .where(_C.c.correlation_id == _param("correlation_id"), finishable)
        .values(values)
        .returning(*_C.c)
    )


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
        for name in STORED_COMMAND_SCHEMA
    }


_ACTIONS = {a.value: a for a in CommandAction}
_STATES = {s.value: s for s in CommandState}
# A row of ``select(meter_commands)`` is a ``MeterCommand`` field by field (checked here), so
# one is built by position: the dispatcher builds one per command it sends and confirms.
assert tuple(_C.c.keys()) == tuple(f.name for f in dataclasses.fields(MeterCommand))


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def _command(row: Any) -> MeterCommand:
    (id_, cid, account_id, meter_id, action, priority, state, attempts) = row[:8]
    created_at, next_attempt_at, sent_at, finished_at, head_end, last_error = row[8:]
    assert created_at is not None
    return MeterCommand(
        id_,
        cid,
        account_id,
        meter_id,
        _ACTIONS[action],
        priority,
        _STATES[state],
        attempts,
        created_at.replace(tzinfo=dt.UTC) if created_at.tzinfo is None else created_at,
        _aware(next_attempt_at),
        _aware(sent_at),
        _aware(finished_at),
        head_end,
        last_error,
    )
