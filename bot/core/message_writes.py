"""One transaction for what one message writes.

Answering a reader's message writes a few small rows: the list the chat was shown (so
`/review N` opens item N), a search's paging token, a WeChat reader's numbered choices.
Each used to be a transaction of its own, and a transaction is most of what such a write
costs (a pooled connection, BEGIN, the ORM's unit of work, COMMIT). Inside
`one_transaction()` the stores hand their writes here instead (`write`), and they are
run together in a single transaction when the message has been answered, before any
reply goes out: the rows are all there or, if answering failed, none of them is (nothing
half-written), and the next message, whichever process gets it, finds them. Outside a
message (a job, a test, the console's notifier) `write` runs the work at once, in its
own transaction, as before.

Each piece of work is an upsert or a read-then-upsert on a connection, so a batch never
depends on another process not having written the same row first.

From a coroutine (`one_transaction_in_thread`, the channels' way), a message's writes are
one job of the engine's group writer (bot/db/group_commit.py): the messages answered
while it was committing are committed together in its next transaction, each message's
works in a savepoint of its own, so one message's failure rolls back that message's
writes only, and each caller resumes once its writes have committed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, bindparam, text, update
from sqlalchemy.exc import IntegrityError

from bot.db import group_commit

#: A store's write: run on the message's connection; may return what to do once the
#: transaction has committed (a cache of what the store now holds).
Work = Callable[[Connection], Callable[[], None] | None]

_batch: ContextVar[list[tuple[Engine, Work]] | None] = ContextVar("message_writes", default=None)


def write(engine: Engine, work: Work) -> None:
    """Run `work` in the current message's transaction (at its end), or now."""
    batch = _batch.get()
    if batch is None:
        _run(engine, [work])
    else:
        batch.append((engine, work))


def collecting() -> bool:
    """Whether `write` only collects (a message's transaction is open): a caller may
    then skip the worker thread it would use for a write of its own."""
    return _batch.get() is not None


@contextmanager
def _collected() -> Iterator[list[tuple[Engine, Work]] | None]:
    """The writes made within, to run at the end; None inside an outer collection
    (whose end runs them)."""
    if _batch.get() is not None:
        yield None
        return
    batch: list[tuple[Engine, Work]] = []
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)


@contextmanager
def one_transaction() -> Iterator[None]:
    """Collect the writes made within (this task and the threads it starts) and run
    them in one transaction at the end; nested uses join the outermost one. If the
    block raises, its writes are dropped."""
    with _collected() as batch:
        yield
    if batch:
        flush(batch)


def one_transaction_in_thread() -> AbstractAsyncContextManager[None]:
    """`one_transaction` for a coroutine: the commit runs off the event loop, in the
    engine's group writer, with the writes of the other messages answered meanwhile
    (each message's still all there or none)."""
    return _OneTransactionInThread()


class _OneTransactionInThread:
    """`one_transaction_in_thread` as a plain class, not `@asynccontextmanager` over
    `_collected`: every answered message enters it, and the two generator-based context
    managers (an async generator, a generator, their frames) were a fortieth of an
    answered Telegram update's CPU, entering and leaving this one a fraction of that.
    The same contract: nested uses join the outermost; a block that raises drops its
    writes; the outermost flushes once its block is done."""

    __slots__ = ("_batch", "_token")

    def __init__(self) -> None:
        self._batch: list[tuple[Engine, Work]] | None = None
        self._token: Token[list[tuple[Engine, Work]] | None] | None = None

    async def __aenter__(self) -> None:
        if _batch.get() is None:  # else an outer collection runs what is written here
            self._batch = []
            self._token = _batch.set(self._batch)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        _batch.reset(self._token)
        self._token = None
        batch, self._batch = self._batch, None
        if exc_type is None and batch:
            await flush_grouped(batch)


async def flush_grouped(batch: list[tuple[Engine, Work]]) -> None:
    """`flush` through the engines' group writers: each engine's works are one job (one
    savepoint of a shared transaction); the caches are updated once it committed."""
    while batch:
        engine = batch[0][0]
        works = [work for bound, work in batch if bound is engine]
        batch[:] = [(bound, work) for bound, work in batch if bound is not engine]
        for done in await group_commit.writer(engine).run(functools.partial(_works, works)):
            done()


def _works(works: Sequence[Work], connection: Connection) -> list[Callable[[], None]]:
    return [done for work in works if (done := work(connection)) is not None]


def flush(batch: list[tuple[Engine, Work]]) -> None:
    """Run and empty a batch: one transaction per engine (in practice one)."""
    while batch:
        engine = batch[0][0]
        works = [work for bound, work in batch if bound is engine]
        batch[:] = [(bound, work) for bound, work in batch if bound is not engine]
        _run(engine, works)


def _run(engine: Engine, works: Sequence[Work]) -> None:
    for attempt in range(2):
        try:
            with engine.begin() as connection:
                after = _works(works, connection)
            break
        except IntegrityError:
            # Another process inserted one of the rows between a read and its insert
            # (PostgreSQL without ON CONFLICT support is the only way): once more, now
            # finding the row.
            if attempt:
                raise
    for done in after:
        done()


def upsert(
    connection: Connection,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    updates: Sequence[str],
) -> None:
    """Insert `values` (every column of `table`) or, when a row with the same `keys`
    exists, set its `updates`:
    one statement on SQLite and PostgreSQL (ON CONFLICT), update-then-insert elsewhere.
    The statement is built once and the values passed as parameters: building and
    keying a statement per call cost more than running it."""
    name = connection.dialect.name
    if name in ("sqlite", "postgresql"):
        connection.execute(_upsert_statement(name, table, tuple(keys), tuple(updates)), values)
        return
    where = [table.c[key] == values[key] for key in keys]
    changed = connection.execute(
        update(table).where(*where).values({column: values[column] for column in updates})
    )
    if changed.rowcount == 0:
        connection.execute(table.insert(), values)


@functools.cache
def _upsert_statement(
    dialect: str, table: Table, keys: tuple[str, ...], updates: tuple[str, ...]
) -> Executable:
    """The same ON CONFLICT statement on both dialects, as text with typed parameters
    (JSON, UTC datetimes still converted): the dialects' own `insert().on_conflict_*`
    constructs are not cacheable, so SQLAlchemy would compile them on every execution."""
    del dialect  # one SQL text serves both; the key keeps a cache entry per dialect
    columns = [column.name for column in table.columns]
    quoted = {column: f'"{column}"' for column in columns}  # "key", "items": quoted
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(quoted.values())}) '
        f"VALUES ({', '.join(':' + column for column in columns)}) "
        f"ON CONFLICT ({', '.join(quoted[key] for key in keys)}) DO UPDATE SET "
        + ", ".join(f"{quoted[column]} = excluded.{quoted[column]}" for column in updates)
    )
    return text(sql).bindparams(
        *(bindparam(column, type_=table.c[column].type) for column in columns)
    )
