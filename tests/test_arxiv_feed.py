"""Parsing arXiv's feeds: the real captures, including a truncated one, never a crash."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bot.core.arxiv.feed import FeedEntry, dedupe, feed_url, merge, parse_feed, split_authors
from tests.support.fake_arxiv import ATOM_CS_AI, RSS_COMBINED


def test_the_truncated_atom_capture_yields_its_87_entries_and_names_the_problem() -> None:
    parsed = parse_feed(ATOM_CS_AI.read_bytes())
    assert len(parsed.entries) == 87
    assert parsed.format == "atom10"
    assert parsed.problem is not None and "no element found" in parsed.problem
    kinds = Counter(entry.announce_type for entry in parsed.entries)
    assert kinds == {"new": 41, "cross": 45, "unknown": 1}
    assert {entry.version for entry in parsed.entries} == {1}
    assert len({entry.arxiv_id for entry in parsed.entries}) == 87
    # The entry the file is cut off in keeps what could be read: its id and title.
    last = parsed.entries[-1]
    assert last.arxiv_id == "2508.13435" and last.title.startswith("SVDformer")
    assert last.abstract == "" and last.authors == ()


def test_atom_entries_keep_id_version_authors_categories_and_the_abstract_intact() -> None:
    first = parse_feed(ATOM_CS_AI.read_bytes()).entries[0]
    assert first.arxiv_id == "2508.13167" and first.version == 1
    assert first.title.startswith("Chain-of-Agents: End-to-End Agent Foundation Models")
    assert first.announce_type == "new"
    assert first.categories == ("cs.AI", "cs.CL")
    assert first.announced_on == dt.date(2025, 8, 20)
    assert first.authors[:3] == ("Weizhen Li", "Jianbo Lin", "Zhuosong Jiang")
    assert first.authors[-1] == "Wangchunshu Zhou" and len(first.authors) == 30
    assert first.abstract.startswith("Recent advances in large language models (LLMs)")
    assert "Announce Type" not in first.abstract and "arXiv:" not in first.abstract[:10]


def test_literal_tag_like_text_and_comparisons_survive_in_atom_abstracts() -> None:
    abstracts = [entry.abstract for entry in parse_feed(ATOM_CS_AI.read_bytes()).entries]
    assert any("<think>" in abstract and "<answer>" in abstract for abstract in abstracts)
    assert any("p < 0.001" in abstract for abstract in abstracts)


def test_rss_capture_versions_announce_types_and_no_channel_header_as_author() -> None:
    parsed = parse_feed(RSS_COMBINED.read_bytes())
    assert parsed.problem is None and parsed.format == "rss20"
    by_id = {entry.arxiv_id: entry for entry in parsed.entries}
    assert list(by_id) == ["2609.26811", "2609.26820", "2205.06398", "2009.13987"]
    assert by_id["2205.06398"].version == 2 and by_id["2205.06398"].announce_type == "cross"
    assert by_id["2009.13987"].version == 3 and by_id["2009.13987"].is_replacement
    assert by_id["2609.26820"].authors == (
        "Naser Mansour",
        "Sidahmed Benabderrahmane",
        "Ameer Rahwan",
    )
    everyone = [author for entry in parsed.entries for author in entry.authors]
    assert not any("arxiv.org" in author or "@" in author for author in everyone)


def test_rss_descriptions_keep_literal_think_tags() -> None:
    """feedparser strips tag-like text from RSS descriptions unless told not to sanitize."""
    source = RSS_COMBINED.read_text(encoding="utf-8").replace(
        "Abstract: Local learning trains",
        "Abstract: We wrap &lt;think&gt; and &lt;answer&gt; around local learning, which trains",
    )
    [first, *_] = parse_feed(source.encode()).entries
    assert first.abstract.startswith("We wrap <think> and <answer> around local learning")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><body>Service Unavailable</body></html>",
        b"\x00\xff\xfe garbage",
        ATOM_CS_AI.read_bytes()[:20_000],
        RSS_COMBINED.read_bytes()[:-300],
    ],
)
def test_broken_documents_never_raise(data: bytes) -> None:
    parsed = parse_feed(data)
    assert all(entry.arxiv_id and entry.title for entry in parsed.entries)


def test_an_empty_weekend_feed_is_no_problem() -> None:
    empty = (
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>http://rss.arxiv.org/atom/cs.AI</id>'
        b"<title>cs.AI updates on arXiv.org</title></feed>"
    )
    parsed = parse_feed(empty)
    assert parsed.entries == () and parsed.problem is None and parsed.format == "atom10"


def test_dc_creator_splitting() -> None:
    assert split_authors(["A. Smith, B. Jones,  C.  Lee"]) == ("A. Smith", "B. Jones", "C. Lee")
    assert split_authors(["Martin Luther King, Jr., Ada Lovelace"]) == (
        "Martin Luther King, Jr.",
        "Ada Lovelace",
    )
    assert split_authors(["rss-help@arxiv.org"]) == ()


def _entry(arxiv_id: str, version: int, kind: str, *categories: str) -> FeedEntry:
    return FeedEntry(arxiv_id, version, "T", (), "", categories, kind, dt.date(2026, 9, 24))


def test_cross_lists_and_repeats_collapse_to_one_per_id() -> None:
    merged = dedupe(
        [
            _entry("2609.00001", 1, "cross", "cs.AI"),
            _entry("2609.00002", 1, "new", "cs.LG"),
            _entry("2609.00001", 1, "new", "cs.CL"),
            _entry("2609.00001", 2, "replace", "cs.CL"),
        ]
    )
    assert [entry.arxiv_id for entry in merged] == ["2609.00001", "2609.00002"]
    first = merged[0]
    assert first.version == 2 and first.announce_type == "replace"
    assert first.categories == ("cs.CL", "cs.AI")
    same_version = merge(_entry("1", 1, "cross", "cs.AI"), _entry("1", 1, "new", "cs.CL"))
    assert same_version.announce_type == "new"


def test_feed_url_fills_or_appends_the_category() -> None:
    assert feed_url("https://rss.arxiv.org/atom/{category}", "cs.CL") == (
        "https://rss.arxiv.org/atom/cs.CL"
    )
    assert feed_url("http://127.0.0.1:9/feeds/", "cs.AI") == "http://127.0.0.1:9/feeds/cs.AI"
