"""arXiv that does not hang (#12 point 7): `arxiv poll` and `lint` stop at
ARXIV_DEADLINE_SECONDS, say how far they got, name a category in backoff with the
`--force` that polls it, and exit with whether anything was polled; the Draft button
drafts from the candidate's feed data when the API is down, saying "fetching…" first."""

from __future__ import annotations

import io
from pathlib import Path

from bot.app import Core
from bot.channels.console import run_console
from bot.core.conversation import Caller
from tests.support.cli import run_cli
from tests.support.fake_arxiv import ATOM_CS_AI, ArxivFixtureServer, Canned
from tests.support.paths import SEED_FILE


def test_a_hung_feed_stops_at_the_deadline_and_the_rest_is_still_polled(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    arxiv_server.hang.add("/atom/cs.LG")
    env = {**arxiv_server.env(), "ARXIV_CATEGORIES": "cs.AI,cs.LG,cs.CL"}
    result = run_cli(["arxiv", "poll"], tmp_path, timeout=60, ARXIV_DEADLINE_SECONDS="4", **env)
    assert result.returncode == 1, result.stdout + result.stderr  # something was polled
    assert "polling cs.AI, cs.LG, cs.CL (at most 4 s" in result.stdout
    assert "cs.AI: updated, 87 entries" in result.stdout
    assert "cs.LG: failed (no answer before the poll's deadline" in result.stderr
    assert "cs.CL: not polled, the deadline was reached" in result.stderr
    assert "stopped at the deadline (ARXIV_DEADLINE_SECONDS=4)" in result.stderr
    assert "1 of 3 categories polled; 87 new candidates" in result.stdout


def test_a_category_in_backoff_says_so_and_how_to_force_it(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    env = {**arxiv_server.env(), "ARXIV_CATEGORIES": "cs.XX"}
    failed = run_cli(["arxiv", "poll"], tmp_path, **env)
    assert failed.returncode == 2 and "cs.XX: failed" in failed.stderr
    again = run_cli(["arxiv", "poll"], tmp_path, **env)
    assert again.returncode == 2, "nothing was polled"
    assert "cs.XX: backing off after 1 error in a row until" in again.stderr
    assert "`paperbot arxiv poll --force` polls it now" in again.stderr
    assert "0 of 1 category polled" in again.stdout
    arxiv_server.feeds["cs.XX"] = ATOM_CS_AI.read_bytes()
    forced = run_cli(["arxiv", "poll", "--force"], tmp_path, **env)
    assert forced.returncode == 0, forced.stderr
    assert "cs.XX: updated" in forced.stdout and "1 of 1 category polled" in forced.stdout


def test_lint_against_a_hung_api_stops_at_the_deadline(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.hang.add("/api/")
    result = run_cli(
        ["lint", str(SEED_FILE)],
        tmp_path,
        timeout=60,
        ARXIV_DEADLINE_SECONDS="3",
        **arxiv_server.env(),
    )
    assert result.returncode == 2
    assert "arXiv request 1 of 1: 5 records" in result.stderr
    assert "did not answer within ARXIV_DEADLINE_SECONDS=3" in result.stderr


async def test_the_draft_button_drafts_from_the_feed_when_the_api_is_down(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    arxiv_core.arxiv.categories = ["cs.AI"]
    await arxiv_core.arxiv.poll()
    [best] = arxiv_core.arxiv.pending(1)
    arxiv_server.canned.extend([])  # the API now fails: every request gets a 503
    arxiv_server.hang.clear()

    arxiv_server.canned.extend(Canned(503, b"down") for _ in range(10))
    output = io.StringIO()
    source = io.StringIO("/candidates 1\n:1\n")
    status = await run_console(arxiv_core.conversation, source, output, "zh", admin=True)
    text = output.getvalue()
    assert status == 0
    assert "正在获取…" in text
    assert text.index("正在获取…") < text.index("已创建草稿")
    draft = arxiv_core.reviews.find(best.arxiv_id, published_only=False)
    assert draft is not None and draft.status == "draft"
    assert draft.title == best.title
    assert "arXiv 暂时连不上" in text  # the editor is told the skeleton is from the feed
    assert "**作者**: " + best.authors[0] in text


async def test_the_pending_notice_is_for_editors_and_slow_buttons_only(arxiv_core: Core) -> None:
    editor = Caller(channel="console", user_id="0", chat_id="0", trusted=True)
    reader = Caller(channel="telegram", user_id="5", chat_id="5", language="en")
    assert arxiv_core.conversation.pending_notice(editor, "axd:1") == "正在获取…"
    assert arxiv_core.conversation.pending_notice(reader, "axd:1") is None
    assert arxiv_core.conversation.pending_notice(editor, "p:latest:5:0") is None
