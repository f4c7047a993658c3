"""Bench: parse, dedupe and rank a 2,000-entry arXiv feed (target: at most 1 s).

The feed is built from the real cs.AI Atom capture (tests/data/arxiv): its complete
entries are repeated with fresh ids and varied titles, and one entry in ten is
announced a second time as a cross-list, so deduplication has work to do. The
ranking profile is what a running bot has: the column's five reviews (with their
API records) and forty decided candidates taken from the real 100-result API capture.

In the same run, feedparser alone on the same bytes is timed as the baseline, since
parsing with feedparser is a given of the design.

    python bench/arxiv_rank.py [--entries 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import feedparser

from bot.core.arxiv.api import parse_api_response
from bot.core.arxiv.feed import dedupe, parse_feed
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    data = build_feed(args.entries)
    # Real feeds are well-formed XML; a broken one would time feedparser's slow
    # fallback parser instead of the one real feeds get.
    if feedparser.parse(data).get("bozo"):
        raise SystemExit("the generated feed is not well-formed XML")
    ranker = Ranker(DEFAULT_ARXIV_KEYWORDS, build_profile(), reviewed_ids={"2312.00752"})
    unique: list[int] = []

    def pipeline() -> None:
        parsed = parse_feed(data)
        candidates = dedupe(parsed.entries)
        rankings = ranker.rank(candidates)
        assert len(rankings) == len(candidates)
        unique[:] = [len(parsed.entries), len(candidates)]

    pipeline()  # warm caches (regex compilation, stems) as a running bot has them
    baseline = timed(lambda: feedparser.parse(data), args.repeat)
    total = timed(pipeline, args.repeat)
    parsed = parse_feed(data)
    candidates = dedupe(parsed.entries)
    stages = {
        "parse (feedparser + entries)": timed(lambda: parse_feed(data), args.repeat),
        "dedupe": timed(lambda: dedupe(parsed.entries), args.repeat),
        "rank": timed(lambda: ranker.rank(candidates), args.repeat),
    }
    tracemalloc.start()
    pipeline()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    best, median = min(total), statistics.median(total)
    base_best, base_median = min(baseline), statistics.median(baseline)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"feed: {len(data) / 1e6:.1f} MB, {unique[0]} entries, {unique[1]} after dedupe")
    print(f"feedparser.parse alone:   best {base_best:.3f} s, median {base_median:.3f} s")
    print(f"parse + dedupe + rank:    best {best:.3f} s, median {median:.3f} s")
    for stage, runs in stages.items():
        print(f"  {stage + ':':<30} median {statistics.median(runs):.3f} s")
    print(f"ratio to feedparser alone: {median / base_median:.2f}x (median)")
    print(f"peak memory (tracemalloc): {peak / 2**20:.1f} MiB")
    verdict = "met" if median <= TARGET_SECONDS else "MISSED"
    print(f"target <= {TARGET_SECONDS:.1f} s (median): {verdict}")


if __name__ == "__main__":
    main()
