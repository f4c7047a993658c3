"""SQLite's read-only engines and the writers' turn (bot/db/engine.py): reads that do
not queue behind a write, writes refused where only reads belong, and a turn that every
way of ending a transaction passes on. Real SQLite files, real threads."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bot.db.engine import make_engine, read_only, writer_turn


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    return engine


def count(engine: Engine) -> int:
    with read_only(engine).connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_read_does_not_wait_for_a_write_in_progress(engine: Engine) -> None:
    """A writer holds the write lock (BEGIN IMMEDIATE, not committed): a read-only
    transaction reads the last committed state meanwhile; an IMMEDIATE one would wait
    for the lock (busy_timeout) and fail."""
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (2)"))
        assert count(engine) == 1
    assert count(engine) == 2


def test_a_read_only_engine_refuses_writes_and_leaves_the_writers_alone(engine: Engine) -> None:
    with pytest.raises(OperationalError, match="readonly"), read_only(engine).begin() as c:
        c.execute(text("INSERT INTO t VALUES (3)"))
    with engine.begin() as connection:  # the writers' connections are not read-only
        connection.execute(text("INSERT INTO t VALUES (4)"))
    assert count(engine) == 2
    assert read_only(engine) is read_only(engine)


def test_an_in_memory_store_reads_through_its_own_pool() -> None:
    """One in-memory database per pool: its reads cannot have a pool of their own."""
    engine = make_engine("sqlite://")
    assert read_only(engine).pool is engine.pool


def test_every_end_of_a_transaction_passes_the_turn_on(engine: Engine) -> None:
    turn = writer_turn(engine)
    assert turn is not None and not turn.held
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (5)"))
        assert turn.held
    assert not turn.held
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (6)"))
        raise RuntimeError("rolled back")
    assert not turn.held
    # Abandoned without close: the pool's reset on check-in rolls it back.
    abandoned = engine.connect()
    abandoned.execute(text("INSERT INTO t VALUES (7)"))
    assert turn.held
    del abandoned
    gc.collect()
    assert not turn.held
    assert count(engine) == 2  # 1 and 5


def test_writers_of_several_threads_all_commit(engine: Engine) -> None:
    def write(n: int) -> None:
        for i in range(50):
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": n * 100 + i})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(engine) == 1 + 4 * 50
    turn = writer_turn(engine)
    assert turn is not None and not turn.held
