"""Group commit: the small write transactions of many messages as one.

Each message a reader sends writes twice: its dedupe claim (`inbound_dedupe`, committed
before the message is handled) and, once answered, what answering it collected
(`message_writes`: the chat's list, a paging token, numbered choices). Each was a
transaction of its own in a worker thread of its own, and on SQLite the writers of one
process take turns (`engine.WriterTurn`): at a few hundred WeChat callbacks a second a
third of the time went to waiting for the turn and to BEGIN/COMMIT, not to the rows.

So every engine has one writer thread (`writer(engine)`) that drains a queue: the jobs
that arrived while it was committing the last batch are run in the next transaction,
one BEGIN/COMMIT (and one thread hop) for all of them. The guarantees are a single
transaction's:

- a caller learns its job's outcome only after the transaction holding it has
  committed (a claim is in the store, for this process and any other, before its
  message is handled);
- a job is all-or-nothing: each runs in a SAVEPOINT of its own (`isolated`), so one
  job's failure rolls back that job alone and the batch's others still commit; a job
  whose failure can only be the whole transaction's (`isolated=False`, e.g. an
  `INSERT ... ON CONFLICT DO NOTHING`) saves the savepoint's two statements;
- if the transaction itself fails (COMMIT, a lost connection, an aborted PostgreSQL
  transaction), each of its jobs is run again alone, so every caller gets its own
  outcome, not a neighbour's error.

The same on PostgreSQL, where one transaction per batch is as valid (the jobs are
upserts and conflict-free inserts, decided by the database's constraints, not by what
the job read first). The thread ends when it has been idle `IDLE_SECONDS` (a store
used once does not keep a thread) and is started again by the next job; `close`
(the core's, at process stop) waits until every queued job has been committed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A job: run on the batch's connection, inside its transaction.
Job = Callable[[Connection], T]

#: The most jobs in one transaction: a bound on how long the write lock is held.
MAX_BATCH = 256
#: A writer thread idle this long ends (the next job starts another).
IDLE_SECONDS = 2.0


@dataclass(eq=False)
class _Pending(Generic[T]):
    """A queued job and where its outcome goes: an asyncio future (settled on its loop,
    one call per loop and batch) or a thread waiting on `event`."""

    job: Job[T]
    isolated: bool
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[T] | None = None
    event: threading.Event | None = None
    ok: bool = False
    #: The job's result (ok) or the exception it raised.
    value: Any = field(default_factory=lambda: RuntimeError("the group writer stopped"))


class GroupWriter:
    """The writer of one engine: runs queued jobs in shared transactions (see above)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._queue: deque[_Pending[Any]] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False
        #: Jobs committed and the transactions they took (their ratio: how much grouping
        #: saved), for the log line at close.
        self.jobs = 0
        self.batches = 0

    async def run(self, job: Job[T], *, isolated: bool = True) -> T:
        """Run `job` in the next batch; return once its transaction has committed (or
        raise what the job raised, its writes rolled back)."""
        loop = asyncio.get_running_loop()
        pending: _Pending[T] = _Pending(job, isolated, loop=loop, future=loop.create_future())
        self._submit(pending)
        assert pending.future is not None
        return await pending.future

    def run_sync(self, job: Job[T], *, isolated: bool = True) -> T:
        """`run` for a thread (not the writer's own: it would wait for itself)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a group writer's job cannot wait for another job")
        pending: _Pending[T] = _Pending(job, isolated, event=threading.Event())
        self._submit(pending)
        assert pending.event is not None
        pending.event.wait()
        if not pending.ok:
            raise pending.value
        return pending.value  # type: ignore[no-any-return]

    def post(self, job: Job[Any]) -> None:
        """Run `job` in a coming batch without waiting for it (a failure is logged)."""
        self._submit(_Pending(job, True))

    def close(self) -> None:
        """Wait until every job queued so far has been committed (process stop). The
        writer can be used again afterwards (a new thread starts)."""
        with self._lock:
            thread = self._thread
            self._closing = True
            self._work.notify()
        try:
            if thread is not None:
                thread.join()
        finally:
            with self._lock:
                self._closing = False
        if self.batches:
            log.info(
                "group commit: %d writes in %d transactions (%.1f a transaction)",
                self.jobs,
                self.batches,
                self.jobs / self.batches,
            )

    @property
    def queued(self) -> int:
        """Jobs waiting for the next batch (not the one being committed)."""
        return len(self._queue)

    def _submit(self, pending: _Pending[Any]) -> None:
        with self._lock:
            self._queue.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="paperbot-group-writer", daemon=True
                )
                self._thread.start()
            else:
                self._work.notify()

    def _drain(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._queue and not self._closing:
                        self._work.wait(IDLE_SECONDS)
                    if not self._queue:
                        # Under the lock: a job submitted from now on starts a thread.
                        self._thread = None
                        return
                    count = min(len(self._queue), MAX_BATCH)
                    batch = [self._queue.popleft() for _ in range(count)]
                try:
                    self._commit(batch)
                finally:
                    _deliver(batch)
                self.jobs += len(batch)
                self.batches += 1
        finally:
            # Also when the thread dies of a BaseException: the next job starts another.
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _commit(self, batch: list[_Pending[Any]]) -> None:
        """Run `batch` in one transaction; each job's outcome on its entry."""
        if len(batch) == 1:
            # Alone, the transaction is the job's savepoint.
            self._alone(batch[0])
            return
        try:
            with self._engine.begin() as connection:
                for pending in batch:
                    if pending.isolated:
                        _in_savepoint(connection, pending)
                    else:
                        pending.value, pending.ok = pending.job(connection), True
        except Exception:
            log.warning(
                "a batch of %d writes failed as a whole; each is run alone",
                len(batch),
                exc_info=True,
            )
            for pending in batch:
                self._alone(pending)

    def _alone(self, pending: _Pending[Any]) -> None:
        """The job in a transaction of its own. An IntegrityError is retried once:
        another process inserted a row between the job's read and its insert (where
        there is no ON CONFLICT), and the second run finds it."""
        _run_in(pending, self._engine.begin)


