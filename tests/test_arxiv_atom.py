"""The fast Atom reader gives feedparser's entries, entry by entry, or steps aside.

Every document is parsed both ways, by `parse_feed` (fast reader, feedparser as the
fallback) and by feedparser alone, and the results are compared field by field.
"""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path

import feedparser
import pytest

from bot.core.arxiv.atom import UnsupportedDocumentError, read_atom
from bot.core.arxiv.feed import ParsedFeed, parse_atom_fast, parse_feed, parse_with_feedparser
from tests.support.fake_arxiv import API_DIR, ARXIV_DATA, ATOM_CS_AI, RSS_COMBINED

CAPTURES = sorted(ARXIV_DATA.glob("*.xml"))
API_ANSWERS = sorted(API_DIR.glob("*.json"))

HEADER = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<feed xmlns:arxiv="http://arxiv.org/schemas/atom" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns="http://www.w3.org/2005/Atom" '
    'xml:lang="en-us">\n'
    "  <id>http://rss.arxiv.org/atom/cs.AI</id>\n"
    "  <title>cs.AI updates on arXiv.org</title>\n"
    "  <updated>2025-08-20T04:00:19.866337+00:00</updated>\n"
    '  <link href="http://rss.arxiv.org/atom/cs.AI" rel="self" type="application/atom+xml"/>\n'
    "  <subtitle>cs.AI updates on the arXiv.org e-print archive.</subtitle>\n"
)


def atom(*entries: str, header: str = HEADER) -> bytes:
    return (header + "".join(f"  <entry>{entry}</entry>\n" for entry in entries)).encode() + (
        b"</feed>\n"
    )


def entry(
    arxiv_id: str = "2508.13167v1",
    title: str = "A title",
    summary: str = "arXiv:2508.13167v1 Announce Type: new \nAbstract: An abstract.",
    extra: str = "",
    creator: str = "A. Smith, B. Jones",
) -> str:
    return (
        f"<id>oai:arXiv.org:{arxiv_id}</id><title>{title}</title>"
        "<updated>2025-08-20T04:00:19.910019+00:00</updated>"
        f'<link href="https://arxiv.org/abs/{arxiv_id[:10]}" rel="alternate" type="text/html"/>'
        f"<summary>{summary}</summary>"
        '<category term="cs.AI"/><category term="cs.CL"/>'
        "<published>2025-08-20T00:00:00-04:00</published>"
        f"<arxiv:announce_type>new</arxiv:announce_type>{extra}"
        f"<dc:creator>{creator}</dc:creator>"
    )


def assert_same_as_feedparser(data: bytes, *, fast: bool) -> ParsedFeed:
    """`parse_feed` equals feedparser's result; `fast` says which path it must have taken."""
    if fast:
        assert_same_dictionaries(data)  # raises if the fast reader refused the document
    else:
        with pytest.raises(UnsupportedDocumentError):
            parse_atom_fast(data)
    ours, theirs = parse_feed(data), parse_with_feedparser(data)
    assert len(ours.entries) == len(theirs.entries)
    for index, (mine, reference) in enumerate(zip(ours.entries, theirs.entries, strict=True)):
        assert mine == reference, f"entry {index} differs"
    assert (ours.skipped, ours.problem, ours.format) == (
        theirs.skipped,
        theirs.problem,
        theirs.format,
    )
    return ours


#: The keys of feedparser's entries that `feed._entry` and `api._record` read.
USED_KEYS = {"id", "link", "title", "summary", "published_parsed", "updated_parsed"} | {
    "authors",
    "tags",
    "arxiv_announce_type",
    "arxiv_primary_category",
}


def assert_same_dictionaries(data: bytes) -> None:
    """Below the entries: each key the reader sets holds feedparser's value, and no key
    the callers read is missing (but `updated_parsed`, computed only when needed)."""
    ours = read_atom(data)
    theirs = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    assert not theirs.get("bozo")
    assert len(ours) == len(theirs["entries"])
    for index, (mine, reference) in enumerate(zip(ours, theirs["entries"], strict=True)):
        for key, value in mine.items():
            assert dict.get(reference, key) == value, f"entry {index}: {key}"
        missing = (USED_KEYS & reference.keys()) - mine.keys()
        if mine.get("published_parsed"):
            missing.discard("updated_parsed")
        assert not missing, f"entry {index} lacks {missing}"


# --- the real captures -------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda path: path.name)
def test_every_feed_capture_parses_as_feedparser_parses_it(capture: Path) -> None:
    # The Atom capture is truncated and the other one is RSS: both go to feedparser.
    assert_same_as_feedparser(capture.read_bytes(), fast=False)


