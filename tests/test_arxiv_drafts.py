"""/draft, /candidates and the Draft / Dismiss buttons, through the channel-free core."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.app import Core
from bot.core.arxiv.drafts import display_authors
from bot.core.conversation import Caller, Reply
from bot.core.sources import PaperDate, parse_text
from bot.db.models import ArxivCandidate, AuditLog
from tests.support.fake_arxiv import (
    ATOM_CS_AI,
    EDITOR_ID,
    READER_ID,
    ArxivFixtureServer,
    Canned,
    load_capture,
)

HEAT_BATH = "Heat-bath random walks with Markov bases"


def editor(language: str = "zh") -> Caller:
    return Caller(
        channel="telegram", user_id=str(EDITOR_ID), chat_id=str(EDITOR_ID), language=language
    )


def reader() -> Caller:
    return Caller(channel="telegram", user_id=str(READER_ID), chat_id=str(READER_ID))


def text_of(replies: list[Reply]) -> str:
    return "\n".join(reply.body.plain_text for reply in replies)


async def test_draft_creates_a_prefilled_draft_and_sends_the_skeleton(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    replies = await arxiv_core.conversation.handle_text(editor(), "/draft 1605.08386")
    intro, skeleton_reply = replies
    review = arxiv_core.reviews.find("1605.08386", published_only=False)
    assert review is not None
    assert review.status == "draft" and review.title == HEAT_BATH
    assert review.authors == "Caprice Stanley, Tobias Windisch"
    assert review.paper_date == PaperDate(review.paper_date.value, "month")
    assert review.paper_date.iso() == "2016-05"
    assert f"已创建草稿 #{review.id}《{HEAT_BATH}》" in intro.body.plain_text
    assert "/queue" in intro.body.plain_text
    [block] = skeleton_reply.body.blocks
    assert block.kind == "code"
    skeleton = block.plain_text
    for line in (
        "## 最新论文解读",
        f"### {HEAT_BATH}",
        "**发表时间**: 2016年5月",
        "**作者**: Caprice Stanley, Tobias Windisch",
        "**链接**: [arXiv:1605.08386](https://arxiv.org/abs/1605.08386)",
        "#### 核心创新",
        "> Graphs on lattice points are studied whose edges come from a finite set",
    ):
        assert line in skeleton
    # A draft is never shown to readers.
    assert arxiv_core.reviews.find("1605.08386") is None
    assert HEAT_BATH not in text_of(await arxiv_core.conversation.handle_text(reader(), "/latest"))
    # Drafting is positive feedback for the ranking.
    with arxiv_core.sessions() as session:
        candidate = session.scalar(
            select(ArxivCandidate).where(ArxivCandidate.arxiv_id == "1605.08386")
        )
        assert candidate is not None
        assert candidate.status == "drafted" and candidate.review_id == review.id
    [request] = arxiv_server.api_requests()
    assert request.query["id_list"] == ["1605.08386"]


async def test_the_skeleton_imports_back_with_the_column_importer(
    arxiv_core: Core, tmp_path: Path
) -> None:
    [_, skeleton_reply] = await arxiv_core.conversation.handle_text(editor(), "/draft 1605.08386")
    skeleton = skeleton_reply.body.plain_text
    [parsed] = parse_text(skeleton, "skeleton.md")
    assert (parsed.title, parsed.arxiv_id, parsed.section) == (HEAT_BATH, "1605.08386", "latest")
    assert parsed.authors == "Caprice Stanley, Tobias Windisch"
    assert parsed.paper_date is not None and parsed.paper_date.iso() == "2016-05"
    assert "Graphs on lattice points" in parsed.body
    path = tmp_path / "skeleton.md"
    path.write_text(skeleton, encoding="utf-8")
    [report] = arxiv_core.reviews.import_files([path])
    assert report.error is None
    [outcome] = report.outcomes
    assert outcome.action == "unchanged" and outcome.review.status == "draft"


async def test_draft_accepts_urls_and_versions(arxiv_core: Core) -> None:
    replies = await arxiv_core.conversation.handle_text(
        editor(), "/draft https://arxiv.org/abs/1605.08386v1"
    )
    assert "已创建草稿" in text_of(replies)


async def test_drafting_twice_resends_the_skeleton_without_a_second_draft(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    await arxiv_core.conversation.handle_text(editor(), "/draft 1605.08386")
    count = arxiv_core.reviews.count()
    again = await arxiv_core.conversation.handle_text(editor(), "/draft 1605.08386")
    assert "已有草稿" in again[0].body.plain_text and "### " in again[1].body.plain_text
    assert arxiv_core.reviews.count() == count
    assert len(arxiv_server.api_requests()) == 1  # the record came from the store


async def test_a_published_paper_is_not_drafted_again(arxiv_core: Core) -> None:
    [reply] = await arxiv_core.conversation.handle_text(editor(), "/draft 2305.11206")
    assert "已有解读" in reply.body.plain_text and "已发布" in reply.body.plain_text
    lima = arxiv_core.reviews.find("2305.11206")
    assert lima is not None and lima.status == "published"


async def test_invalid_and_unknown_ids_get_clear_answers(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    [invalid] = await arxiv_core.conversation.handle_text(editor(), "/draft abc")
    assert "「abc」不是有效的 arXiv 编号" in invalid.body.plain_text
    assert arxiv_server.api_requests() == []
    [unknown] = await arxiv_core.conversation.handle_text(editor(), "/draft 0000.0000")
    assert "arXiv 上没有编号为 0000.0000 的论文" in unknown.body.plain_text
    [usage] = await arxiv_core.conversation.handle_text(editor(), "/draft")
    assert "/draft 2312.00752" in usage.body.plain_text
    [english] = await arxiv_core.conversation.handle_text(editor("en"), "/draft abc")
    assert "“abc” is not an arXiv id" in english.body.plain_text


async def test_an_id_arxiv_refuses_gets_arxivs_reason(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    body = str(load_capture("id_abc")["body"]).replace("abc", "2401.00001")
    arxiv_server.canned = [Canned(400, body.encode())]
    [reply] = await arxiv_core.conversation.handle_text(editor(), "/draft 2401.00001")
    assert "arXiv 不接受编号「2401.00001」：incorrect id format for 2401.00001" in (
        reply.body.plain_text
    )


async def test_unreachable_arxiv_is_said_plainly(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.canned = [Canned(503, b"")] * 3
    [reply] = await arxiv_core.conversation.handle_text(editor(), "/draft 1605.08386")
    assert "暂时连不上 arXiv" in reply.body.plain_text
    assert arxiv_core.reviews.find("1605.08386", published_only=False) is None


async def test_readers_are_not_allowed_and_are_audited(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    for command in ("/draft 1605.08386", "/candidates"):
        [reply] = await arxiv_core.conversation.handle_text(reader(), command)
        assert "抱歉，这个命令只对编辑开放" in reply.body.plain_text
    [reply] = await arxiv_core.conversation.handle_action(reader(), "axx:1")
    assert "抱歉，这个命令只对编辑开放" in reply.body.plain_text
    assert arxiv_server.requests == []
    with arxiv_core.sessions() as session:
        refused = session.scalars(select(AuditLog).where(AuditLog.allowed.is_(False))).all()
    assert len(refused) == 3
    reader_menu = [command.name for command in arxiv_core.registry.menu()]
    editor_menu = [command.name for command in arxiv_core.registry.menu(admin=True)]
    assert "draft" not in reader_menu and {"draft", "candidates"} <= set(editor_menu)


def feed_with_heat_bath_paper() -> bytes:
    """The cs.AI capture with one more entry: a paper the API fixtures know (hand-made)."""
    text = ATOM_CS_AI.read_text(encoding="utf-8")
    start = text.index("  <entry>")
    end = text.index("</entry>", start) + len("</entry>\n")
    entry = (
        text[start:end]
        .replace("2508.13167", "1605.08386")
        .replace(
            "Chain-of-Agents: End-to-End Agent Foundation Models via Multi-Agent Distillation "
            "and Agentic RL",
            HEAT_BATH,
        )
    )
    return (text[:start] + entry + text[start:]).encode()


async def test_candidates_list_then_draft_and_dismiss_buttons(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    [empty] = await arxiv_core.conversation.handle_text(editor(), "/candidates")
    assert "还没有待处理的候选论文" in empty.body.plain_text
    arxiv_server.feeds["cs.AI"] = feed_with_heat_bath_paper()
    arxiv_core.arxiv.categories = ["cs.AI"]
    await arxiv_core.arxiv.poll()

    [listing] = await arxiv_core.conversation.handle_text(editor(), "/candidates 3")
    best = arxiv_core.arxiv.pending(3)
    assert "待处理 88 篇" in listing.body.plain_text
    assert [row[0].action for row in listing.buttons] == [f"axd:{c.id}" for c in best]
    assert [row[1].action for row in listing.buttons] == [f"axx:{c.id}" for c in best]
    assert all(f"arXiv:{c.arxiv_id}" in listing.body.plain_text for c in best)
    assert "推荐理由" in listing.body.plain_text

    [dismissed] = await arxiv_core.conversation.handle_action(editor(), f"axx:{best[0].id}")
    assert f"已忽略《{best[0].title}》" in dismissed.body.plain_text
    assert best[0].arxiv_id not in {c.arxiv_id for c in arxiv_core.arxiv.pending()}
    [again] = await arxiv_core.conversation.handle_action(editor(), f"axx:{best[0].id}")
    assert "已经处理过了（已忽略）" in again.body.plain_text

    heat_bath = next(c for c in arxiv_core.arxiv.pending() if c.arxiv_id == "1605.08386")
    replies = await arxiv_core.conversation.handle_action(editor(), f"axd:{heat_bath.id}")
    assert "已创建草稿" in replies[0].body.plain_text
    review = arxiv_core.reviews.find("1605.08386", published_only=False)
    assert review is not None and review.authors == "Caprice Stanley, Tobias Windisch"
    assert "1605.08386" not in {c.arxiv_id for c in arxiv_core.arxiv.pending()}

    for forged in ("axd:abc", "axd:999999", "axx:1:2"):
        [stale] = await arxiv_core.conversation.handle_action(editor(), forged)
        assert "这个按钮已失效" in stale.body.plain_text


def test_author_lines_follow_the_column() -> None:
    assert display_authors(["Albert Gu", "Tri Dao"]) == "Albert Gu, Tri Dao"
    assert display_authors(["A", "B", "C"]) == "A, B, C"
    assert display_authors(["Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "J U"]) == (
        "Ashish Vaswani等"
    )


async def test_the_completed_skeleton_goes_back_with_queue(arxiv_core: Core) -> None:
    [_, skeleton_reply] = await arxiv_core.conversation.handle_text(editor(), "/draft 1605.08386")
    draft = arxiv_core.reviews.find("1605.08386", published_only=False)
    assert draft is not None
    count = arxiv_core.reviews.count()
    completed = skeleton_reply.body.plain_text.replace(
        "#### 核心创新\n\n（待补充）", "#### 核心创新\n\n热浴随机游走的混合时间分析。", 1
    )
    replies = await arxiv_core.conversation.handle_text(editor(), f"/queue\n{completed}")
    assert "抱歉" not in text_of(replies)
    assert arxiv_core.reviews.count() == count
    staged = arxiv_core.reviews.find("1605.08386", published_only=False)
    assert staged is not None and staged.id == draft.id
    assert "热浴随机游走的混合时间分析" in staged.body
