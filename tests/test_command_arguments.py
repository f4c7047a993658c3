"""Every command's arguments, however odd, get an answer and never an exception.

`²`, `³`, `①` pass `str.isdigit()` and crash `int()`; numbers past any column's range
crash the database driver. The core parses numbers one way (`bot.core.numbers`), and
a property test throws unicode digits, huge and negative numbers, empty and mixed
script arguments at every command and button of the registry, on both backends.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import Core, build_core
from bot.channels.console import run_console
from bot.core.audit import AuditService
from bot.core.conversation import Caller, Command, Conversation, Registry, Reply
from bot.core.numbers import MAX_NUMBER, parse_count
from tests.support.cli import run_cli
from tests.support.fake_arxiv import ArxivFixtureServer
from tests.support.stores import make_settings

UNICODE_DIGITS = ["²", "³", "¹", "①", "⑳", "١٢", "１２", "߁", "𝟙", "½", "Ⅻ", "²5", "5²"]
AWKWARD = [
    "",
    " ",
    "\t",
    "0",
    "-1",
    "+3",
    "-0",
    "1 2",
    "3.5",
    "1e3",
    "0x10",
    str(10**100),
    str(2**31),
    str(2**63),
    "9" * 5000,
    "abc",
    "对齐",
    "Mamba ²",
    "ℌ𝔢𝔩𝔩𝔬",
    "2312.00752",
    "r_nothing",
    "2026-12-07",
    "0001-01-01",
    "9999-12-31 23:59",
]
ODD_ARGUMENTS = st.one_of(
    st.sampled_from(UNICODE_DIGITS + AWKWARD),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(st.characters(blacklist_characters="\r\n"), max_size=30),
    st.lists(st.sampled_from([*UNICODE_DIGITS, *string.digits, " ", "-"]), max_size=6).map("".join),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        (" 12 ", 12),
        ("0", 0),
        (str(MAX_NUMBER), MAX_NUMBER),
        (str(MAX_NUMBER + 1), None),
        (str(10**100), None),
        ("", None),
        ("-1", None),
        ("+1", None),
        ("1 2", None),
        *[(digit, None) for digit in UNICODE_DIGITS],
    ],
)
def test_parse_count_accepts_ascii_digits_only(text: str, expected: int | None) -> None:
    assert parse_count(text) == expected


def test_parse_count_honours_its_maximum() -> None:
    assert parse_count("20", maximum=20) == 20
    assert parse_count("21", maximum=20) is None


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One loop for the whole test: the core's arXiv client lives in it."""
    running = asyncio.new_event_loop()
    yield running
    running.close()


@pytest.fixture
def core(
    database_url: str,
    tmp_path: Path,
    arxiv_server: ArxivFixtureServer,
    loop: asyncio.AbstractEventLoop,
) -> Iterator[Core]:
    settings_ = make_settings(database_url, tmp_path, admin_ids=[4242], **arxiv_server.settings())
    built = build_core(settings_, seed=True)
    yield built
    loop.run_until_complete(built.aclose())


EDITOR = Caller(channel="console", user_id="4242", chat_id="4242")
READER = Caller(channel="console", user_id="1001", chat_id="1001")


def _answered(replies: object) -> bool:
    return (
        isinstance(replies, list)
        and len(replies) >= 1
        and all(isinstance(reply, Reply) and reply.body.blocks for reply in replies)
    )


def test_every_command_answers_odd_arguments(core: Core, loop: asyncio.AbstractEventLoop) -> None:
    unanswered = []
    for argument in UNICODE_DIGITS + AWKWARD:
        for name in core.registry.commands:
            for caller in (EDITOR, READER):
                text = f"/{name} {argument}"
                replies = loop.run_until_complete(core.conversation.handle_text(caller, text))
                if not _answered(replies):
                    unanswered.append((text[:40], caller.user_id))
    assert unanswered == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_property_every_command_and_button_answers(
    core: Core, loop: asyncio.AbstractEventLoop, data: st.DataObject
) -> None:
    conversation = core.conversation
    caller = data.draw(st.sampled_from([EDITOR, READER]))
    name = data.draw(st.sampled_from(sorted(core.registry.commands)))
    argument = data.draw(ODD_ARGUMENTS)
    text = f"/{name} {argument}"
    replies = loop.run_until_complete(conversation.handle_text(caller, text))
    assert _answered(replies), text

    prefix = data.draw(st.sampled_from(sorted(core.registry.actions)))
    parts = data.draw(
        st.lists(
            st.one_of(
                st.sampled_from(["ok", "no", "latest", "classic", "lang", "fmt", "all", "en"]),
                st.integers(min_value=0, max_value=10**40).map(str),
            ),
            max_size=3,
        )
    )
    action = ":".join([prefix, *parts])
    replies = loop.run_until_complete(conversation.handle_action(caller, action))
    assert _answered(replies), action


def test_console_process_answers_every_line_after_unicode_digits(tmp_path: Path) -> None:
    lines = ["/latest ²", "/review ①", "/latest ³", "/about"]
    result = run_cli(["console"], tmp_path, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.count("最新论文解读（共 3 篇）") == 2
    assert "找不到解读「①」" in result.stdout
    assert "目前共有" in result.stdout  # the last line was read and answered


def test_console_answers_and_reads_on_when_a_handler_fails(tmp_path: Path) -> None:
    """A bug in one command must not end the session with the rest of the input unread."""
    import io

    from sqlalchemy.orm import sessionmaker

    from bot.core.richtext import paragraph, rich
    from bot.db.engine import make_engine, make_session_factory

    def broken(caller: Caller, args: str) -> list[Reply]:
        raise RuntimeError("a bug in a handler")

    def fine(caller: Caller, args: str) -> list[Reply]:
        return [Reply(rich(paragraph(f"fine {args}")))]

    registry = Registry()
    registry.add_command(Command("broken", "cmd_help", broken))
    registry.add_command(Command("fine", "cmd_help", fine))
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    from bot.db import migrate

    migrate.upgrade(engine)
    sessions: sessionmaker = make_session_factory(engine)  # type: ignore[type-arg]
    conversation = Conversation(registry, AuditService(sessions))
    output = io.StringIO()
    source = io.StringIO("/broken\n/fine 1\n/broken\n/fine 2\n")
    status = asyncio.run(run_console(conversation, source, output))
    engine.dispose()
    assert status == 0
    text = output.getvalue()
    assert "fine 1" in text and "fine 2" in text
    assert text.count("出错了") == 2


@pytest.mark.parametrize(("language", "greeting"), [("zh", "可用命令"), ("en", "Commands:")])
def test_start_with_an_unknown_payload_answers_a_subscriber(
    core: Core, loop: asyncio.AbstractEventLoop, language: str, greeting: str
) -> None:
    reader = Caller(channel="telegram", user_id="2001", chat_id="2001", language=language)
    loop.run_until_complete(core.conversation.handle_text(reader, "/start"))
    assert core.subscriptions.get("telegram", "2001") is not None
    replies = loop.run_until_complete(core.conversation.handle_text(reader, "/start foo"))
    assert any(greeting in reply.body.plain_text for reply in replies)
