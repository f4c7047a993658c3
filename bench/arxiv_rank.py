"""Bench: parse, dedupe and rank a 2,000-entry arXiv feed (target: at most 1 s).

The feed is built from the real cs.AI Atom capture (tests/data/arxiv): its complete
entries are repeated with fresh ids and varied titles, and one entry in ten is
announced a second time as a cross-list, so deduplication has work to do. The
ranking profile is what a running bot has: the column's five reviews (with their
API records) and forty decided candidates taken from the real 100-result API capture.

In the same run, the bare `ElementTree.iterparse` over the same bytes is timed as the
baseline (the strongest simple peer: expat building elements and nothing else), and
feedparser, which reads the feeds the fast Atom reader refuses, for comparison. The
load average is printed with the figures: these machines are shared.

    python bench/arxiv_rank.py [--entries 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import statistics
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from bot.core.arxiv.api import parse_api_response
from bot.core.arxiv.feed import dedupe, parse_atom_fast, parse_feed, parse_with_feedparser
from bot.core.arxiv.ranking import ProfileDoc, Ranker
from bot.core.sources import read_source, source_files
from bot.settings import DEFAULT_ARXIV_KEYWORDS

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "arxiv"
TARGET_SECONDS = 1.0
_ENTRY = re.compile(r"  <entry>.*?</entry>\n", re.DOTALL)
_TITLE_WORDS = ("Revisiting", "Towards", "Scalable", "Efficient", "Robust", "Adaptive", "On")


def build_feed(size: int) -> bytes:
    """`size` Atom entries from the capture: new ids, varied titles, 10% cross-list repeats."""
    text = (DATA / "atom-cs.AI-2025-08-20-truncated.xml").read_text(encoding="utf-8")
    header = text[: text.index("  <entry>")]
    originals = _ENTRY.findall(text)
    entries: list[str] = []
    while len(entries) < size:
        index = len(entries)
        if index % 10 == 9:
            # The same paper again, as another category's cross-list would announce it.
            entries.append(
                entries[index - 5].replace(
                    ">new</arxiv:announce_type>", ">cross</arxiv:announce_type>"
                )
            )
            continue
        entry = originals[index % len(originals)]
        copy = index // len(originals)
        new_id = f"26{copy % 12 + 1:02d}.{index:05d}"
        entry = re.sub(r"2508\.\d{5}", new_id, entry)
        word = _TITLE_WORDS[copy % len(_TITLE_WORDS)]
        entry = entry.replace("<title>", f"<title>{word} ", 1)
        entries.append(entry)
    return (header + "".join(entries) + "</feed>\n").encode()


def build_profile() -> list[ProfileDoc]:
    records = {}
    for path in sorted((DATA / "api").glob("handwritten_id_*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))["body"]
        records.update((r.arxiv_id, r) for r in parse_api_response(body.encode()))
    profile = [
        ProfileDoc(
            "review",
            review.arxiv_id or review.title,
            review.title,
            "\n".join(
                [
                    review.title,
                    records[review.arxiv_id].abstract if review.arxiv_id else "",
                    review.body,
                ]
            ),
        )
        for path in source_files([REPO / "content"])
        for review in read_source(path)
    ]
    [search] = (DATA / "api").glob("q_testing_*.json")
    decided = parse_api_response(json.loads(search.read_text(encoding="utf-8"))["body"].encode())
    for index, record in enumerate(decided[:40]):
        kind = "drafted" if index % 2 else "dismissed"
        text = f"{record.title}\n{record.abstract}"
        profile.append(ProfileDoc(kind, record.arxiv_id, record.title, text))
    return profile


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    return runs


def bare_iterparse(data: bytes) -> None:
    """The baseline: expat through ElementTree over the same bytes, building elements."""
    for _ in ET.iterparse(io.BytesIO(data)):
        pass


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    data = build_feed(args.entries)
    load_before = load_average()
    # The bench is about the fast reader: it must accept the feed (this raises if not),
    # and its entries must be feedparser's.
    fast = parse_atom_fast(data)
    reference = parse_with_feedparser(data)
    if reference.problem is not None or fast != reference:
        raise SystemExit("the fast reader and feedparser disagree on the generated feed")
    ranker = Ranker(DEFAULT_ARXIV_KEYWORDS, build_profile(), reviewed_ids={"2312.00752"})
    unique: list[int] = []

    def pipeline() -> None:
        parsed = parse_feed(data)
        candidates = dedupe(parsed.entries)
        rankings = ranker.rank(candidates)
        assert len(rankings) == len(candidates)
        unique[:] = [len(parsed.entries), len(candidates)]

    pipeline()  # warm caches (regex compilation, stems) as a running bot has them
    baseline = timed(lambda: bare_iterparse(data), args.repeat)
    total = timed(pipeline, args.repeat)
    parsed = parse_feed(data)
    candidates = dedupe(parsed.entries)
    parse_runs = timed(lambda: parse_feed(data), args.repeat)
    feedparser_runs = timed(lambda: parse_with_feedparser(data), args.repeat)
    stages = {
        "dedupe": timed(lambda: dedupe(parsed.entries), args.repeat),
        "rank": timed(lambda: ranker.rank(candidates), args.repeat),
    }
    tracemalloc.start()
    pipeline()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    base = statistics.median(baseline)
    parse = statistics.median(parse_runs)
    slow = statistics.median(feedparser_runs)
    best, median = min(total), statistics.median(total)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"load average (1, 5, 15 min): {load_before} before, {load_average()} after")
    print(f"feed: {len(data) / 1e6:.1f} MB, {unique[0]} entries, {unique[1]} after dedupe")
    print(f"median of {args.repeat} runs:")
    print(f"  ElementTree.iterparse alone (baseline): {base:.3f} s")
    print(f"  parse (fast Atom reader + entries):     {parse:.3f} s = {parse / base:.2f}x baseline")
    print(
        f"  parse (feedparser + entries, fallback): {slow:.3f} s = {slow / base:.2f}x baseline, "
        f"{slow / parse:.1f}x the fast reader"
    )
    for stage, runs in stages.items():
        print(f"  {stage + ':':<39} {statistics.median(runs):.3f} s")
    print(f"parse + dedupe + rank:    best {best:.3f} s, median {median:.3f} s")
    print(f"ratio to the bare parser: {median / base:.2f}x (total), {parse / base:.2f}x (parse)")
    print(f"peak memory (tracemalloc): {peak / 2**20:.1f} MiB")
    verdict = "met" if median <= TARGET_SECONDS else "MISSED"
    print(f"target <= {TARGET_SECONDS:.1f} s (median): {verdict}")


if __name__ == "__main__":
    main()
