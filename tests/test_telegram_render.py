"""Telegram HTML rendering: escaping, and splitting under Telegram's limits."""

from __future__ import annotations

import html
import re
from pathlib import Path

from bot.channels.telegram.render import MAX_ENTITIES, MAX_UNITS, render_messages, utf16_len
from bot.core.richtext import bold, heading, link, markdown_to_rich, paragraph, rich, text

_TAG = re.compile(r"<[^>]+>")


def visible(message: str) -> str:
    return html.unescape(_TAG.sub("", message))


def test_user_and_content_strings_are_escaped() -> None:
    body = rich(
        paragraph(text("p < 0.001 & <think>"), bold("<b>"), link("a&b", "https://x.org/?a=1&b=2"))
    )
    [message] = render_messages(body)
    assert "p &lt; 0.001 &amp; &lt;think&gt;" in message
    assert "<b>&lt;b&gt;</b>" in message
    assert '<a href="https://x.org/?a=1&amp;b=2">a&amp;b</a>' in message


def test_unsafe_link_targets_become_plain_text() -> None:
    [message] = render_messages(rich(paragraph(link("click", "javascript:alert(1)"))))
    assert "<a" not in message and "click" in message


def test_markdown_review_body_becomes_telegram_html() -> None:
    body = markdown_to_rich(
        "#### 核心\n\n- **选择性SSM**: 动态\n- `code` and [arXiv](https://arxiv.org/abs/1)"
        "\n\n1. 第一\n2. 第二"
    )
    [message] = render_messages(body)
    assert message.startswith("<b>核心</b>\n\n• <b>选择性SSM</b>: 动态\n• <code>code</code>")
    assert "1. 第一\n2. 第二" in message


def test_twenty_thousand_chinese_characters_split_in_order_at_punctuation() -> None:
    sentence = "这是一句用于测试的中文句子，包含逗号和句号。"
    paragraph_text = sentence * 40  # about 880 characters per paragraph
    source = "\n\n".join(f"第{n}段：{paragraph_text}" for n in range(23))
    messages = render_messages(markdown_to_rich(source))
    assert len(messages) > 4
    for message in messages:
        assert utf16_len(visible(message)) <= MAX_UNITS
    joined = "".join(visible(m).replace("\n\n", "") for m in messages)
    assert joined == source.replace("\n\n", "")


def test_one_giant_paragraph_is_cut_at_cjk_punctuation() -> None:
    source = "甲乙丙丁戊己庚辛壬癸。" * 2000  # 22,000 characters, no paragraph breaks
    messages = render_messages(markdown_to_rich(source))
    assert "".join(visible(m) for m in messages) == source
    for message in messages:
        assert utf16_len(visible(message)) <= MAX_UNITS
        assert visible(message).endswith("。")


def test_astral_characters_count_as_two_units() -> None:
    source = "😀" * 5000
    messages = render_messages(rich(paragraph(source)))
    assert len(messages) == 3
    assert all(utf16_len(visible(m)) <= MAX_UNITS for m in messages)
    assert "".join(visible(m) for m in messages) == source


def test_long_styled_span_is_split_with_tags_closed_in_each_part() -> None:
    messages = render_messages(rich(paragraph(bold("粗" * 9000))))
    assert len(messages) == 3
    for message in messages:
        assert message.startswith("<b>") and message.endswith("</b>")


def test_at_most_a_hundred_entities_per_message() -> None:
    spans = [bold(f"w{n}") if n % 2 else text(" ") for n in range(500)]
    messages = render_messages(rich(paragraph(*spans), heading("end")))
    assert len(messages) >= 3
    for message in messages:
        assert message.count("<b>") <= MAX_ENTITIES


def test_push_digest_titles_link_to_the_web_archive_with_a_public_url(tmp_path: Path) -> None:
    from bot.app import push_options
    from bot.core.reviews import ReviewView
    from bot.core.views import push_digest
    from tests.support.stores import make_settings

    review = ReviewView(
        id=7, slug="lima-less-is-more", title="LIMA <Less>", arxiv_id="2305.11206",
        authors="Chunting Zhou等", paper_date=None, section="latest", tags=("对齐",),
        summary="摘要", body="正文", status="published", publish_at=None, published_at=None,
    )  # fmt: skip
    settings = make_settings(
        f"sqlite:///{tmp_path / 'x.db'}", tmp_path, public_url="https://papers.example.org/"
    )
    public_url = push_options(settings).public_url
    [linked] = render_messages(push_digest([review], "zh", public_url=public_url).body)
    assert (
        '<a href="https://papers.example.org/r/lima-less-is-more"><b>LIMA &lt;Less&gt;</b></a>'
        in linked
    )
    [plain] = render_messages(push_digest([review], "zh").body)
    assert "papers.example.org" not in plain and "<b>LIMA &lt;Less&gt;</b>" in plain