def test_the_truncated_capture_still_yields_its_87_entries() -> None:
    parsed = parse_feed(ATOM_CS_AI.read_bytes())
    assert len(parsed.entries) == 87 and parsed.problem and "no element found" in parsed.problem


def test_the_captures_complete_entries_take_the_fast_path_with_identical_results() -> None:
    text = ATOM_CS_AI.read_text(encoding="utf-8")
    complete = text[: text.rindex("</entry>") + len("</entry>")] + "\n</feed>\n"
    parsed = assert_same_as_feedparser(complete.encode(), fast=True)
    assert len(parsed.entries) == 86 and parsed.problem is None
    abstracts = [e.abstract for e in parsed.entries]
    assert any("<think>" in abstract and "<answer>" in abstract for abstract in abstracts)
    assert any("p < 0.001" in abstract for abstract in abstracts)


@pytest.mark.parametrize("answer", API_ANSWERS, ids=lambda path: path.name)
def test_every_api_capture_takes_the_fast_path_with_identical_results(answer: Path) -> None:
    body = json.loads(answer.read_text(encoding="utf-8"))["body"].encode()
    assert_same_as_feedparser(body, fast=True)


def test_the_rss_capture_is_left_to_feedparser() -> None:
    parsed = assert_same_as_feedparser(RSS_COMBINED.read_bytes(), fast=False)
    assert parsed.format == "rss20" and len(parsed.entries) == 4


# --- generated feeds with edge cases ---------------------------------------------

EDGE_CASES = {
    "entities": entry(
        title="Q&amp;A &lt;b&gt; &#x3C;think&#x3E; &#233;t&#233; &quot;x&quot; &apos;y&apos;",
        summary="arXiv:2508.13167v1 Announce Type: new \n"
        "Abstract: a &amp;amp; b, &amp;lt;c&amp;gt;",
    ),
    "cdata and think": entry(
        summary="<![CDATA[arXiv:2508.13167v1 Announce Type: new \nAbstract: <think>x</think>"
        " & <answer>y</answer> p < 0.001]]>"
    ),
    "escaped think": entry(
        summary="arXiv:2508.13167v1 Announce Type: cross \nAbstract: &lt;think&gt; p &lt; 0.05"
    ),
    "comment and processing instruction in text": entry(
        title="Split <!-- a comment --> title<?pi data?> here"
    ),
    "whitespace": entry(title="\n   A\ttitle \n  over\r\n lines  ", summary="  \n  "),
    "unicode": entry(
        title="大语言模型的推理 🚀 Ünïcödé e\u0301 \u00a0nbsp\u2028",
        creator="张三, José Ñúñez, Zoë Å. Ørsted",
    ),
    "double-encoded utf-8": entry(
        title="Caf\u00c3\u00a9 na\u00c3\u00afve",
        creator="Jos\u00c3\u00a9 Garc\u00c3\u00ada",
    ),
    "c1 controls": entry(
        title="&#128;&#129;&#133;&#150;&#151;&#157;&#159; end \u00e9",
        summary="arXiv:2508.13167v1 Announce Type: new \nAbstract: x \u0085y",
        creator="&#150;, B",
    ),
    "many creators and suffixes": entry(
        creator="Martin Luther King, Jr., Ada Lovelace, and Alan Turing, III"
    )
    + "<dc:creator>Second Creator</dc:creator>",
    "creator with a mail address": entry(creator="A. Smith (asmith@example.org), B. Jones"),
    "atom authors": entry(creator="")
    + "<author><name> Caprice  Stanley </name></author>"
    + "<author><name>T. W.</name><email>tw@example.org</email><uri>http:///x.org/</uri>"
    + "<arxiv:affiliation>Somewhere</arxiv:affiliation></author>"
    + "<author><email>only@example.org</email></author>"
    + "<author> Loose text <name>Named</name></author>",
    "no summary, no dates": (
        "<id>oai:arXiv.org:2508.00001v2</id><title>T</title><dc:creator>X</dc:creator>"
    ),
    "updated only": "<id>oai:arXiv.org:2508.00002v1</id><title>T</title>"
    "<updated>2025-08-21T23:30:00-05:00</updated>",
    "empty published falls back to updated": "<id>oai:arXiv.org:2508.00003v1</id><title>T</title>"
    "<published></published><updated>2025-08-21T00:30:00+05:30</updated>",
    "published in utc, crossing midnight": "<id>oai:arXiv.org:2508.00004v1</id><title>T</title>"
    "<published>2025-12-31T22:00:00.5-04:00</published>",
    "z suffix": "<id>oai:arXiv.org:2508.00005v1</id><title>T</title>"
    "<published>2025-08-20t04:00:00z</published>",
    "missing title is skipped": "<id>oai:arXiv.org:2508.00006v1</id><summary>x</summary>",
    "empty first title": "<id>oai:arXiv.org:2508.00007v1</id><title> </title><title>Second</title>"
    "<title>Third</title>",
    "no id: link decides": "<title>T</title>"
    '<link href="https://arxiv.org/abs/2508.00008v3" type="text/html"/>',
    "no id, no link": "<title>T</title><summary>arXiv:2508.00009v4 Announce Type: replace "
    "\nAbstract: x</summary>",
    "id without arxiv id, html link": "<id>urn:x</id><title>T</title>"
    '<link href="http:////arxiv.org/abs/2508.00010" rel="alternate"/>'
    '<link href="https://arxiv.org/pdf/2508.00011" rel="related" type="application/pdf"/>',
    "old-style id": entry(arxiv_id="hep-th/9901001v2"),
    "id that only the link reading understands": "<id>https://arxiv.org/abs/2508.00012/</id>"
    "<title>T</title>",
    "id with extra slashes": "<id>http:////arxiv.org/abs/2508.00013v1</id><title>T</title>",
    "creator, then atom authors": entry(creator="First, Second")
    + "<author><name>Third</name></author><author><name>Fourth</name></author>",
    "authors as bare text": entry(creator="")
    + "<author>Only Text</author><author> Text <email>e@x.org</email></author>"
    + "<author><uri>https:///a.org</uri></author>",
    "repeated and odd categories": entry()
    + '<category term="cs.AI" scheme="s"/><category term="" label="L"/><category/>'
    + '<category term="cs.CL"/>'
    + '<category term="math.CO">  </category>',
    "announce type spelled oddly": entry(
        extra="<arxiv:announce_type> Replace-Cross </arxiv:announce_type>"
    ),
    "api extras": entry(
        extra='<arxiv:primary_category term="cs.AI" scheme="http://arxiv.org/schemas/atom"/>'
        "<arxiv:comment>12 pages</arxiv:comment><arxiv:doi>10.1/x</arxiv:doi>"
        "<arxiv:journal_ref>J</arxiv:journal_ref><dc:rights>cc-by</dc:rights>"
    ),
    "typed text": entry(title="<![CDATA[A <i>title</i>]]>")
    .replace("<title>", '<title type="html">')
    .replace("<summary>", '<summary type="text">'),
}


