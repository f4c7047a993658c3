"""#12.3: `/review N` opens item N of the list the reader saw (it used to open database
id N: `/review 1` gave Attention Is All You Need while item 1 of /latest is Mamba).
Numbers follow the chat's last list, pages add up, a chat that saw no list gets /latest's
numbering, slugs and arXiv ids still work, and the full review shows its number."""

from __future__ import annotations

from pathlib import Path

from bot.app import Core
from bot.core.conversation import Caller, Reply
from tests.support.cli import run_cli

READER = Caller(channel="telegram", user_id="777", chat_id="777")
OTHER = Caller(channel="telegram", user_id="778", chat_id="778")


def plain(replies: list[Reply]) -> str:
    """The replies' text with list numbers, as the channels render them."""
    return "\n".join(
        f"{block.number}. {block.plain_text}" if block.kind == "numbered" else block.plain_text
        for reply in replies
        for block in reply.body.blocks
    )


def first_line(replies: list[Reply]) -> str:
    return plain(replies).splitlines()[0]


async def test_review_one_is_the_first_of_latest(seeded_core: Core) -> None:
    conversation = seeded_core.conversation
    latest = plain(await conversation.handle_text(READER, "/latest"))
    first_title = latest.splitlines()[1]
    assert "Mamba" in first_title, latest
    opened = await conversation.handle_text(READER, "/review 1")
    assert first_line(opened).startswith("1. Mamba")
    # A chat that never saw a list gets /latest's numbering too.
    assert first_line(await conversation.handle_text(OTHER, "/review 1")).startswith("1. Mamba")


async def test_numbers_follow_the_last_list_and_its_pages(seeded_core: Core) -> None:
    conversation = seeded_core.conversation
    classic = plain(await conversation.handle_text(READER, "/classic"))
    first_classic = classic.splitlines()[1].removeprefix("1. ").split(" · ")[0]
    assert first_line(await conversation.handle_text(READER, "/review 1")) == f"1. {first_classic}"

    page = (await conversation.handle_text(READER, "/latest 2"))[0]
    [next_button] = [
        b for row in page.buttons for b in row if b.action and b.action.startswith("p:")
    ]
    second_page = plain(await conversation.handle_action(READER, next_button.action or ""))
    third_title = next(line for line in second_page.splitlines() if line.startswith("3. "))
    third_title = third_title.removeprefix("3. ").split(" · ")[0]
    assert first_line(await conversation.handle_text(READER, "/review 3")) == f"3. {third_title}"
    assert first_line(await conversation.handle_text(READER, "/review 1")).startswith("1. Mamba")

    found = plain(await conversation.handle_text(READER, "/search 对齐"))
    second_hit = next(line for line in found.splitlines() if line.startswith("2. "))
    opened = first_line(await conversation.handle_text(READER, "/review 2"))
    assert opened == "2. " + second_hit.removeprefix("2. ").split(" · ")[0]

    missing = plain(await conversation.handle_text(READER, "/review 9"))
    assert "你最近看到的列表里没有第 9 篇" in missing


async def test_slug_and_arxiv_id_still_open_a_review(seeded_core: Core) -> None:
    conversation = seeded_core.conversation
    by_id = first_line(await conversation.handle_text(OTHER, "/review 2312.00752"))
    by_slug = first_line(
        await conversation.handle_text(OTHER, "/review mamba-linear-time-sequence-modeling")
    )
    assert "Mamba" in by_id and by_id == by_slug
    usage = plain(await conversation.handle_text(OTHER, "/review"))
    assert "最近看到的列表" in usage and "arXiv" in usage
    helped = plain(await conversation.handle_text(OTHER, "/help"))
    assert "/review <编号|slug|arXiv 编号>" in helped


def test_console_review_one_after_latest(tmp_path: Path) -> None:
    result = run_cli(["console"], tmp_path, stdin="/latest\n/review 1\n")
    assert result.returncode == 0, result.stderr
    after = result.stdout.split("/review", 1)[-1] if "/review" in result.stdout else result.stdout
    assert "1. Mamba" in after, result.stdout
