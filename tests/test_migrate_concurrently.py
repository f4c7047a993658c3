"""Any number of processes may migrate one database at once (the release step and
every `paperbot run`): PostgreSQL under an advisory lock, SQLite under BEGIN IMMEDIATE."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.app import build_core
from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.migrate import SchemaOutOfDateError
from tests.support.stores import make_settings

PROCESSES = 3


def test_three_db_upgrades_at_once_all_succeed(database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": "",
    }
    command = [str(Path(sys.executable).parent / "paperbot"), "db", "upgrade"]
    started = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    outcomes = [process.communicate(timeout=120) for process in started]
    for process, (_out, err) in zip(started, outcomes, strict=True):
        assert process.returncode == 0, err.decode()
    engine = make_engine(database_url)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    engine.dispose()


def test_three_cores_built_at_once_on_a_fresh_store(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    errors: list[BaseException] = []
    barrier = threading.Barrier(PROCESSES)

    def build() -> None:
        barrier.wait()
        try:
            build_core(settings, seed=True).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(PROCESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    core = build_core(settings, upgrade=False, seed=False)
    try:
        assert migrate.current_revision(core.engine) == migrate.head_revision(core.engine)
        assert core.reviews.count() > 0  # seeded once, not failed by a racing seed
    finally:
        core.close()


def test_no_auto_upgrade_refuses_an_old_schema(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0005")
    engine.dispose()
    settings = make_settings(database_url, tmp_path, db_auto_upgrade=False)
    with pytest.raises(SchemaOutOfDateError, match="paperbot db upgrade"):
        build_core(settings, seed=False)
    engine = make_engine(database_url)
    assert migrate.current_revision(engine) == "0005"
    engine.dispose()


def test_no_auto_upgrade_at_the_shell_is_one_clear_line(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine, "0005")
    engine.dispose()
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "DATA_DIR": str(tmp_path / "data"),
        "DB_AUTO_UPGRADE": "false",
    }
    paperbot = str(Path(sys.executable).parent / "paperbot")
    refused = subprocess.run(
        [paperbot, "reviews"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "the database is at revision 0005" in refused.stderr
    assert "Traceback" not in refused.stderr
    upgraded = subprocess.run(
        [paperbot, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert upgraded.returncode == 0
    listed = subprocess.run(
        [paperbot, "reviews"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
