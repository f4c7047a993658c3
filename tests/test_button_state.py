"""Button state lives in the store: a "next page" tap is answered by any process."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.app import Core, build_core
from bot.core.conversation import Caller, Reply
from bot.db.models import ButtonState, utcnow
from bot.settings import Settings
from tests.support.stores import make_settings

READER = Caller(channel="console", user_id="7", chat_id="7")
MATCHES = 8  # more than one page (PAGE_SIZE is 5)


@pytest.fixture
def two_cores(settings: Settings, tmp_path: Path) -> Iterator[tuple[Core, Core]]:
    """Two processes' cores: two engines on one database."""
    first = build_core(settings, seed=False)
    second = build_core(make_settings(settings.database_url, tmp_path), seed=False)
    sources = tmp_path / "reviews"
    sources.mkdir()
    paths = []
    for number in range(MATCHES):
        path = sources / f"{number}.md"
        path.write_text(
            f"---\ntitle: 'Sparse Mixture Routing Study {number}'\nsection: latest\n---\n\n"
            f"稀疏专家路由的第 {number} 篇研究。\n",
            encoding="utf-8",
        )
        paths.append(path)
    first.reviews.import_files(paths)
    yield first, second
    first.close()
    second.close()


def search(core: Core, query: str) -> Reply:
    [reply] = asyncio.run(core.conversation.handle_text(READER, query))
    return reply


def next_page_action(reply: Reply) -> str:
    for row in reply.buttons:
        for button in row:
            if button.action and button.action.startswith("s:") and button.action.endswith(":5"):
                return button.action
    raise AssertionError(f"no next-page button in {reply.buttons}")


def titles(reply: Reply) -> set[str]:
    return {f"Study {n}" for n in range(MATCHES) if f"Study {n}" in reply.body.plain_text}


def test_next_page_drawn_by_one_core_is_answered_by_the_other(
    two_cores: tuple[Core, Core],
) -> None:
    first, second = two_cores
    page_one = search(first, "Sparse Mixture Routing")
    assert len(titles(page_one)) == 5
    [page_two] = asyncio.run(second.conversation.handle_action(READER, next_page_action(page_one)))
    assert "这个按钮已失效" not in page_two.body.plain_text
    shown_second = titles(page_two)
    assert len(shown_second) == MATCHES - 5
    assert shown_second.isdisjoint(titles(page_one))


def test_an_expired_button_answers_expired_and_is_pruned(two_cores: tuple[Core, Core]) -> None:
    first, second = two_cores
    action = next_page_action(search(first, "Sparse Mixture Routing"))
    with first.sessions() as session:
        session.execute(update(ButtonState).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        session.commit()
    [answer] = asyncio.run(second.conversation.handle_action(READER, action))
    assert "这个按钮已失效" in answer.body.plain_text
    assert second.reading.button_states.prune() == 1
    with first.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ButtonState)) == 0


def test_the_same_search_again_reuses_its_state(two_cores: tuple[Core, Core]) -> None:
    first, second = two_cores
    one = next_page_action(search(first, "Sparse Mixture Routing"))
    two = next_page_action(search(second, "Sparse Mixture Routing"))
    assert one == two
    with first.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ButtonState)) == 1


def test_an_owners_state_is_replaced_and_seen_by_another_process(
    two_cores: tuple[Core, Core],
) -> None:
    """Channels without buttons keep a reader's last choices by reader (keep_for)."""
    first, second = two_cores
    store, other = first.reading.button_states, second.reading.button_states
    assert other.recall_for("wechat:o1") is None
    store.keep_for("wechat:o1", {"choices": {"1": "r:1"}})
    store.keep_for("wechat:o1", {"choices": {"1": "r:2", "next": "s:ab:5"}})
    store.keep_for("wechat:o2", {"choices": {"1": "r:3"}})
    assert other.recall_for("wechat:o1") == {"choices": {"1": "r:2", "next": "s:ab:5"}}
    assert other.recall_for("wechat:o2") == {"choices": {"1": "r:3"}}
    with first.sessions.begin() as session:
        session.execute(update(ButtonState).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert other.recall_for("wechat:o1") is None


def test_a_search_repeated_at_once_is_not_written_again(two_cores: tuple[Core, Core]) -> None:
    """Many readers asking the same thing cost one write, not one each; the row still
    outlives the TTL from the last time its button was shown."""
    first, _ = two_cores
    store = first.reading.button_states
    before = utcnow()
    token = store.remember("search", {"query": "mamba"})

    def expiry() -> dt.datetime:
        with first.sessions() as session:
            row = session.scalar(select(ButtonState).where(ButtonState.token == token))
            assert row is not None
            expires = row.expires_at
            return expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)

    written = expiry()
    with first.sessions.begin() as session:  # a marker: a second write would move it
        session.execute(update(ButtonState).values(expires_at=written + dt.timedelta(seconds=1)))
    for _ in range(20):
        assert store.remember("search", {"query": "mamba"}) == token
    assert expiry() == written + dt.timedelta(seconds=1)
    assert written >= before + dt.timedelta(seconds=first.settings.button_state_seconds)
    # Another payload is written at once.
    other = store.remember("search", {"query": "RLHF"})
    assert other != token and store.recall(other) == {"query": "RLHF"}
