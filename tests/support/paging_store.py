"""A store with more matching reviews than fit on one page, so a search draws "next page".

Why a helper: the tests that tap "next page" across channels and processes all need the same
store (the column's seed from content/ plus these reviews), built the same way so review ids
agree between stores.
"""

from __future__ import annotations

from pathlib import Path

from bot.app import build_core
from tests.support.stores import make_settings

#: A query that matches every review written here, and only those.
PAGING_QUERY = "Sparse Mixture Routing"
#: More than one page of search results (a page holds 5).
PAGING_MATCHES = 8


def paging_titles() -> list[str]:
    return [f"{PAGING_QUERY} Study {number}" for number in range(PAGING_MATCHES)]


def prepare_paging_store(database_url: str, tmp_path: Path) -> None:
    """Migrate the store, seed it from content/ and import the paging reviews."""
    sources = tmp_path / "paging-reviews"
    sources.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, title in enumerate(paging_titles()):
        path = sources / f"{number}.md"
        path.write_text(
            f"---\ntitle: '{title}'\nsection: latest\n---\n\n稀疏专家路由的第 {number} 篇研究。\n",
            encoding="utf-8",
        )
        paths.append(path)
    core = build_core(make_settings(database_url, tmp_path), seed=True)
    try:
        core.reviews.import_files(paths)
    finally:
        core.close()
