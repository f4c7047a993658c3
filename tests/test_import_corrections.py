"""#12.4: an import never undoes corrections silently. An update prints its diff field
by field, `--dry-run` writes nothing, fields corrected in the store since the last import
of that file are kept unless `--overwrite` (the diff not applied is printed), and what
was imported is linted against arXiv when it answers. Real processes, fake arXiv."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.fake_arxiv import ArxivFixtureServer
from tests.support.paths import DATA_DIR, REPO_DIR, SEED_FILE

LIMA_KEPT = "kept authors: 'Chunting Zhou等 (Meta AI)' -> 'Collin Burns等 (Meta AI)' not applied"


def lima(tmp_path: Path, **env: str) -> dict[str, object]:
    listed = run_cli(["reviews", "--json"], tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["slug"].startswith("lima")]
    shown = run_cli(["export", str(tmp_path / "export")], tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    text = (tmp_path / "export" / f"{row['slug']}.md").read_text(encoding="utf-8")
    return {"row": row, "authors": next(x for x in text.splitlines() if x.startswith("authors"))}


def test_the_seed_over_content_keeps_the_corrected_lima(
    tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> None:
    env = arxiv_server.env()
    first = run_cli(["import", str(REPO_DIR / "content")], tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert "5 reviews: 5 added" in first.stdout and "lint: all match" in first.stdout
    before = lima(tmp_path, **env)
    assert "Chunting Zhou" in str(before["authors"])

    dry = run_cli(["import", "--dry-run", str(SEED_FILE)], tmp_path, **env)
    assert dry.returncode == 0, dry.stderr
    assert LIMA_KEPT in dry.stdout and "dry run, nothing written" in dry.stdout
    assert "kept paper_date: 2023-05-01 -> 2023-06-01" in dry.stdout
    assert lima(tmp_path, **env) == before

    real = run_cli(["import", str(SEED_FILE)], tmp_path, **env)
    assert real.returncode == 0, real.stderr
    assert LIMA_KEPT in real.stdout and "kept as corrected in the store" in real.stdout
    assert lima(tmp_path, **env)["authors"] == before["authors"]
    assert "lint: " in real.stdout and "Collin Burns" not in real.stdout.split("lint:", 1)[1]

    again = run_cli(["import", str(SEED_FILE)], tmp_path, **env)
    assert LIMA_KEPT in again.stdout  # still kept: the correction is newer than the seed

    forced = run_cli(["import", "--overwrite", str(SEED_FILE)], tmp_path, **env)
    assert forced.returncode == 0, forced.stderr
    assert "    authors: 'Chunting Zhou等 (Meta AI)' -> 'Collin Burns等 (Meta AI)'" in forced.stdout
    assert "Collin Burns" in str(lima(tmp_path, **env)["authors"])
    assert "lint: #" in forced.stdout and "authors" in forced.stdout.split("lint:", 1)[1]


def test_an_update_from_the_same_file_applies_with_a_diff(tmp_path: Path) -> None:
    env = {"ARXIV_API_URL": "http://127.0.0.1:9/api/query", "ARXIV_REQUEST_INTERVAL": "0"}
    source = tmp_path / "toolformer.md"
    original = (DATA_DIR / "front_matter_review.md").read_text(encoding="utf-8")
    source.write_text(original, encoding="utf-8")
    assert run_cli(["import", str(source)], tmp_path, **env).returncode == 0

    source.write_text(original.replace('title: "', 'title: "Revised ', 1), encoding="utf-8")
    updated = run_cli(["import", str(source)], tmp_path, **env)
    assert updated.returncode == 0, updated.stderr
    assert "updated" in updated.stdout and "    title: '" in updated.stdout
    assert "-> 'Revised " in updated.stdout and "kept" not in updated.stdout
    assert "lint skipped: arXiv did not answer" in updated.stderr

    # Another file corrects the title in the store; the first file, unchanged, keeps it.
    other = tmp_path / "other.md"
    other.write_text(original.replace('title: "', 'title: "Corrected ', 1), encoding="utf-8")
    assert run_cli(["import", "--overwrite", str(other)], tmp_path, **env).returncode == 0
    kept = run_cli(["import", str(source)], tmp_path, **env)
    assert "kept title: 'Corrected " in kept.stdout and "unchanged" in kept.stdout
