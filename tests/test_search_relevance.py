"""Search relevance against the reader queries of tests/data/relevance_queries.yaml, with
a plain BM25 over jieba tokens as the baseline in the same run (bench/search_relevance.py).

Done when (issue #15): reader questions MRR ≥ 0.9, overall recall@3 ≥ 0.97, nonsense
queries answered ≤ 1 in 15, every category at or above the BM25 baseline. `-s` prints
the table.
"""

from __future__ import annotations

from pathlib import Path

from bench import search_relevance


def test_the_relevance_thresholds(database_url: str, tmp_path: Path) -> None:
    reports = search_relevance.run(database_url, tmp_path)
    table = search_relevance.table(reports)
    print("\n" + table)
    ours, baseline = reports["paperbot"], reports["BM25"]
    questions = ours.by_category["question"]
    nonsense = ours.by_category["nonsense"]
    assert questions.queries >= 40 and ours.by_category["paraphrase"].queries >= 20
    assert questions.mrr >= 0.9, table
    assert ours.overall.recall3 >= 0.97, table
    assert nonsense.answered * 15 <= nonsense.queries, table
    for category in search_relevance.CATEGORIES:
        mine, theirs = ours.by_category[category], baseline.by_category[category]
        if category == "nonsense":
            assert mine.answered <= theirs.answered, table
            continue
        assert mine.mrr >= theirs.mrr, (category, table)
        assert mine.recall1 >= theirs.recall1, (category, table)
        assert mine.recall3 >= theirs.recall3, (category, table)


def test_the_report_counts_what_it_says() -> None:
    """The scorer itself: ranks, several right answers, nonsense answered or not."""
    cases = [
        search_relevance.Case("a", ("x",), "exact"),
        search_relevance.Case("b", ("x", "y"), "exact"),
        search_relevance.Case("c", ("x",), "exact"),
        search_relevance.Case("d", (), "nonsense"),
        search_relevance.Case("e", (), "nonsense"),
    ]
    answers = {"a": ["x"], "b": ["z", "y"], "c": ["z", "w", "v", "x"], "d": ["x"], "e": []}
    report = search_relevance.evaluate(answers.__getitem__, cases)
    exact = report.by_category["exact"]
    assert (exact.at1, exact.at3) == (1, 2)
    assert abs(exact.mrr - (1 + 1 / 2 + 1 / 4) / 3) < 1e-9
    assert report.by_category["nonsense"].answered == 1
    assert report.overall.queries == 3