def _in_savepoint(connection: Connection, pending: _Pending[Any]) -> None:
    """The job in a SAVEPOINT of the batch's transaction, retried once on an
    IntegrityError (as `_alone`); a failure rolls back this job's writes only."""
    _run_in(pending, lambda: _savepoint(connection))


@contextmanager
def _savepoint(connection: Connection) -> Iterator[Connection]:
    with connection.begin_nested():
        yield connection


def _run_in(
    pending: _Pending[Any], scope: Callable[[], AbstractContextManager[Connection]]
) -> None:
    """Run the job inside `scope` (a transaction or a savepoint, rolled back if the job
    raises) and record its outcome; an IntegrityError is tried once more (see `_alone`)."""
    for attempt in range(2):
        try:
            with scope() as connection:
                value = pending.job(connection)
        except IntegrityError as exc:
            if attempt:
                pending.value, pending.ok = exc, False
                return
        except Exception as exc:
            pending.value, pending.ok = exc, False
            return
        else:
            pending.value, pending.ok = value, True
            return


def _deliver(batch: list[_Pending[Any]]) -> None:
    """Each outcome to its caller: threads woken, futures settled with one
    `call_soon_threadsafe` per event loop (each such call writes to the loop's pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Pending[Any]]] = {}
    for pending in batch:
        if pending.event is not None:
            pending.event.set()
        elif pending.loop is not None:
            by_loop.setdefault(pending.loop, []).append(pending)
        elif not pending.ok:
            log.error("a posted write failed", exc_info=pending.value)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:
            log.warning("%d writes committed for a closed event loop", len(settled))


def _settle(settled: list[_Pending[Any]]) -> None:
    for pending in settled:
        future = pending.future
        if future is None or future.done():  # the caller was cancelled
            continue
        if pending.ok:
            future.set_result(pending.value)
        else:
            future.set_exception(pending.value)


_WRITERS: weakref.WeakKeyDictionary[Engine, GroupWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def writer(engine: Engine) -> GroupWriter:
    """The engine's group writer (one per engine, made on first use)."""
    found = _WRITERS.get(engine)
    if found is not None:
        return found
    with _WRITERS_LOCK:
        found = _WRITERS.get(engine)
        if found is None:
            found = _WRITERS[engine] = GroupWriter(engine)
        return found


def close(engine: Engine) -> None:
    """Commit what the engine's writer still holds (before the engine is disposed)."""
    found = _WRITERS.get(engine)
    if found is not None:
        found.close()
