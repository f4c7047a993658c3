"""Shared fixtures: real SQLite files and a real PostgreSQL, never mocks.

`database_url` runs a test once per backend. PostgreSQL comes from TEST_POSTGRES_URL
(default: the local server on 127.0.0.1:5432, database `test`); each test gets its own
schema, dropped afterwards. Without a reachable server those tests skip loudly, and
with PAPERBOT_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.app import Core, build_core
from bot.settings import Settings, load_settings

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
#: A copy of the column's first issue (shared/seeds/), with its provenance beside it.
SEED_FILE = DATA_DIR / "seed" / "000_cb3296d70b69ad59.txt"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

sys.path.insert(0, str(TESTS_DIR))
#: The arXiv watcher's local stand-in for arXiv and its fixtures (arxiv_server, arxiv_core).
pytest_plugins = ["arxiv_server"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a `paperbot run` process's HTTP_PORT
    (processes of parallel test runs must not all bind the default 8080)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url())
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url() else "?"
    yield f"{postgres_url()}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paperbot.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'paperbot.db'}"


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "telegram_bot_token": "",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def core(settings: Settings) -> Iterator[Core]:
    """A migrated, empty store on the test's backend (not seeded from content/)."""
    built = build_core(settings, seed=False)
    yield built
    built.close()


@pytest.fixture
def seeded_core(settings: Settings) -> Iterator[Core]:
    """A store seeded from the repository's content/, as on a first start."""
    built = build_core(settings, seed=True)
    yield built
    built.close()


@pytest.fixture
def seed_file() -> Path:
    assert SEED_FILE.is_file(), f"the column's first issue is missing at {SEED_FILE}"
    return SEED_FILE
