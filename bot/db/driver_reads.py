"""Small reads run on a pooled DBAPI connection, outside SQLAlchemy's execution machinery.

Every reader's message reads a few tiny rows by key: the list a chat was shown, the
choices a WeChat reader was offered, a chat's language. Through a Core connection each
such read cost about 50 µs of Python (checkout, BEGIN, events, a result object, the
rollback), five times the query itself, and it runs for every message. A `DriverRead`
compiles its Core statement once per dialect and runs it on the pool's DBAPI connection
with the same bind and result processing SQLAlchemy would apply (a UTC datetime
parameter, a JSON column), so callers get the same values.

One SELECT is a consistent snapshot by itself: SQLite's connections are in autocommit
mode (`bot.db.engine`), and PostgreSQL's transaction is rolled back when the connection
goes back to the pool.

A `DriverWrite` is the same for one statement run over many rows inside the caller's
transaction (the push records every sent message: compiling the parameters of each row
through `Connection.execute` cost twice the statement). It goes through
`Connection.exec_driver_sql`, so its errors, the events and a lost connection's
invalidation are SQLAlchemy's as for any other write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Select, UpdateBase
from sqlalchemy.engine.interfaces import Dialect

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    #: Parameter names in order (qmark/format styles), or None for named styles.
    positions: tuple[str, ...] | None
    #: The statement's own values (its literals), already through their processors.
    defaults: Mapping[str, Any]
    binds: Mapping[str, Processor]
    results: Sequence[Processor]


class _Compiled:
    """A statement compiled once per dialect, with its bind and result processors."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self._statement = statement
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        with self._lock:
            plan = _compile(self._statement, dialect)
            self._plans[dialect.name] = plan
            return plan


class DriverRead(_Compiled):
    """One SELECT (a Core statement with `bindparam`s), compiled once per dialect."""

    def __init__(self, statement: Select[Any]) -> None:
        super().__init__(statement)

    def first(self, engine: Engine, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self.all(engine, params, limit=1)
        return rows[0] if rows else None

    def all(
        self, engine: Engine, params: Mapping[str, Any], limit: int | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows, on a connection of `engine`'s pool (one statement: its own snapshot)."""
        connection = engine.raw_connection()
        try:
            return self._run(connection, engine.dialect, params, limit)
        finally:
            connection.close()

    def all_in(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows, in `connection`'s open transaction (the snapshot its other reads see)."""
        return self._run(connection.connection, connection.dialect, params, None)

    def _run(
        self,
        dbapi_connection: Any,
        dialect: Dialect,
        params: Mapping[str, Any],
        limit: int | None,
    ) -> list[tuple[Any, ...]]:
        plan = self._plan(dialect)
        arguments = _arguments(plan, params)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, arguments)
            raw = cursor.fetchmany(limit) if limit else cursor.fetchall()
        finally:
            cursor.close()
        results = plan.results
        if not any(results):
            return [tuple(row) for row in raw]
        return [
            tuple(
                value if process is None else process(value)
                for process, value in zip(results, row, strict=True)
            )
            for row in raw
        ]


class DriverWrite(_Compiled):
    """One INSERT/UPDATE/DELETE (with `bindparam`s) run over many rows, compiled once
    per dialect, in the caller's transaction (see the module doc)."""

    def __init__(self, statement: UpdateBase) -> None:
        super().__init__(statement)

    def many(
        self,
        connection: Connection,
        rows: Sequence[Mapping[str, Any]],
        shared: Mapping[str, Any] | None = None,
    ) -> None:
        """Run the statement once per row of `rows` (one executemany); `shared`: the
        parameters every row has the same, bound (processed) once."""
        if not rows:
            return
        plan = self._plan(connection.dialect)
        base = {**plan.defaults, **_processed(plan.binds, shared or {})}
        connection.exec_driver_sql(plan.sql, [_arguments(plan, row, base) for row in rows])


def _arguments(
    plan: _Plan, params: Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> Any:
    """The DBAPI parameters of one execution: `base` (processed already; else the
    statement's defaults), then `params`, processed as SQLAlchemy would bind them; a
    tuple for positional styles, a dict for named ones."""
    values = {**(plan.defaults if base is None else base), **_processed(plan.binds, params)}
    return tuple(values[name] for name in plan.positions) if plan.positions is not None else values


def _processed(binds: Mapping[str, Processor], params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` through their binds' processors (a UTC datetime, a JSON value)."""
    return {
        name: value if (process := binds.get(name)) is None else process(value)
        for name, value in params.items()
    }


def _compile(statement: Select[Any] | UpdateBase, dialect: Dialect) -> _Plan:
    """The plan of `statement` on `dialect`; its defaults processed here, once."""
    compiled = statement.compile(dialect=dialect)
    selected = statement.selected_columns if isinstance(statement, Select) else ()
    binds = {
        name: bind.type.dialect_impl(dialect).bind_processor(dialect)
        for name, bind in compiled.binds.items()
    }
    defaults = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    return _Plan(
        sql=compiled.string,
        positions=tuple(compiled.positiontup) if compiled.positiontup else None,
        defaults=_processed(binds, defaults),
        binds=binds,
        results=[
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected
        ],
    )
