"""Finding one's own id (#12 point 9): /whoami and /id, the refusal that says how to
become an editor, and ADMIN_IDS given an @username."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import Core, build_core
from bot.core.conversation import Caller
from tests.support.cli import run_cli
from tests.support.stores import make_settings


def say(core: Core, caller: Caller, text: str) -> str:
    replies = asyncio.run(core.conversation.handle_text(caller, text))
    return "\n".join(reply.body.plain_text for reply in replies)


@pytest.fixture
def editor_core(sqlite_url: str, tmp_path: Path) -> Core:
    core = build_core(make_settings(sqlite_url, tmp_path, admin_ids="telegram:4242"), seed=False)
    yield core  # type: ignore[misc]
    core.close()


def test_whoami_tells_a_reader_their_address_and_how_to_become_an_editor(
    editor_core: Core,
) -> None:
    reader = Caller(channel="telegram", user_id="777", chat_id="777")
    for command in ("/whoami", "/id"):
        answer = say(editor_core, reader, command)
        assert "telegram:777" in answer
        assert "不是编辑" in answer
        assert "ADMIN_IDS" in answer


def test_whoami_tells_an_editor_they_are_one(editor_core: Core) -> None:
    editor = Caller(channel="telegram", user_id="4242", chat_id="-100", chat_type="group")
    answer = say(editor_core, editor, "/whoami")
    assert "telegram:4242" in answer and "你是编辑" in answer
    assert "-100" in answer  # the group's own id, told apart from the user's
    english = say(editor_core, Caller("telegram", "4242", "4242", language="en"), "/whoami")
    assert "telegram:4242" in english and "You are an editor" in english


def test_the_editors_only_refusal_says_how_to_become_one(editor_core: Core) -> None:
    reader = Caller(channel="telegram", user_id="777", chat_id="777", language="en")
    answer = say(editor_core, reader, "/stats")
    assert "editors only" in answer
    assert "telegram:777" in answer and "ADMIN_IDS" in answer


def test_whoami_is_in_help(editor_core: Core) -> None:
    assert "/whoami" in say(editor_core, Caller("telegram", "1", "1"), "/help")


@pytest.mark.parametrize("value", ["@alice", "telegram:@alice"])
def test_admin_ids_with_a_username_stops_start_up_with_one_clear_line(
    tmp_path: Path, value: str
) -> None:
    result = run_cli(["status"], tmp_path, ADMIN_IDS=value)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "ADMIN_IDS" in line and "username" in line and "numeric" in line
    assert "channel:id" in line
