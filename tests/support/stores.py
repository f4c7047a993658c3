"""Stores for tests: the PostgreSQL a test may use, and settings for a store in tmp_path."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from bot.settings import Settings, load_settings

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(postgres_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return str(exc).splitlines()[0]
    return None


_POSTGRES_PROBLEM: list[str | None] = []


def require_postgres() -> None:
    if not _POSTGRES_PROBLEM:
        _POSTGRES_PROBLEM.append(_postgres_problem())
    problem = _POSTGRES_PROBLEM[0]
    if problem is None:
        return
    message = f"PostgreSQL at {postgres_url()} is not reachable: {problem}"
    if os.environ.get("PAPERBOT_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " (PAPERBOT_REQUIRE_POSTGRES=1)")
    pytest.skip("SKIPPING POSTGRESQL TEST — " + message)


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "telegram_bot_token": "",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped afterwards (each test, or
    a module's processes, get a store of their own on the one server)."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url())
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url() else "?"
    try:
        yield f"{postgres_url()}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def commits(engine: Engine) -> list[int]:
    """A list that grows by one entry at each COMMIT on `engine` (how many transactions
    a piece of work took)."""
    seen: list[int] = []

    @event.listens_for(engine, "commit")
    def _count(connection: Connection) -> None:
        seen.append(1)

    return seen
