"""The core's replies as WeChat texts: within 2,048 bytes, links intact, numbered choices."""

from __future__ import annotations

import re

import pytest

from bot.channels.wechat.render import (
    MAX_TEXT_BYTES,
    NEXT,
    PREVIOUS,
    cut_bytes,
    normalise_choice,
    render_replies,
    render_reply,
    utf8_len,
)
from bot.core.conversation import Button, Reply
from bot.core.richtext import bold, heading, link, numbered, paragraph, rich, text
from bot.core.texts import t

_LINK = re.compile(r'<a href="[^"]*">[^<]*</a>')


def _list_reply(first: int, count: int, summary: str, paged: bool = True) -> Reply:
    blocks = [heading(bold("「对齐」的搜索结果（共 40 篇）"))]
    for number in range(first, first + count):
        blocks.append(numbered(number, bold(f"论文 {number}"), text(" · 2023年")))
        blocks.append(paragraph(summary, link("arXiv", f"https://arxiv.org/abs/2312.{number:05}")))
    reads = tuple(Button(f"📖 {n}", action=f"r:{n}") for n in range(first, first + count))
    rows = [reads]
    if paged:
        rows.append(
            (
                Button(t("zh", "previous"), action=f"s:abc:{first - 1 - count}"),
                Button(t("zh", "next"), action=f"s:abc:{first - 1 + count}"),
            )
        )
    return Reply(rich(*blocks), tuple(rows))


def test_a_page_answers_to_its_own_numbers_and_paging_words() -> None:
    rendered = render_reply(_list_reply(6, 5, "摘要"), "zh")
    assert rendered.choices == {
        **{str(n): f"r:{n}" for n in range(6, 11)},
        NEXT: "s:abc:10",
        PREVIOUS: "s:abc:0",
    }
    assert rendered.text.endswith("回复 6–10 阅读全文，回复 下一页 翻页，回复 上一页 返回")
    assert "6. 论文 6 · 2023年" in rendered.text


def test_a_long_reply_fits_with_its_choices_and_whole_links() -> None:
    rendered = render_reply(_list_reply(1, 20, "很长的摘要。" * 40), "zh")
    assert utf8_len(rendered.text) <= MAX_TEXT_BYTES
    assert rendered.text.endswith("回复 1–20 阅读全文，回复 下一页 翻页，回复 上一页 返回")
    assert "…" in rendered.text
    # Every `<a` that was started is closed: no markup cut in half.
    assert rendered.text.count("<a ") == len(_LINK.findall(rendered.text))


def test_several_replies_are_one_text_within_the_limit() -> None:
    replies = [Reply(rich(paragraph("欢迎！" * 300))), _list_reply(1, 3, "摘要", paged=False)]
    rendered = render_replies(replies, "zh")
    assert utf8_len(rendered.text) <= MAX_TEXT_BYTES
    assert rendered.choices == {"1": "r:1", "2": "r:2", "3": "r:3"}


def test_url_buttons_become_links_and_other_actions_numbers() -> None:
    reply = Reply(
        rich(paragraph("设置")),
        (
            (Button("中文", action="set:lang:zh"), Button("English", action="set:lang:en")),
            (Button("arXiv 原文", url="https://arxiv.org/abs/1706.03762"),),
        ),
    )
    rendered = render_reply(reply, "zh")
    assert rendered.choices == {"1": "set:lang:zh", "2": "set:lang:en"}
    assert '<a href="https://arxiv.org/abs/1706.03762">arXiv 原文</a>' in rendered.text
    assert "1. 中文" in rendered.text and "2. English" in rendered.text


def test_cut_bytes_never_splits_a_character_or_a_link() -> None:
    value = "前言" + '<a href="https://example.org/x">一个链接</a>' + "尾" * 100
    for limit in range(5, 80):
        cut = cut_bytes(value, limit)
        assert utf8_len(cut) <= limit
        assert "<a" not in cut or _LINK.search(cut)


@pytest.mark.parametrize(
    ("typed", "choice"),
    [
        ("1", "1"),
        ("１", "1"),
        (" 07 ", "7"),
        ("下一页", NEXT),
        ("下一页 »", NEXT),
        ("Next", NEXT),
        ("上一页", PREVIOUS),
        ("2023", None),
        ("²", None),
        ("①", None),
        ("对齐", None),
        ("1 2", None),
    ],
)
def test_what_a_reader_types_picks_a_choice(typed: str, choice: str | None) -> None:
    assert normalise_choice(typed) == choice
