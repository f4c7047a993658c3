"""Shared fixtures: real SQLite files and a real PostgreSQL, never mocks.

`database_url` runs a test once per backend. PostgreSQL comes from TEST_POSTGRES_URL
(default: the local server on 127.0.0.1:5432, database `test`); each test gets its own
schema, dropped afterwards. Without a reachable server those tests skip loudly, and
with PAPERBOT_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import Core, build_core
from bot.settings import Settings
from tests.support.paths import SEED_FILE
from tests.support.stores import fresh_postgres_schema, make_settings

#: Figures tests report with `record_property("counts", text)`, shown after the run.
_COUNTS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the counts (under xdist, reports carry them from the workers)."""
    if report.when == "call":
        _COUNTS.extend((report.nodeid, str(v)) for k, v in report.user_properties if k == "counts")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault tests' counts in the output even with -n and no -s (CI's run)."""
    if _COUNTS:
        terminalreporter.section("counts")
        for nodeid, text in _COUNTS:
            terminalreporter.write_line(f"{nodeid}: {text}")


#: The arXiv watcher's local stand-in for arXiv and its fixtures (arxiv_server, arxiv_core);
#: a private PostgreSQL a test may restart (private_pg).
pytest_plugins = ["tests.support.fake_arxiv", "tests.support.private_postgres"]


@pytest.fixture(autouse=True)
def _paperbot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real data directory (~/.local/share/paperbot): the
    settings and every `paperbot` process a test starts see a temporary PAPERBOT_HOME."""
    monkeypatch.setenv("PAPERBOT_HOME", str(tmp_path / "paperbot-home"))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client, as the bot's, for tests that call a fake API directly."""
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paperbot.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'paperbot.db'}"


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