@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_edge_cases_take_the_fast_path_with_identical_results(case: str) -> None:
    assert_same_as_feedparser(atom(EDGE_CASES[case], entry(arxiv_id="2508.99999v1")), fast=True)


def test_edge_case_values_are_what_an_editor_should_see() -> None:
    """Not only equal to feedparser, but right: a guard against both being wrong the same way."""
    by_case = {case: parse_feed(atom(EDGE_CASES[case])).entries for case in EDGE_CASES}
    [entities] = by_case["entities"]
    assert entities.title == "Q&A <b> <think> été \"x\" 'y'"
    assert entities.abstract == "a &amp; b, &lt;c&gt;"
    [cdata] = by_case["cdata and think"]
    assert cdata.abstract == "<think>x</think> & <answer>y</answer> p < 0.001"
    assert by_case["comment and processing instruction in text"][0].title == "Split title here"
    assert by_case["whitespace"][0].title == "A title over lines"
    [mojibake] = by_case["double-encoded utf-8"]
    assert (mojibake.title, mojibake.authors) == ("Café naïve", ("José García",))
    [c1] = by_case["c1 controls"]
    assert (c1.title, c1.abstract, c1.authors) == ("€\x81…–—\x9dŸ end é", "x …y", ("–", "B"))
    assert by_case["creator with a mail address"][0].authors == ("A. Smith", "B. Jones")
    assert by_case["atom authors"][0].authors == (
        "Caprice Stanley",
        "T. W.",
        "T. W.",
        "Named",
    )
    assert by_case["empty first title"][0].title == "Second"
    assert [e.arxiv_id for e in by_case["no id: link decides"]] == ["2508.00008"]
    assert by_case["no id, no link"][0].version == 4
    assert by_case["published in utc, crossing midnight"][0].announced_on.isoformat() == (
        "2026-01-01"
    )
    assert by_case["missing title is skipped"] == ()


# --- documents the fast reader refuses -------------------------------------------

