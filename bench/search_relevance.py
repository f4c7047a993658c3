"""Search relevance report: paperbot's search against a plain BM25 baseline, per category.

    python bench/search_relevance.py                 # SQLite in a temporary directory
    python bench/search_relevance.py --postgres-url postgresql+psycopg://...@.../test

Loads the column's seed (content/) and tests/data/relevance/, runs every query of
tests/data/relevance_queries.yaml through `SearchService.search` and through a plain
BM25 over jieba tokens of title + summary + body (k1 = 1.2, b = 0.75, no stopwords,
no aliases, nothing else), and prints, per category (exact, paraphrase, question, typo,
id, author, nonsense), recall@1, recall@3 and MRR (over the first 10 results), and for
nonsense queries the share that got any answer at all.

`evaluate()` is what tests/test_search_relevance.py asserts the thresholds on.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUERIES = REPO / "tests" / "data" / "relevance_queries.yaml"
REVIEWS = REPO / "tests" / "data" / "relevance"
CATEGORIES = ("exact", "paraphrase", "question", "typo", "id", "author", "nonsense")
DEPTH = 10


@dataclass(frozen=True)
class Case:
    query: str
    expect: tuple[str, ...]  # empty: nonsense, nothing should be found
    category: str


def load_cases(path: Path = QUERIES) -> list[Case]:
    cases = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
        expect = entry.get("expect")
        expected = () if expect is None else (expect,) if isinstance(expect, str) else expect
        category = entry["category"]
        if category not in CATEGORIES:
            raise ValueError(f"{entry['query']!r}: unknown category {category!r}")
        if (category == "nonsense") != (not expected):
            raise ValueError(f"{entry['query']!r}: only nonsense queries expect nothing")
        cases.append(Case(str(entry["query"]), tuple(expected), category))
    return cases


@dataclass
class Scores:
    """Figures of one search over one category."""

    queries: int = 0
    at1: int = 0
    at3: int = 0
    reciprocal: float = 0.0
    answered: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, case: Case, found: Sequence[str]) -> None:
        self.queries += 1
        self.answered += bool(found)
        if not case.expect:
            if found:
                self.misses.append(f"{case.query!r} → {list(found[:3])}")
            return
        rank = next((n for n, slug in enumerate(found[:DEPTH], 1) if slug in case.expect), 0)
        self.at1 += rank == 1
        self.at3 += 0 < rank <= 3
        self.reciprocal += 1 / rank if rank else 0.0
        if rank != 1:
            self.misses.append(f"{case.query!r} → {list(found[:3])} (want {case.expect[0]})")

    @property
    def recall1(self) -> float:
        return self.at1 / self.queries if self.queries else 0.0

    @property
    def recall3(self) -> float:
        return self.at3 / self.queries if self.queries else 0.0

    @property
    def mrr(self) -> float:
        return self.reciprocal / self.queries if self.queries else 0.0

    @property
    def answered_share(self) -> float:
        return self.answered / self.queries if self.queries else 0.0


@dataclass
class Report:
    by_category: dict[str, Scores]
    overall: Scores  # every query that expects a review (not nonsense)


def evaluate(search: Callable[[str], Sequence[str]], cases: Sequence[Case]) -> Report:
    by_category = {category: Scores() for category in CATEGORIES}
    overall = Scores()
    for case in cases:
        found = list(search(case.query))
        by_category[case.category].add(case, found)
        if case.expect:
            overall.add(case, found)
    return Report(by_category, overall)


# --- the baseline ----------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


class BM25:
    """Plain Okapi BM25 over jieba tokens (lower-cased words and Han words), one field:
    title + summary + body. What a reader would get from an off-the-shelf engine."""

    def __init__(self, docs: dict[str, str], k1: float = 1.2, b: float = 0.75) -> None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        self.k1, self.b = k1, b
        self.tf = {slug: Counter(self.tokens(text)) for slug, text in docs.items()}
        self.length = {slug: sum(tf.values()) for slug, tf in self.tf.items()}
        self.average = sum(self.length.values()) / max(len(self.length), 1)
        self.df: Counter[str] = Counter()
        for tf in self.tf.values():
            self.df.update(tf.keys())

    def tokens(self, text: str) -> list[str]:
        return [
            word.lower() for word in self.tokenizer.lcut(text) if _TOKEN.fullmatch(word.strip())
        ]

    def search(self, query: str) -> list[str]:
        n = len(self.tf)
        scores: dict[str, float] = {}
        for term in set(self.tokens(query)):
            df = self.df.get(term, 0)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for slug, tf in self.tf.items():
                if term in tf:
                    norm = 1 - self.b + self.b * self.length[slug] / self.average
                    value = tf[term] * (self.k1 + 1) / (tf[term] + self.k1 * norm)
                    scores[slug] = scores.get(slug, 0.0) + idf * value
        ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
        return [slug for slug, _ in ranked[:DEPTH]]


# --- printing ----------------------------------------------------------------------------


def table(reports: dict[str, Report]) -> str:
    names = list(reports)
    header = f"{'category':<11}{'n':>4}  " + "  ".join(
        f"{name + ' R@1':>15}{'R@3':>6}{'MRR':>6}" for name in names
    )
    lines = [header, "-" * len(header)]
    first = next(iter(reports.values()))
    for category in CATEGORIES:
        count = first.by_category[category].queries
        if not count:
            continue
        cells = []
        for name in names:
            s = reports[name].by_category[category]
            if category == "nonsense":
                cells.append(f"{'answered ' + f'{s.answered}/{s.queries}':>27}")
            else:
                cells.append(f"{s.recall1:>15.3f}{s.recall3:>6.3f}{s.mrr:>6.3f}")
        lines.append(f"{category:<11}{count:>4}  " + "  ".join(cells))
    count = first.overall.queries
    cells = [
        f"{reports[n].overall.recall1:>15.3f}{reports[n].overall.recall3:>6.3f}"
        f"{reports[n].overall.mrr:>6.3f}"
        for n in names
    ]
    lines.append(f"{'overall':<11}{count:>4}  " + "  ".join(cells))
    return "\n".join(lines)


def build(url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    from bot.app import build_core
    from bot.settings import load_settings

    settings = load_settings(
        database_url=url, data_dir=data_dir, telegram_bot_token="", _env_file=None
    )
    core = build_core(settings, seed=True)
    reports = core.reviews.import_files([REVIEWS])
    errors = [report.error for report in reports if report.error]
    if errors:
        raise SystemExit(f"could not load the relevance reviews: {errors}")
    return core


def run(url: str, data_dir: Path, verbose: bool = False) -> dict[str, Report]:
    core = build(url, data_dir)
    try:
        cases = load_cases()
        docs = {
            review.slug: f"{review.title}\n{review.summary}\n{review.body}"
            for review in core.reviews.all()
        }
        baseline = BM25(docs)

        def paperbot(query: str) -> list[str]:
            return [item.slug for item in core.search.search(query, DEPTH).items]

        reports = {"paperbot": evaluate(paperbot, cases), "BM25": evaluate(baseline.search, cases)}
    finally:
        core.close()
    if verbose:
        for name, report in reports.items():
            for category, scores in report.by_category.items():
                for miss in scores.misses:
                    print(f"{name} {category}: {miss}")
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres-url", help="run on this PostgreSQL (own schema)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paperbot-relevance-") as work:
        if args.postgres_url:
            from search_latency import postgres_store

            with postgres_store(args.postgres_url) as url:
                reports = run(url, Path(work), args.verbose)
        else:
            reports = run(f"sqlite:///{work}/relevance.db", Path(work), args.verbose)
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
