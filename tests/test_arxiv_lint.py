"""`paperbot lint`: reviews against their arXiv records, cached, in batches."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.app import Core
from bot.core.arxiv.lint import (
    LintSubject,
    check_authors,
    check_date,
    corrected_authors,
    parse_author_line,
    same_person,
)
from bot.core.sources import PaperDate, read_source, source_files
from tests.support.fake_arxiv import ArxivFixtureServer
from tests.support.paths import REPO_DIR, SEED_FILE

VASWANI = (
    "Ashish Vaswani",
    "Noam Shazeer",
    "Niki Parmar",
    "Jakob Uszkoreit",
    "Llion Jones",
    "Aidan N. Gomez",
    "Lukasz Kaiser",
    "Illia Polosukhin",
)


def subjects(*paths: Path) -> list[LintSubject]:
    return [
        LintSubject.of_parsed(review)
        for path in source_files(list(paths))
        for review in read_source(path)
    ]


def test_author_lines_are_read_as_the_column_writes_them() -> None:
    line = parse_author_line("Ashish Vaswani等 (Google Brain)")
    assert (line.names, line.et_al, line.affiliation) == (("Ashish Vaswani",), True, "Google Brain")
    line = parse_author_line("Albert Gu, Tri Dao (CMU & Princeton)")
    assert (line.names, line.et_al, line.affiliation) == (
        ("Albert Gu", "Tri Dao"),
        False,
        "CMU & Princeton",
    )
    line = parse_author_line("Long Ouyang, Jeff Wu et al.（OpenAI）")
    assert (line.names, line.et_al, line.affiliation) == (
        ("Long Ouyang", "Jeff Wu"),
        True,
        "OpenAI",
    )
    assert parse_author_line("A. Smith and B. Jones").names == ("A. Smith", "B. Jones")


@pytest.mark.parametrize(
    ("written", "actual", "same"),
    [
        ("Tom Brown", "Tom B. Brown", True),
        ("Jeff Wu", "Jeffrey Wu", True),
        ("Łukasz Kaiser", "Lukasz Kaiser", True),
        ("Gu Albert", "Albert Gu", True),
        ("Collin Burns", "Chunting Zhou", False),
        ("Tri Dao", "Albert Gu", False),
    ],
)
def test_names_compare_sensibly(written: str, actual: str, same: bool) -> None:
    assert same_person(written, actual) is same


def test_author_checks() -> None:
    assert check_authors("Ashish Vaswani等 (Google Brain)", VASWANI) is None
    assert check_authors("Ashish Vaswani, Noam Shazeer等", VASWANI) is None
    assert check_authors("Albert Gu, Tri Dao (CMU & Stanford)", ("Albert Gu", "Tri Dao")) is None
    wrong_first = check_authors("Noam Shazeer等", VASWANI)
    assert wrong_first and wrong_first.startswith("Noam Shazeer is not the first author")
    assert "without 等" in (check_authors("Ashish Vaswani (Google)", VASWANI) or "")
    assert "no more authors" in (
        check_authors("Albert Gu, Tri Dao等", ("Albert Gu", "Tri Dao")) or ""
    )
    assert "author 2 is Noam Shazeer" in (
        check_authors("Ashish Vaswani, Niki Parmar等", VASWANI) or ""
    )
    assert corrected_authors(parse_author_line("Collin Burns等 (Meta AI)"), VASWANI) == (
        "Ashish Vaswani等 (Meta AI)"
    )
    assert corrected_authors(parse_author_line("Albert Gu (CMU)"), ("Albert Gu", "Tri Dao")) == (
        "Albert Gu, Tri Dao (CMU)"
    )


def test_dates_compare_at_the_precision_stated() -> None:
    v1 = PaperDate(dt.date(2023, 5, 18), "day")
    assert check_date(PaperDate(dt.date(2023, 5, 1), "month"), v1)
    assert not check_date(PaperDate(dt.date(2023, 6, 1), "month"), v1)
    assert check_date(PaperDate(dt.date(2023, 1, 1), "year"), v1)
    assert not check_date(PaperDate(dt.date(2023, 5, 19), "day"), v1)


async def test_the_seed_credits_lima_to_the_wrong_authors(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    report = await arxiv_core.lint.lint(subjects(SEED_FILE))
    assert report.checked == 5 and report.requests == 1
    [request] = arxiv_server.api_requests()
    assert sorted(request.query["id_list"][0].split(",")) == [
        "1706.03762",
        "2001.08361",
        "2203.02155",
        "2305.11206",
        "2312.00752",
    ]
    by_field = {(m.arxiv_id, m.field): m for m in report.mismatches}
    assert set(by_field) == {("2305.11206", "authors"), ("2305.11206", "date")}
    authors = by_field["2305.11206", "authors"]
    assert authors.found == "Collin Burns等 (Meta AI)"
    assert authors.correction == "Chunting Zhou等 (Meta AI)"
    assert "Collin Burns is not the first author (Chunting Zhou is)" in authors.detail
    assert authors.where == f"{SEED_FILE}:39"
    date = by_field["2305.11206", "date"]
    assert (date.found, date.correction) == ("2023-06", "2023-05")


async def test_content_is_lint_clean_and_the_records_are_cached(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    first = await arxiv_core.lint.lint(subjects(REPO_DIR / "content"))
    assert first.clean and first.checked == 5 and first.requests == 1
    again = await arxiv_core.lint.lint(subjects(REPO_DIR / "content"))
    assert again.clean and again.requests == 0
    store = await arxiv_core.lint.lint(LintSubject.of_review(r) for r in arxiv_core.reviews.all())
    assert store.clean and store.checked == 5 and store.requests == 0
    refreshed = await arxiv_core.lint.lint(subjects(REPO_DIR / "content"), refresh=True)
    assert refreshed.clean and refreshed.requests == 1
    assert len(arxiv_server.api_requests()) == 2


async def test_unknown_ids_and_reviews_without_one(arxiv_core: Core) -> None:
    unknown = LintSubject("x.md:1", "Nothing", "0000.0000", "A B", None)
    unlinked = LintSubject("y.md:1", "No link", None, "A B", None)
    report = await arxiv_core.lint.lint([unknown, unlinked])
    [mismatch] = report.mismatches
    assert mismatch.field == "arxiv_id" and "arXiv has no paper 0000.0000" in mismatch.detail
    assert report.unlinked == ("y.md:1",)
