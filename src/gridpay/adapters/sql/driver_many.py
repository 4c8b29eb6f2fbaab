"""One INSERT or UPDATE for many rows, bound by the driver's ``executemany``.

SQLAlchemy's own ``executemany`` runs each row's parameters through the compiled statement's
machinery (a dictionary of every parameter, its type's processor), which for a short UPDATE
costs more than the row's work in the database: the dispatcher records a burst's
confirmations with four such statements per command. ``ManyRows`` compiles its statement
once per dialect and binds each row's own values only (the statement's constants once), each
through its type's bind processor as SQLAlchemy would; the SQL still runs on the connection
(its transaction and its cursor events).

For statements of plain bound values: no expanding ``IN`` (``executemany`` refuses those
anyway), no parameters rendered as literals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class _Plan:
    sql: str
    positional: bool
    names: tuple[str, ...]  # every parameter, in the positional order
    constants: tuple[tuple[int, Any], ...]  # (position, bound value) of the statement's own
    varying: tuple[tuple[int, str, Callable[[Any], Any] | None], ...]  # each row's values

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        template: list[Any] = [None] * len(self.names)
        for position, value in self.constants:
            template[position] = value
        bound = []
        for row in rows:
            values = template.copy()
            for position, name, process in self.varying:
                value = row[name]
                values[position] = value if process is None else process(value)
            bound.append(
                tuple(values) if self.positional else dict(zip(self.names, values, strict=True))
            )
        return bound


class ManyRows:
    """``ManyRows(statement).execute(conn, rows)``: what ``conn.execute(statement, rows)``
    does, binding each row's values through the driver."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _plan(self.statement, dialect)
        conn.exec_driver_sql(plan.sql, plan.parameters(rows))


def _plan(statement: Executable, dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup) if positional else tuple(compiled.bind_names.values())
    constants, varying = [], []
    for position, name in enumerate(names):
        bind = compiled.binds[name]
        assert not bind.expanding and not bind.literal_execute, f"{name} is not a plain value"
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.required:
            varying.append((position, bind.key, process))
        else:
            value = bind.effective_value
            constants.append((position, value if process is None else process(value)))
    return _Plan(compiled.string, positional, names, tuple(constants), tuple(varying))
