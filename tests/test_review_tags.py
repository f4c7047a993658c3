"""#12.2: tags for column-format reviews. The optional `**标签**:` / `**Tags**:` line;
tags suggested from the text and the alias table when none are given (shown in the
preview, kept on confirm); an untagged review goes to every reader, topics or not; the
editor is told how many readers a review reaches (chat and CLI, one use case)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bot.app import Core
from bot.core.conversation import Caller, Reply
from bot.core.sources import parse_text
from tests.support.cli import run_cli
from tests.support.fake_telegram import FakeTelegramServer
from tests.test_push import LONG_AGO, push, push_core, received, server, subscribe
from tests.test_push_processes import environment, prepare

__all__ = ["push_core", "server"]  # fixtures

EDITOR = Caller(channel="telegram", user_id="9000", chat_id="9000")

ALIGNMENT_REVIEW = """## 最新论文解读

### Constitutional AI: Harmlessness from AI Feedback

**发表时间**: 2022年12月
**作者**: Yuntao Bai等 (Anthropic)
**链接**: [arXiv:2212.08073](https://arxiv.org/abs/2212.08073)
{tags}
#### 核心创新

用一组原则（宪法）代替人类标注做对齐：模型先按原则自我批评和修改，再用 AI 反馈做
强化学习（RLAIF）。对齐效果接近 RLHF，而人类标注少得多。

---
"""

UNTAGGABLE_REVIEW = """## 最新论文解读

### Some Paper About Nothing In Particular

**链接**: [arXiv:2401.09999](https://arxiv.org/abs/2401.09999)

#### 核心创新

一段与任何已知话题都无关的正文。

---
"""


def plain(replies: list[Reply]) -> str:
    return "\n".join(reply.body.plain_text for reply in replies)


def test_the_tags_line_is_read_in_chinese_and_english() -> None:
    [zh] = parse_text(ALIGNMENT_REVIEW.format(tags="**标签**: 对齐, RLHF"), "a.md")
    [en] = parse_text(ALIGNMENT_REVIEW.format(tags="**Tags**: alignment、RLAIF"), "b.md")
    [none] = parse_text(ALIGNMENT_REVIEW.format(tags=""), "c.md")
    assert zh.tags == ["对齐", "RLHF"] and en.tags == ["alignment", "RLAIF"]
    assert none.tags is None


async def test_preview_suggests_tags_and_counts_readers(
    push_core: Core, server: FakeTelegramServer
) -> None:
    subscribe(push_core, 5101, when=LONG_AGO, topics=["对齐"])
    subscribe(push_core, 5102, when=LONG_AGO, topics=["架构"])
    subscribe(push_core, 5103, when=LONG_AGO)
    source = ALIGNMENT_REVIEW.format(tags="")
    preview = await push_core.conversation.handle_text(EDITOR, "/queue\n" + source)
    text = plain(preview)
    assert "建议标签：" in text, text
    suggested_line = next(line for line in text.splitlines() if "建议标签" in line)
    assert "对齐" in suggested_line and "RLHF" in suggested_line
    assert "将只送达 2 位活跃订阅者（共 3 位）" in text and "另外 1 位" in text

    [review_id] = [r.id for r in push_core.reviews.in_queue()]
    done = await push_core.conversation.handle_action(EDITOR, f"q:ok:{review_id}")
    assert "已加入队列" in plain(done)
    [queued] = push_core.reviews.in_queue()
    assert "对齐" in queued.tags and queued.status == "queued"

    summary = await push(push_core)
    assert summary.deliveries_sent == 2
    assert received(server) == Counter({5101: 1, 5103: 1})


async def test_an_untagged_review_reaches_readers_who_chose_topics(
    push_core: Core, server: FakeTelegramServer
) -> None:
    subscribe(push_core, 5201, when=LONG_AGO, topics=["对齐"])
    subscribe(push_core, 5202, when=LONG_AGO, topics=["架构", "缩放定律"])
    preview = await push_core.conversation.handle_text(EDITOR, "/queue\n" + UNTAGGABLE_REVIEW)
    text = plain(preview)
    assert "没有标签：将推送给所有订阅者" in text and "将送达 2 位活跃订阅者（全部）" in text
    [review] = push_core.reviews.in_queue()
    await push_core.conversation.handle_action(EDITOR, f"q:ok:{review.id}")
    summary = await push(push_core)
    assert summary.deliveries_sent == 2
    assert received(server) == Counter({5201: 1, 5202: 1})


async def test_given_tags_are_kept_and_a_past_time_is_refused_in_chat(push_core: Core) -> None:
    refused = await push_core.conversation.handle_text(
        EDITOR, "/queue 2026-01-05\n" + ALIGNMENT_REVIEW.format(tags="")
    )
    assert "已经过去了" in plain(refused) and push_core.reviews.in_queue() == []
    past = "---\ntitle: Old Plan\npublish_at: 2026-01-05T09:00:00+08:00\n---\n正文。\n"
    refused = await push_core.conversation.handle_text(EDITOR, "/queue\n" + past)
    assert "已经过去了" in plain(refused) and push_core.reviews.in_queue() == []

    source = ALIGNMENT_REVIEW.format(tags="**标签**: 宪法AI")
    text = plain(await push_core.conversation.handle_text(EDITOR, "/queue\n" + source))
    assert "标签：宪法AI" in text and "建议" not in text
    [review] = push_core.reviews.in_queue()
    assert review.tags == ("宪法AI",)


def test_queue_add_prints_tags_and_reach(sqlite_url: str, tmp_path: Path) -> None:
    with FakeTelegramServer() as server:
        prepare(sqlite_url, tmp_path, range(5300, 5302))
        env = environment(sqlite_url, server)
        path = tmp_path / "cai.md"
        path.write_text(ALIGNMENT_REVIEW.format(tags=""), encoding="utf-8")
        queued = run_cli(["queue", "add", str(path)], tmp_path, **env)
        assert queued.returncode == 0, queued.stderr
        assert "No tags given; suggested tags: " in queued.stdout and "对齐" in queued.stdout
        assert "It will reach 2 active subscribers (all of them)." in queued.stdout
