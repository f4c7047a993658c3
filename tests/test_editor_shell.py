"""Editor tools at the shell and in chat (#12 point 8): `queue show`, `unpublish` with
the audit log, a review block pasted without its `##` heading, and papers that are not
on arXiv (OpenReview, ACL Anthology) accepted with a warning."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.app import Core, build_core
from bot.core.conversation import Caller
from bot.core.sources import ReviewFormatError, parse_text
from tests.support.cli import run_cli
from tests.support.stores import make_settings

BLOCK = """### Direct Preference Optimization

**发表时间**: 2023年5月
**作者**: Rafael Rafailov等
**链接**: [arXiv:2305.18290](https://arxiv.org/abs/2305.18290)

#### 核心创新

DPO 不需要奖励模型。
"""

OPENREVIEW = """### A Paper Reviewed on OpenReview

**发表时间**: 2024年5月
**作者**: Some One
**链接**: https://openreview.net/forum?id=AbCdEf123

#### 核心创新

正文。
"""

ACL = """---
title: An ACL Paper
url: https://aclanthology.org/2023.acl-long.1/
date: 2023-07
---
#### 核心创新

正文。
"""


def test_a_single_block_without_a_section_heading_is_a_latest_review() -> None:
    [review] = parse_text(BLOCK, "block.md")
    assert review.section == "latest"
    assert review.arxiv_id == "2305.18290"
    assert review.title == "Direct Preference Optimization"


def test_a_block_before_the_first_heading_of_a_document_is_still_refused() -> None:
    with pytest.raises(ReviewFormatError, match="before any section heading"):
        parse_text(BLOCK + "\n## 经典论文回顾\n\n### Another\n\n正文\n", "mixed.md")


@pytest.mark.parametrize(
    ("source", "url"),
    [
        (OPENREVIEW, "https://openreview.net/forum?id=AbCdEf123"),
        (ACL, "https://aclanthology.org/2023.acl-long.1/"),
    ],
)
def test_papers_not_on_arxiv_are_accepted_with_a_warning(source: str, url: str) -> None:
    [review] = parse_text(source, "other.md")
    assert review.arxiv_id is None and review.paper_url == url
    [warning] = review.warnings
    assert warning.startswith("other.md:") and "not arXiv" in warning


def test_other_links_are_still_refused() -> None:
    with pytest.raises(ReviewFormatError, match="not an arXiv link"):
        parse_text(OPENREVIEW.replace("openreview.net", "example.com"), "bad.md")


def test_queue_add_a_pasted_block_and_queue_show_it(tmp_path: Path) -> None:
    block = tmp_path / "block.md"
    block.write_text(BLOCK, encoding="utf-8")
    queued = run_cli(["queue", "add", str(block)], tmp_path)
    assert queued.returncode == 0, queued.stderr
    review_id = queued.stdout.split("#")[1].split()[0]
    shown = run_cli(["queue", "show", review_id], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"#{review_id} queued" in shown.stdout
    assert "【Direct Preference Optimization】" in shown.stdout
    assert "作者：Rafael Rafailov等" in shown.stdout
    assert "DPO 不需要奖励模型。" in shown.stdout
    assert "<https://arxiv.org/abs/2305.18290>" in shown.stdout
    english = run_cli(["queue", "show", review_id, "--lang", "en"], tmp_path)
    assert "Authors: Rafael Rafailov等" in english.stdout
    missing = run_cli(["queue", "show", "9999"], tmp_path)
    assert missing.returncode == 1 and "no review #9999" in missing.stderr


def test_queue_add_of_an_openreview_paper_warns(tmp_path: Path) -> None:
    path = tmp_path / "openreview.md"
    path.write_text(OPENREVIEW, encoding="utf-8")
    result = run_cli(["queue", "add", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "OpenReview, not arXiv" in result.stderr
    review_id = result.stdout.split("#")[1].split()[0]
    shown = run_cli(["queue", "show", review_id], tmp_path)
    assert "论文链接 <https://openreview.net/forum?id=AbCdEf123>" in shown.stdout
    imported = run_cli(["import", str(path)], tmp_path)
    assert "warning:" in imported.stderr


def test_unpublish_takes_a_review_down_and_is_audited(tmp_path: Path) -> None:
    run_cli(["console"], tmp_path, stdin="/about\n")  # seeds the fresh store
    listed = json.loads(run_cli(["reviews", "--json"], tmp_path).stdout)
    [mamba] = [r for r in listed if r["arxiv_id"] == "2312.00752"]
    result = run_cli(["unpublish", str(mamba["id"])], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unpublished" in result.stdout
    after = run_cli(["console"], tmp_path, stdin="/latest\n/review 2312.00752\n")
    assert "Mamba" not in after.stdout.split("找不到解读")[0]
    again = run_cli(["unpublish", str(mamba["id"])], tmp_path)
    assert again.returncode == 1 and "is draft, not published" in again.stderr
    store = build_core(make_settings(f"sqlite:///{tmp_path / 'data' / 'paperbot.db'}", tmp_path))
    try:
        entries = [e for e in store.audit.recent(10) if e.action == "unpublish"]
    finally:
        store.close()
    assert [e.target for e in entries] == [str(mamba["id"])] * 2


def test_unpublish_and_show_in_chat_for_editors(seeded_core: Core) -> None:
    editor = Caller(channel="console", user_id="0", chat_id="0", trusted=True)
    review = seeded_core.reviews.find("2312.00752")
    assert review is not None

    def say(text: str) -> str:
        replies = asyncio.run(seeded_core.conversation.handle_text(editor, text))
        return "\n".join(reply.body.plain_text for reply in replies)

    assert "已撤下" in say(f"/unpublish {review.id}")
    assert seeded_core.reviews.find("2312.00752") is None  # readers no longer find it
    shown = say(f"/show {review.id}")
    assert "草稿" in shown and "Mamba" in shown
    assert "现在是草稿，不是已发布" in say(f"/unpublish {review.id}")
    reader = Caller(channel="telegram", user_id="5", chat_id="5")
    [refusal] = asyncio.run(seeded_core.conversation.handle_text(reader, f"/unpublish {review.id}"))
    assert "只对编辑开放" in refusal.body.plain_text
    actions = [entry.action for entry in seeded_core.audit.recent(10)]
    assert "/unpublish" in actions


def test_the_downgrade_below_0012_keeps_a_non_arxiv_link(sqlite_url: str, tmp_path: Path) -> None:
    from sqlalchemy import delete

    from bot.db import migrate
    from bot.db.models import Review

    core = build_core(make_settings(sqlite_url, tmp_path), seed=False)
    try:
        [review] = parse_text(OPENREVIEW, "other.md")
        core.reviews.import_parsed([review])
        with pytest.raises(RuntimeError, match="cannot downgrade below 0012"):
            migrate.downgrade(core.engine, "0007")
        assert migrate.current_revision(core.engine) == migrate.head_revision(core.engine)
        [stored] = core.reviews.all()
        assert stored.paper_url == "https://openreview.net/forum?id=AbCdEf123"
        # Without such a review the downgrade goes through, and back up again.
        with core.sessions.begin() as session:
            session.execute(delete(Review))
        migrate.downgrade(core.engine, "0007")
        assert migrate.current_revision(core.engine) == "0007"
        migrate.upgrade(core.engine)
        assert migrate.current_revision(core.engine) == migrate.head_revision(core.engine)
    finally:
        core.close()
