"""Polling, candidates, ranking, feedback and the editors' alert, on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from itertools import pairwise

import pytest
from sqlalchemy import select

from bot.app import Core, scheduled_jobs
from bot.core.addresses import ChatAddress
from bot.core.arxiv.api import PaperRecord
from bot.core.arxiv.watcher import CandidateView
from bot.core.conversation import Reply
from bot.db.models import ArxivCandidate, ArxivFeedState
from scheduler.arxiv_poll import poll_arxiv
from tests.support.fake_arxiv import ATOM_CS_AI, EDITOR_ID, RSS_COMBINED, ArxivFixtureServer, Canned

LLM_TITLE = re.compile(r"\bLLMs?\b|language models?", re.IGNORECASE)
UNRELATED = re.compile(
    r"LLM|language model|GPT|agent|reason|transformer|align|instruct|prompt", re.IGNORECASE
)


def editor(user_id: int) -> ChatAddress:
    return ChatAddress("telegram", str(user_id))


class RecordingNotifier:
    channel = "telegram"

    def __init__(self, failing: bool = False) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []
        self.failing = failing

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        if self.failing:
            raise RuntimeError("telegram is down")
        self.sent.append((chat_id, replies))


def use_categories(core: Core, *categories: str) -> None:
    core.arxiv.categories = list(categories)


def states(core: Core) -> dict[str, ArxivFeedState]:
    with core.sessions() as session:
        return {s.category: s for s in session.scalars(select(ArxivFeedState)).all()}


def by_id(candidates: list[CandidateView]) -> dict[str, CandidateView]:
    return {candidate.arxiv_id: candidate for candidate in candidates}


async def test_poll_stores_87_candidates_then_a_second_poll_adds_none(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    first = await arxiv_core.arxiv.poll()
    [outcome] = first.outcomes
    assert (outcome.status, outcome.entries, outcome.added) == ("updated", 87, 87)
    assert arxiv_core.arxiv.count_pending() == 87
    state = states(arxiv_core)["cs.AI"]
    assert state.etag and state.last_success_at and state.consecutive_errors == 0
    assert state.last_error and "no element found" in state.last_error  # the truncation

    second = await arxiv_core.arxiv.poll()
    assert second.added == 0 and second.outcomes[0].status == "unchanged"
    feed_requests = [r for r in arxiv_server.requests if r.path == "/atom/cs.AI"]
    assert "if-none-match" not in feed_requests[0].headers
    assert feed_requests[1].headers["if-none-match"] == state.etag
    assert arxiv_core.arxiv.count_pending() == 87


async def test_an_origin_ignoring_if_none_match_still_adds_nothing(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    arxiv_server.honor_etag = False
    use_categories(arxiv_core, "cs.AI")
    await arxiv_core.arxiv.poll()
    again = await arxiv_core.arxiv.poll()
    assert again.added == 0 and again.outcomes[0].status == "unchanged"


async def test_requests_carry_the_user_agent_and_keep_their_distance(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    for category in ("cs.CL", "cs.LG", "cs.AI"):
        arxiv_server.feeds[category] = RSS_COMBINED.read_bytes()
    arxiv_core.arxiv_client.interval = 0.2
    await arxiv_core.arxiv.poll()
    assert arxiv_server.paths() == ["/atom/cs.CL", "/atom/cs.LG", "/atom/cs.AI", "/api/query"]
    times = [request.at for request in arxiv_server.requests]
    assert all(b - a >= 0.19 for a, b in pairwise(times)), times
    agents = {request.headers["user-agent"] for request in arxiv_server.requests}
    assert agents == {arxiv_core.settings.http_user_agent}


async def test_cross_lists_collapse_versions_are_kept_replacements_ignored(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.LG"] = RSS_COMBINED.read_bytes()
    arxiv_server.feeds["stat.ML"] = RSS_COMBINED.read_bytes()
    use_categories(arxiv_core, "cs.LG", "stat.ML")
    report = await arxiv_core.arxiv.poll()
    assert [o.added for o in report.outcomes] == [3, 0]
    assert [o.ignored_replacements for o in report.outcomes] == [1, 1]
    found = by_id(arxiv_core.arxiv.pending())
    assert set(found) == {"2609.26811", "2609.26820", "2205.06398"}
    assert (found["2205.06398"].version, found["2205.06398"].announce_type) == (2, "cross")
    assert found["2205.06398"].categories == ("stat.ME", "stat.AP", "stat.ML")


async def test_replacements_are_taken_when_configured(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.LG"] = RSS_COMBINED.read_bytes()
    use_categories(arxiv_core, "cs.LG")
    arxiv_core.arxiv.include_replacements = True
    await arxiv_core.arxiv.poll()
    replaced = by_id(arxiv_core.arxiv.pending())["2009.13987"]
    assert (replaced.version, replaced.announce_type) == (3, "replace")


async def test_a_truncated_feed_keeps_what_it_can_and_logs_the_problem(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()[:60_000]
    use_categories(arxiv_core, "cs.AI")
    with caplog.at_level(logging.WARNING):
        report = await arxiv_core.arxiv.poll()
    [outcome] = report.outcomes
    assert outcome.status == "updated" and 0 < outcome.added < 87
    assert "malformed feed" in caplog.text and "cs.AI" in caplog.text


async def test_an_empty_weekend_feed_is_normal(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = (
        b"<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns='http://www.w3.org/2005/Atom'>"
        b"<id>http://rss.arxiv.org/atom/cs.AI</id><title>cs.AI updates on arXiv.org</title></feed>"
    )
    use_categories(arxiv_core, "cs.AI")
    [outcome] = (await arxiv_core.arxiv.poll()).outcomes
    assert outcome.status == "empty" and outcome.problem is None
    assert states(arxiv_core)["cs.AI"].consecutive_errors == 0


async def test_a_bad_category_is_named_counted_and_backed_off(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    arxiv_server.feeds["cs.AI"] = RSS_COMBINED.read_bytes()
    use_categories(arxiv_core, "cs.XX", "cs.AI")
    with caplog.at_level(logging.ERROR):
        report = await arxiv_core.arxiv.poll()
    failed, fine = report.outcomes
    assert failed.status == "failed" and fine.status == "updated"
    assert failed.problem and "'cs.XX'" in failed.problem and "HTTP 400" in failed.problem
    assert "Feed error" in failed.problem and "cs.XX" in caplog.text
    state = states(arxiv_core)["cs.XX"]
    assert state.consecutive_errors == 1 and state.next_attempt_at is not None
    assert state.last_error == failed.problem

    again = await arxiv_core.arxiv.poll()
    assert again.outcomes[0].status == "skipped"
    forced = await arxiv_core.arxiv.poll(force=True)
    assert forced.outcomes[0].status == "failed"
    assert states(arxiv_core)["cs.XX"].consecutive_errors == 2


async def test_retries_touch_only_failed_categories_and_success_resets_the_count(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    arxiv_server.feeds["cs.LG"] = RSS_COMBINED.read_bytes()
    use_categories(arxiv_core, "cs.AI", "cs.LG")
    arxiv_server.canned = [Canned(200, b"<html>maintenance</html>")]
    report = await arxiv_core.arxiv.poll()
    assert [o.status for o in report.outcomes] == ["failed", "updated"]
    assert "not an Atom or RSS feed" in (report.outcomes[0].problem or "")
    with arxiv_core.sessions.begin() as session:
        state = session.scalar(select(ArxivFeedState).where(ArxivFeedState.category == "cs.AI"))
        assert state is not None
        state.next_attempt_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    retry = await arxiv_core.arxiv.poll(only_failed=True)
    assert [(o.category, o.status, o.added) for o in retry.outcomes] == [("cs.AI", "updated", 87)]
    assert states(arxiv_core)["cs.AI"].consecutive_errors == 0
    assert (await arxiv_core.arxiv.poll(only_failed=True)).outcomes == ()


async def test_arxiv_throttling_is_retried_within_the_poll(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    arxiv_server.canned = [Canned(429, b"", {"Retry-After": "0"}), Canned(503, b"")]
    [outcome] = (await arxiv_core.arxiv.poll()).outcomes
    assert outcome.status == "updated" and outcome.added == 87


async def test_llm_papers_rank_above_unrelated_ones_each_with_a_reason(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    await arxiv_core.arxiv.poll()
    ranked = arxiv_core.arxiv.pending()
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    llm = [c for c in ranked if LLM_TITLE.search(c.title)]
    unrelated = [c for c in ranked if not UNRELATED.search(f"{c.title} {c.abstract}")]
    assert len(llm) >= 10 and len(unrelated) >= 10
    assert min(c.score for c in llm) > max(c.score for c in unrelated)
    assert all(c.reason for c in ranked)
    top = ranked[0]
    assert "keywords:" in top.reason and "关键词" in top.reason_in("zh")
    assert any("like the review" in c.reason for c in ranked[:20])
    # The reviews' own arXiv records were fetched (once) to compare abstracts with.
    assert len(arxiv_core.arxiv_records.cached(["2305.11206", "2312.00752"])) == 2


async def test_feedback_visibly_moves_a_similar_paper(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    await arxiv_core.arxiv.poll()
    watcher = arxiv_core.arxiv

    def standing(arxiv_id: str) -> tuple[int, float]:
        ranked = [c.arxiv_id for c in watcher.pending()]
        return ranked.index(arxiv_id), by_id(watcher.pending())[arxiv_id].score

    # ComputerRL (2508.14040) resembles Chain-of-Agents (2508.13167) more than any other.
    place, score = standing("2508.14040")
    chain = by_id(watcher.pending())["2508.13167"]
    result = await watcher.dismiss(chain.id)
    assert result is not None and result[1]
    dismissed_place, dismissed_score = standing("2508.14040")
    assert dismissed_score < score - 0.5 and dismissed_place > place
    computer_rl = by_id(watcher.pending())["2508.14040"]
    assert "like dismissed “Chain-of-Agents" in computer_rl.reason
    assert "与已忽略的《Chain-of-Agents" in computer_rl.reason_in("zh")

    record = PaperRecord(
        chain.arxiv_id,
        chain.version,
        chain.title,
        chain.authors,
        chain.abstract,
        chain.categories,
        None,
        dt.datetime(2025, 8, 19, tzinfo=dt.UTC),
        None,
    )
    await watcher.record_drafted(record, review_id=1)
    drafted_place, drafted_score = standing("2508.14040")
    assert drafted_score > score + 0.5 and drafted_place < place
    assert "like drafted “Chain-of-Agents" in by_id(watcher.pending())["2508.14040"].reason


async def test_the_poll_job_alerts_editors_once_with_buttons(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    notifier = RecordingNotifier()
    report = await poll_arxiv(arxiv_core.arxiv, notifier, [editor(4242), editor(4343)], top_n=5)
    assert report.added == 87
    assert [chat for chat, _ in notifier.sent] == ["4242", "4343"]
    [alert] = notifier.sent[0][1]
    text = alert.body.plain_text
    assert "本次新增 87 篇候选" in text and "推荐理由" in text
    best = arxiv_core.arxiv.pending(5)
    assert best[0].title in text and best[4].title in text
    assert len(alert.buttons) == 5
    draft, dismiss, open_ = alert.buttons[0]
    assert draft.action == f"axd:{best[0].id}" and dismiss.action == f"axx:{best[0].id}"
    assert open_.url == f"https://arxiv.org/abs/{best[0].arxiv_id}"

    await poll_arxiv(arxiv_core.arxiv, notifier, [editor(4242)], top_n=5)
    [(_, [next_alert])] = notifier.sent[2:]
    assert best[0].title not in next_alert.body.plain_text  # already announced
    assert "本次新增 0 篇候选" in next_alert.body.plain_text


async def test_an_undelivered_alert_is_sent_again_after_the_next_poll(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    await poll_arxiv(arxiv_core.arxiv, RecordingNotifier(failing=True), [editor(4242)], top_n=3)
    with arxiv_core.sessions() as session:
        alerted = session.scalars(
            select(ArxivCandidate).where(ArxivCandidate.alerted_at.is_not(None))
        ).all()
    assert alerted == []
    working = RecordingNotifier()
    await poll_arxiv(arxiv_core.arxiv, working, [editor(4242)], top_n=3)
    best = arxiv_core.arxiv.pending(1)[0]
    assert best.title in working.sent[0][1][0].body.plain_text


async def test_failed_categories_reach_the_editors(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    use_categories(arxiv_core, "cs.XX")
    notifier = RecordingNotifier()
    await poll_arxiv(arxiv_core.arxiv, notifier, [editor(4242)], top_n=3)
    [(_, [alert])] = notifier.sent
    assert "cs.XX" in alert.body.plain_text and "抓取失败" in alert.body.plain_text


async def test_scheduled_jobs_include_the_poll_and_its_retries(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    use_categories(arxiv_core, "cs.AI")
    notifier = RecordingNotifier()
    jobs = {job.name: job for job in scheduled_jobs(arxiv_core, notifier)}
    assert jobs["arxiv-poll"].cron == arxiv_core.settings.arxiv_poll_cron == "30 13 * * mon-fri"
    assert "arxiv-retry" in jobs
    await jobs["arxiv-poll"].run()
    assert arxiv_core.arxiv.count_pending() == 87
    assert [chat for chat, _ in notifier.sent] == [str(EDITOR_ID)]


async def test_polls_fired_together_take_turns(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    arxiv_server.honor_etag = False
    use_categories(arxiv_core, "cs.AI")
    first, second = await asyncio.gather(arxiv_core.arxiv.poll(), arxiv_core.arxiv.poll())
    assert first.added + second.added == 87
    assert arxiv_core.arxiv.count_pending() == 87
