"""A page button beyond the last page (forged, or left over from a longer list) shows
the last page, not an empty list (#12 point 12)."""

from __future__ import annotations

import asyncio

from bot.app import Core
from bot.core.conversation import Caller, Reply

READER = Caller(channel="console", user_id="7", chat_id="7")


def tap(core: Core, data: str) -> list[Reply]:
    return asyncio.run(core.conversation.handle_action(READER, data))


def ask(core: Core, text: str) -> list[Reply]:
    return asyncio.run(core.conversation.handle_text(READER, text))


def read_actions(reply: Reply) -> list[str]:
    return [
        b.action or "" for row in reply.buttons for b in row if (b.action or "").startswith("r:")
    ]


def test_a_section_page_beyond_the_end_shows_the_last_page(seeded_core: Core) -> None:
    total = seeded_core.reviews.page("latest", 1, 0).total
    assert total >= 2
    [last] = tap(seeded_core, f"p:latest:1:{total - 1}")
    [forged] = tap(seeded_core, "p:latest:1:999")
    assert read_actions(forged) and read_actions(forged) == read_actions(last)
    assert forged.replaces_origin


def test_a_search_page_beyond_the_end_shows_the_last_page(seeded_core: Core) -> None:
    [first] = ask(seeded_core, "/search 模型")
    assert read_actions(first)
    # The same query's state is reused: this is the token the first page's buttons carry.
    token = seeded_core.reading.button_states.remember("search", {"query": "模型"})
    [forged] = tap(seeded_core, f"s:{token}:150")
    [far] = tap(seeded_core, f"s:{token}:99999")
    assert read_actions(forged), "a forged page must not be an empty list"
    assert read_actions(far) == read_actions(forged)
