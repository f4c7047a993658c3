"""The web archive under test: its channel's routes on a Starlette app with the
channel's own start and stop as the lifespan, over a real store, through Starlette's
TestClient (real ASGI, real HTTP semantics, no server process)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.app import Core
from bot.channels.web import WebChannel
from bot.core.reviews import ReviewView


def web_app(
    core: Core,
    bot_username: Callable[[], str | None] = lambda: None,
    channel: WebChannel | None = None,
) -> Starlette:
    """The channel's routes (a new channel on `core`, or the one given) as an app."""
    channel = channel or WebChannel(core.settings, core.reviews, core.search, bot_username)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await channel.start()
        try:
            yield
        finally:
            await channel.stop()

    return Starlette(routes=channel.routes(), lifespan=lifespan)


@contextmanager
def web_client(core: Core) -> Iterator[TestClient]:
    with TestClient(web_app(core), follow_redirects=False) as client:
        yield client


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """True as soon as `check()` is (the web notices changes in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def add_review(
    core: Core,
    tmp_path: Path,
    slug: str,
    *,
    status: str,
    tags: str = "[对齐, 测试]",
    body: str = "#### 要点\n\n正文第一段。",
) -> ReviewView:
    """A review imported from front matter, in the given status."""
    source = tmp_path / f"{slug}.md"
    source.write_text(
        "---\n"
        f"title: 'Web Test Review {slug}'\n"
        f"slug: {slug}\n"
        "authors: Ada Lovelace, Alan Turing等 (Somewhere)\n"
        "date: 2024-03\n"
        "section: latest\n"
        f"tags: {tags}\n"
        f"status: {status}\n"
        "summary: 一篇用来测试网页的解读。\n"
        "---\n"
        f"{body}\n",
        encoding="utf-8",
    )
    [report] = core.reviews.import_files([source])
    assert report.error is None, report.error
    return report.outcomes[0].review
