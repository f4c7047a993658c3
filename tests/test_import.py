"""Importing and exporting reviews, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from sqlalchemy import func, select

from bot.app import Core, build_core
from bot.db.models import Review
from tests.support.paths import DATA_DIR, REPO_DIR
from tests.support.stores import make_settings


def actions(core: Core, *paths: Path) -> list[str]:
    reports = core.reviews.import_files(list(paths))
    assert all(report.error is None for report in reports), [r.error for r in reports]
    return [outcome.action for report in reports for outcome in report.outcomes]


def review_count(core: Core) -> int:
    with core.sessions() as session:
        return int(session.scalar(select(func.count(Review.id))) or 0)


def test_seed_imports_once_then_reports_unchanged(core: Core, seed_file: Path) -> None:
    assert actions(core, seed_file) == ["added"] * 5
    assert actions(core, seed_file) == ["unchanged"] * 5
    assert review_count(core) == 5
    titles = {review.title for review in core.reviews.all()}
    assert "Attention Is All You Need" in titles


def test_another_column_issue_adds_to_the_first(core: Core, seed_file: Path) -> None:
    actions(core, seed_file)
    assert actions(core, DATA_DIR / "column_issue_002.txt") == ["added"] * 3
    assert review_count(core) == 8
    cot = core.reviews.find("2201.11903v6")
    assert cot is not None and cot.section == "classic" and cot.status == "published"


def test_an_edited_review_is_updated_not_duplicated(
    core: Core, seed_file: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "issue.txt"
    edited.write_bytes(seed_file.read_bytes())
    actions(core, edited)
    # The editor fixes the file and imports it again: the same source, so it applies.
    edited.write_text(
        seed_file.read_text(encoding="utf-8").replace("Collin Burns等", "Chunting Zhou等"),
        encoding="utf-8",
    )
    assert actions(core, edited) == ["unchanged", "updated", "unchanged", "unchanged", "unchanged"]
    lima = core.reviews.find("2305.11206")
    assert lima is not None and lima.authors.startswith("Chunting Zhou")
    assert review_count(core) == 5


def test_a_bad_file_imports_nothing_of_itself(core: Core) -> None:
    reports = core.reviews.import_files([DATA_DIR / "bad_date.txt"])
    assert reports[0].error is not None and ":11:" in reports[0].error
    # "Good Review" came before the bad one in the same file: it must not be there.
    assert review_count(core) == 0


def test_good_files_still_import_beside_a_bad_one(core: Core) -> None:
    reports = core.reviews.import_files(
        [DATA_DIR / "not_arxiv.txt", DATA_DIR / "front_matter_review.md"]
    )
    assert [report.error is None for report in reports] == [False, True]
    assert review_count(core) == 1


def test_a_column_import_keeps_what_the_column_does_not_say(
    seeded_core: Core, seed_file: Path
) -> None:
    """content/ carries tags and summaries the column format has no lines for."""
    before = seeded_core.reviews.find("1706.03762")
    assert before is not None and "Transformer" in before.tags
    actions(seeded_core, seed_file)
    after = seeded_core.reviews.find("1706.03762")
    assert after is not None
    assert after.tags == before.tags and after.summary == before.summary


def test_export_imports_back_to_identical_reviews(
    core: Core, seed_file: Path, tmp_path: Path, database_url: str
) -> None:
    actions(core, seed_file, DATA_DIR / "column_issue_002.txt", DATA_DIR / "front_matter_review.md")
    exported = tmp_path / "exported"
    core.reviews.export(exported)
    assert len(list(exported.glob("*.md"))) == 9

    other = build_core(make_settings(f"sqlite:///{tmp_path / 'other.db'}", tmp_path), seed=False)
    try:
        assert actions(other, exported) == ["added"] * 9
        assert actions(other, exported) == ["unchanged"] * 9

        def comparable(core_: Core) -> dict[str, dict[str, object]]:
            return {
                review.slug: {
                    key: value
                    for key, value in dataclasses.asdict(review).items()
                    if key not in ("id", "updated_at")  # the store's own, not the review's
                }
                for review in core_.reviews.all()
            }

        assert comparable(other) == comparable(core)
    finally:
        other.close()


def test_empty_store_is_seeded_from_content(seeded_core: Core) -> None:
    content_files = sorted((REPO_DIR / "content").glob("*.md"))
    assert len(content_files) == 5
    page = seeded_core.reviews.page("latest", 10)
    assert [review.arxiv_id for review in page.items] == ["2312.00752", "2305.11206", "2001.08361"]
    classic = seeded_core.reviews.page("classic", 10)
    assert {review.arxiv_id for review in classic.items} == {"1706.03762", "2203.02155"}


def test_a_store_with_reviews_is_not_seeded_again(
    database_url: str, tmp_path: Path, seed_file: Path
) -> None:
    content = tmp_path / "content"
    shutil.copytree(REPO_DIR / "content", content)
    settings = make_settings(database_url, tmp_path, content_dir=content)
    first = build_core(settings, seed=True)
    first.close()
    (content / "attention-is-all-you-need.md").unlink()
    shutil.copy(DATA_DIR / "front_matter_review.md", content / "toolformer.md")
    second = build_core(settings, seed=True)
    try:
        assert review_count(second) == 5
        assert second.reviews.find("2302.04761") is None
    finally:
        second.close()


# --- slugs and export (issue #8) -------------------------------------------------------

TWIN_TITLES = (
    "Scaling Instruction Tuning for Small Models: Part One",
    "Scaling Instruction Tuning for Small Models: Part Two",
)


def write_review(path: Path, title: str, body: str) -> Path:
    path.write_text(f"---\ntitle: '{title}'\nsection: latest\n---\n\n{body}\n", encoding="utf-8")
    return path


def test_titles_sharing_their_slug_are_two_reviews(core: Core, tmp_path: Path) -> None:
    """Same first 40 characters, no arXiv id: both survive, each with its own text."""
    one = write_review(tmp_path / "one.md", TWIN_TITLES[0], "第一篇的正文。")
    two = write_review(tmp_path / "two.md", TWIN_TITLES[1], "第二篇的正文。")
    assert actions(core, one) == ["added"]
    assert actions(core, two) == ["added"]
    by_title = {review.title: review for review in core.reviews.all()}
    first, second = by_title[TWIN_TITLES[0]], by_title[TWIN_TITLES[1]]
    assert first.body == "第一篇的正文。" and second.body == "第二篇的正文。"
    assert first.slug == "scaling-instruction-tuning-for-small"
    assert second.slug == "scaling-instruction-tuning-for-small-2"
    # The same files again are the same reviews: nothing new, nothing overwritten.
    assert actions(core, one, two) == ["unchanged", "unchanged"]
    write_review(two, TWIN_TITLES[1], "第二篇改过的正文。")
    assert actions(core, one, two) == ["unchanged", "updated"]
    assert review_count(core) == 2
    assert core.reviews.find(first.slug) == first


def test_one_column_may_hold_titles_that_share_their_slug(core: Core, tmp_path: Path) -> None:
    column = tmp_path / "issue.txt"
    column.write_text(
        f"## 最新论文解读\n\n### {TWIN_TITLES[0]}\n\n正文一。\n\n---\n\n"
        f"### {TWIN_TITLES[1]}\n\n正文二。\n",
        encoding="utf-8",
    )
    assert actions(core, column) == ["added", "added"]
    assert actions(core, column) == ["unchanged", "unchanged"]
    assert sorted(review.body for review in core.reviews.all()) == ["正文一。", "正文二。"]


def test_an_explicit_slug_names_the_review_it_updates(core: Core, tmp_path: Path) -> None:
    one = write_review(tmp_path / "one.md", TWIN_TITLES[0], "正文。")
    actions(core, one)
    [stored] = core.reviews.all()
    # The same file, edited: its slug names the review (a new file would need
    # --overwrite, see tests/test_import_corrections.py).
    renamed = one
    renamed.write_text(
        f"---\ntitle: A Better Title\nslug: {stored.slug}\n---\n\n正文。\n", encoding="utf-8"
    )
    assert actions(core, renamed) == ["updated"]
    [after] = core.reviews.all()
    assert (after.id, after.title) == (stored.id, "A Better Title")


def test_export_refuses_a_slug_that_leaves_the_directory(core: Core, tmp_path: Path) -> None:
    from bot.core.reviews import UnsafeSlugError

    actions(core, DATA_DIR / "front_matter_review.md")
    with core.sessions.begin() as session:
        row = session.scalars(select(Review)).one()
        row.slug = "../escaped"
    exported = tmp_path / "deep" / "exported"
    try:
        core.reviews.export(exported)
    except UnsafeSlugError as exc:
        assert "'../escaped'" in str(exc)
    else:
        raise AssertionError("export wrote a review whose slug leaves the directory")
    assert not (tmp_path / "deep" / "escaped.md").exists()
    assert not exported.exists()  # refused before anything was written
