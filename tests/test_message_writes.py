"""One transaction for what a message writes (bot/core/message_writes.py), on SQLite
and PostgreSQL: a message's rows are all there once it is answered, none if answering
failed, and a write outside a message is committed at once as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Core
from bot.core.conversation import Caller
from bot.core.message_writes import collecting, one_transaction, one_transaction_in_thread
from bot.db.models import ButtonState, ChatList
from tests.support.stores import commits

READER = Caller(channel="console", user_id="42", chat_id="42")


def _commits(core: Core) -> list[int]:
    return commits(core.engine)


def _chat_list(core: Core) -> dict[str, Any] | None:
    with core.sessions() as session:
        row = session.get(ChatList, ("console", "42"))
        return dict(row.items) if row is not None else None


def _states(core: Core) -> int:
    with core.sessions() as session:
        return len(session.scalars(select(ButtonState.token)).all())


def test_a_messages_writes_are_one_commit_and_all_there(core: Core) -> None:
    commits = _commits(core)
    reading = core.reading
    with one_transaction():
        assert collecting()
        reading.chat_lists.remember("console", "42", "latest", 1, [7, 8])
        reading.button_states.keep_for("console:42", {"choices": {"1": "r:7"}})
        token = reading.button_states.remember("search", {"query": "对齐"})
        # Nothing is written before the message is answered.
        assert _chat_list(core) is None
        assert commits == []
    assert not collecting()
    assert len(commits) == 1
    assert _chat_list(core) == {"1": 7, "2": 8}
    assert reading.button_states.recall_for("console:42") == {"choices": {"1": "r:7"}}
    assert reading.button_states.recall(token) == {"query": "对齐"}


def test_a_failed_message_writes_nothing_and_its_token_is_stored_next_time(core: Core) -> None:
    reading = core.reading
    with pytest.raises(RuntimeError), one_transaction():
        reading.chat_lists.remember("console", "42", "latest", 1, [7])
        token = reading.button_states.remember("search", {"query": "稀疏"})
        raise RuntimeError("the handler failed")
    assert _chat_list(core) is None
    assert _states(core) == 0
    # Not remembered as stored: the same search again writes its token.
    assert reading.button_states.remember("search", {"query": "稀疏"}) == token
    assert reading.button_states.recall(token) == {"query": "稀疏"}


def test_outside_a_message_each_write_is_committed_at_once(core: Core) -> None:
    commits = _commits(core)
    core.reading.chat_lists.remember("console", "42", "latest", 1, [3])
    assert len(commits) == 1
    assert _chat_list(core) == {"1": 3}


def test_pages_add_up_and_a_list_shown_again_is_not_written_again(core: Core) -> None:
    lists = core.reading.chat_lists
    lists.remember("console", "42", "latest", 1, [1, 2])
    lists.remember("console", "42", "latest", 3, [3])
    assert _chat_list(core) == {"1": 1, "2": 2, "3": 3}
    lists.remember("console", "42", "classic", 1, [9])
    assert _chat_list(core) == {"1": 9}
    # Upserts replace the owner's state in place.
    states = core.reading.button_states
    states.keep_for("console:42", {"choices": {"1": "a"}})
    states.keep_for("console:42", {"choices": {"1": "b"}})
    assert states.recall_for("console:42") == {"choices": {"1": "b"}}
    assert _states(core) == 1


def test_the_async_form_commits_in_a_worker_thread_before_it_returns(core: Core) -> None:
    async def answer() -> dict[str, Any] | None:
        async with one_transaction_in_thread():
            await asyncio.to_thread(
                core.reading.chat_lists.remember, "console", "42", "latest", 1, [5]
            )
            # Conversation.handle_text inside joins the outer transaction.
            await core.conversation.handle_text(READER, "/latest")
            assert _chat_list(core) is None
        return _chat_list(core)

    assert asyncio.run(answer()) is not None


def test_the_async_form_nests_and_drops_the_writes_of_a_failed_block(core: Core) -> None:
    lists = core.reading.chat_lists

    async def failed() -> None:
        async with one_transaction_in_thread():
            lists.remember("console", "42", "latest", 1, [5])
            raise RuntimeError("the handler failed")

    async def nested() -> list[int]:
        commits = _commits(core)
        async with one_transaction_in_thread():
            async with one_transaction_in_thread():
                lists.remember("console", "42", "latest", 1, [6])
            # The inner block's end commits nothing: the outer one runs its writes.
            assert collecting() and _chat_list(core) is None and commits == []
            lists.remember("console", "42", "latest", 2, [7])
        assert not collecting()
        return commits

    with pytest.raises(RuntimeError, match="the handler failed"):
        asyncio.run(failed())
    assert not collecting() and _chat_list(core) is None
    assert len(asyncio.run(nested())) == 1
    assert _chat_list(core) == {"1": 6, "2": 7}
