"""The arXiv watcher's acceptance points through the real `paperbot` command."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.fake_arxiv import ATOM_CS_AI, ArxivFixtureServer
from tests.support.paths import REPO_DIR, SEED_FILE

LLM_TITLE = re.compile(r"\bLLMs?\b|language models?", re.IGNORECASE)
UNRELATED = re.compile(
    r"LLM|language model|GPT|agent|reason|transformer|align|instruct|prompt", re.IGNORECASE
)


def candidate_count(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "data" / "paperbot.db") as connection:
        return int(connection.execute("SELECT count(*) FROM arxiv_candidates").fetchone()[0])


def test_poll_twice_then_list_ranked_candidates_as_json(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    env = {**arxiv_server.env(), "ARXIV_CATEGORIES": "cs.AI"}
    first = run_cli(["arxiv", "poll"], tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert "cs.AI: updated, 87 entries, 87 new candidates" in first.stdout
    assert "no element found" in first.stdout  # the truncated capture, said and survived
    assert candidate_count(tmp_path) == 87

    second = run_cli(["arxiv", "poll"], tmp_path, **env)
    assert second.returncode == 0, second.stderr
    assert "cs.AI: unchanged, 0 entries, 0 new candidates" in second.stdout
    assert candidate_count(tmp_path) == 87

    listed = run_cli(["candidates", "--json"], tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert len(records) == 87
    assert {"arxiv_id", "title", "score", "reason"} <= set(records[0])
    scores = [record["score"] for record in records]
    assert scores == sorted(scores, reverse=True)
    assert all(record["reason"] for record in records)
    llm = [r["score"] for r in records if LLM_TITLE.search(r["title"])]
    unrelated = [
        r["score"] for r in records if not UNRELATED.search(f"{r['title']} {r['abstract']}")
    ]
    assert llm and unrelated and min(llm) > max(unrelated)

    top = run_cli(["candidates", "-n", "3"], tmp_path, **env)
    lines = top.stdout.splitlines()
    assert len(lines) == 6 and records[0]["arxiv_id"] in lines[0]
    assert lines[1].strip() == records[0]["reason"]


def test_poll_reports_a_bad_category_and_fails(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    result = run_cli(["arxiv", "poll"], tmp_path, **arxiv_server.env(), ARXIV_CATEGORIES="cs.XX")
    assert result.returncode == 2  # nothing was polled
    assert "cs.XX: failed" in result.stderr and "'cs.XX'" in result.stderr


def test_lint_reports_the_seeds_wrong_author_line(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    result = run_cli(["lint", str(SEED_FILE)], tmp_path, **arxiv_server.env())
    assert result.returncode == 1, result.stderr
    assert f"{SEED_FILE}:39: arXiv:2305.11206 LIMA: Less Is More for Alignment" in result.stdout
    assert "authors: 'Collin Burns等 (Meta AI)' -> 'Chunting Zhou等 (Meta AI)'" in result.stdout
    assert "date: '2023-06' -> '2023-05'" in result.stdout
    assert "checked 5 reviews: 2 mismatches in 1 review (1 arXiv request)" in result.stdout


def test_lint_passes_on_content_and_on_the_store(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    content = run_cli(["lint", str(REPO_DIR / "content")], tmp_path, **arxiv_server.env())
    assert content.returncode == 0, content.stdout + content.stderr
    assert "checked 5 reviews: all match arXiv (1 arXiv request)" in content.stdout
    store = run_cli(["lint"], tmp_path, **arxiv_server.env())
    assert store.returncode == 0, store.stdout + store.stderr
    assert "checked 5 reviews: all match arXiv (0 arXiv requests)" in store.stdout
    assert len(arxiv_server.api_requests()) == 1


def test_lint_without_arxiv_says_so(tmp_path: Path) -> None:
    result = run_cli(
        ["lint", str(SEED_FILE)],
        tmp_path,
        ARXIV_API_URL="http://127.0.0.1:9/api/query",
        ARXIV_REQUEST_INTERVAL="0",
    )
    assert result.returncode == 2
    assert "arXiv did not answer" in result.stderr


def test_draft_in_the_editors_console(tmp_path: Path, arxiv_server: ArxivFixtureServer) -> None:
    result = run_cli(
        ["console", "--admin"],
        tmp_path,
        stdin="/draft 1605.08386\n/draft abc\n",
        **arxiv_server.env(),
    )
    assert result.returncode == 0, result.stderr
    assert "已创建草稿" in result.stdout and "**作者**: Caprice Stanley, Tobias Windisch" in (
        result.stdout
    )
    assert "「abc」不是有效的 arXiv 编号" in result.stdout
    reader = run_cli(["console"], tmp_path, stdin="/draft 1605.08386\n", **arxiv_server.env())
    assert "抱歉，这个命令只对编辑开放" in reader.stdout