REFUSED = {
    "doctype with entities": atom(entry()).replace(
        b"<feed",
        b'<!DOCTYPE feed [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]>\n<feed',
        1,
    ),
    "doctype after a comment that looks like the root": atom(entry()).replace(
        b"<feed", b'<!-- <feed --><!DOCTYPE feed [<!ENTITY a "lol">]>\n<feed', 1
    ),
    "latin-1 declared on the declaration's second line": atom(entry(title="Caf\u00e9"))
    .replace(b"version='1.0' encoding='UTF-8'", b"version='1.0'\n encoding='ISO-8859-1'")
    .replace("Caf\u00e9".encode(), b"Caf\xe9"),
    "arxiv namespace under another prefix": atom(entry())
    .replace(b"xmlns:arxiv=", b"xmlns:ax=")
    .replace(b"arxiv:announce_type", b"ax:announce_type"),
    "atom under a prefix": atom(entry()).replace(
        b"<feed", b'<feed xmlns:atom="http://www.w3.org/2005/Atom"'
    ),
    "xhtml summary": atom(
        entry(summary='<div xmlns="http://www.w3.org/1999/xhtml">x</div>').replace(
            "<summary>", '<summary type="xhtml">'
        )
    ),
    "markup inside a summary": atom(entry(summary="a <b>bold</b> claim")),
    "content element": atom(entry(extra="<content>text</content>")),
    "xml:base": atom(entry()).replace(b"<feed", b'<feed xml:base="http://arxiv.org/"', 1),
    "date without a time zone": atom(entry().replace("-04:00</published>", "</published>")),
    "rfc 822 date": atom(
        entry().replace("2025-08-20T00:00:00-04:00", "Wed, 20 Aug 2025 00:00:00 -0400")
    ),
    "impossible date": atom(entry().replace("2025-08-20T00", "2025-02-30T00")),
    "latin-1 document": atom(entry(title="Caf\u00e9"))
    .replace(b"UTF-8", b"ISO-8859-1")
    .replace("Caf\u00e9".encode(), b"Caf\xe9"),
    "not well-formed in the middle": atom(entry(), entry(title="a < b"), entry()),
    "two summaries": atom(entry(extra="<summary>second</summary>")),
    "unknown element": atom(entry(extra="<source><title>S</title></source>")),
    "attributes on an arxiv element": atom(
        entry(extra='<arxiv:announce_type x="1">cross</arxiv:announce_type>')
    ),
    "category with text": atom(entry(extra="<category>cs.LG</category>")),
    "not a feed": b"<html><body>Service Unavailable</body></html>",
    "empty": b"",
}


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_refused_documents_go_to_feedparser_with_its_result(case: str) -> None:
    assert_same_as_feedparser(REFUSED[case], fast=False)


@pytest.mark.parametrize("cut", [2_000, 20_000, 50_001, 100_000, 150_000])
def test_feeds_cut_anywhere_give_feedparser_s_recovery(cut: int) -> None:
    text = ATOM_CS_AI.read_text(encoding="utf-8")
    complete = text[: text.rindex("</entry>") + len("</entry>")] + "\n</feed>\n"
    assert_same_as_feedparser(complete.encode()[:cut], fast=False)


FRAGMENTS = [
    "&amp;",
    "&lt;think&gt;",
    "<![CDATA[<think> & ]]>",
    "<!-- c -->",
    "&#150;",
    "&#x1F680;",
    "\u00c3\u00a9",
    " \n\t",
    "a@b.org",
    "(x@y.org)",
    ", Jr.",
    "<b>x</b>",
    "</summary><summary>",
    '<category term="q-bio.NC"/>',
    "<dc:creator>Extra Person</dc:creator>",
    "<author><name>N</name></author>",
    "<arxiv:announce_type>cross</arxiv:announce_type>",
    "<published>2025-08-20T23:59:59+00:00</published>",
    "<title>Another</title>",
    '<link href="https://arxiv.org/abs/2508.11111"/>',
    "2025-08-20T",
    "+09:00",
    "v7",
]


def test_mutated_feeds_always_parse_as_feedparser_parses_them() -> None:
    """Fragments inserted after random tags: whichever path reads it, the result is the same."""
    base = atom(*(EDGE_CASES[case] for case in ("entities", "atom authors", "api extras")))
    text = base.decode()
    positions = [match.end() for match in re.finditer(">", text)]
    rng = random.Random(14)
    fast = 0
    for _ in range(300):
        mutated = text
        for position in sorted(rng.sample(positions, 2), reverse=True):
            mutated = mutated[:position] + rng.choice(FRAGMENTS) + mutated[position:]
        data = mutated.encode()
        ours, theirs = parse_feed(data), parse_with_feedparser(data)
        assert ours == theirs, mutated
        try:
            parse_atom_fast(data)
            fast += 1
        except UnsupportedDocumentError:
            pass
    assert fast >= 60  # the fast reader took a fair share of them


def test_the_path_taken_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.core.arxiv.feed")
    parse_feed(atom(entry()))
    parse_feed(RSS_COMBINED.read_bytes())
    messages = [record.getMessage() for record in caplog.records]
    assert any(re.search(r"fast Atom reader: 1 entries", m) for m in messages)
    assert any("read by feedparser: namespace declaration" in m for m in messages)
