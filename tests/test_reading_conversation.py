"""Reading through the conversation core alone: lists, search, paging, reading a review in
full, stale buttons and odd input, in the reader's language. No channel: how a channel draws
these replies (HTML, splitting at its length limit, editing in place) is its own test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import Core
from bot.core.conversation import Caller, Reply
from tests.support.paths import DATA_DIR

READER = Caller(channel="wechat", user_id="o6_reader", chat_id="o6_reader")
ENGLISH_READER = Caller(channel="wechat", user_id="o6_english", chat_id="o6_english", language="en")


def say(core: Core, caller: Caller, text: str) -> list[Reply]:
    return asyncio.run(core.conversation.handle_text(caller, text))


def text_of(replies: list[Reply]) -> str:
    return "\n".join(reply.body.plain_text for reply in replies)


def action_of(replies: list[Reply], label: str) -> str:
    for reply in replies:
        for row in reply.buttons:
            for button in row:
                if button.label == label and button.action is not None:
                    return button.action
    raise AssertionError(f"no button {label!r} in {[r.buttons for r in replies]}")


def labels(replies: list[Reply]) -> list[str]:
    return [button.label for reply in replies for row in reply.buttons for button in row]


def tap(core: Core, caller: Caller, replies: list[Reply], label: str) -> list[Reply]:
    return asyncio.run(core.conversation.handle_action(caller, action_of(replies, label)))


def test_latest_classic_search_and_plain_text(seeded_core: Core) -> None:
    latest = text_of(say(seeded_core, READER, "/latest"))
    assert "最新论文解读（共 3 篇）" in latest
    assert all(title in latest for title in ("Mamba", "LIMA", "Scaling Laws"))
    classic = text_of(say(seeded_core, READER, "/classic"))
    assert "经典论文回顾（共 2 篇）" in classic and "Attention Is All You Need" in classic
    assert "Mamba" not in classic
    found = text_of(say(seeded_core, READER, "/search 对齐"))
    assert "「对齐」的搜索结果" in found and "LIMA" in found
    plain = text_of(say(seeded_core, READER, "mamba"))
    assert "「mamba」的搜索结果" in plain and "Mamba: Linear-Time" in plain


def test_an_english_reader_gets_english(seeded_core: Core) -> None:
    assert "Latest reviews (3 in all)" in text_of(say(seeded_core, ENGLISH_READER, "/latest"))


def test_paging_and_reading_in_full_by_button(seeded_core: Core) -> None:
    seeded_core.reviews.import_files(
        [DATA_DIR / "column_issue_002.txt", DATA_DIR / "front_matter_review.md"]
    )
    first_page = say(seeded_core, READER, "/latest")
    assert "最新论文解读（共 6 篇）" in text_of(first_page)
    assert "下一页 »" in labels(first_page) and "« 上一页" not in labels(first_page)

    second_page = tap(seeded_core, READER, first_page, "下一页 »")
    assert [reply.replaces_origin for reply in second_page] == [True]
    numbers = [block.number for block in second_page[0].body.blocks if block.kind == "numbered"]
    assert numbers == [6] and "« 上一页" in labels(second_page)
    back = tap(seeded_core, READER, second_page, "« 上一页")
    assert text_of(back) == text_of(first_page)

    full = tap(seeded_core, READER, second_page, "📖 6")
    assert "作者：" in text_of(full)
    assert not any(reply.replaces_origin for reply in full)


def test_stale_and_forged_buttons_get_a_polite_answer(seeded_core: Core) -> None:
    for data in ("r:999999", "p:latest:5:9999x", "nonsense", "s:ffffffffffff:0", ""):
        answer = asyncio.run(seeded_core.conversation.handle_action(READER, data))
        assert "这个按钮已失效" in text_of(answer), data


def test_a_20000_character_review_is_answered_whole_and_in_order(
    seeded_core: Core, tmp_path: Path
) -> None:
    sentences = [f"第{n}句讲的是长文本拆分，必须完整、有序地送达读者。" for n in range(800)]
    body = "\n\n".join("".join(sentences[i : i + 40]) for i in range(0, 800, 40))
    source = tmp_path / "long.md"
    source.write_text(
        "---\ntitle: 一篇很长的解读\narxiv_id: '2401.99999'\nsection: latest\n---\n\n" + body,
        encoding="utf-8",
    )
    [report] = seeded_core.reviews.import_files([source])
    review = report.outcomes[0].review
    assert review is not None
    delivered = text_of(say(seeded_core, READER, f"/review {review.slug}"))
    positions = [delivered.index(f"第{n}句") for n in range(800)]
    assert positions == sorted(positions)
    assert "".join(delivered.split()).count("必须完整、有序地送达读者。") == 800


def test_odd_digits_and_unknown_payloads_get_answers_not_silence(seeded_core: Core) -> None:
    assert "最新论文解读（共 3 篇）" in text_of(say(seeded_core, READER, "/latest ²"))
    assert "找不到解读「①」" in text_of(say(seeded_core, READER, "/review ①"))
    for caller, help_heading in ((READER, "可用命令"), (ENGLISH_READER, "Commands:")):
        assert help_heading in text_of(say(seeded_core, caller, "/start"))
        assert help_heading in text_of(say(seeded_core, caller, "/start foo"))
