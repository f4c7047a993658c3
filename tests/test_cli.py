"""The `paperbot` command line: real subprocesses on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.cli import cli
from tests.support.cli import run_cli
from tests.support.paths import DATA_DIR, REPO_DIR


def all_commands(group: click.Group, prefix: str = "paperbot") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        names.append(full)
        if isinstance(command, click.Group):
            names.extend(all_commands(command, full))
    return names


def test_every_cli_command_is_documented_in_the_readme() -> None:
    readme = (REPO_DIR / "README.md").read_text(encoding="utf-8")
    missing = [name for name in all_commands(cli) if f"`{name}" not in readme]
    assert missing == []


def test_every_command_has_help_text() -> None:
    for name, command in cli.commands.items():
        assert command.help and len(command.help) > 20, name


def test_import_twice_then_list_as_json(tmp_path: Path, seed_file: Path) -> None:
    first = run_cli(["import", str(seed_file)], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("added ") == 5
    second = run_cli(["import", str(seed_file)], tmp_path)
    assert second.stdout.count("unchanged ") == 5
    assert "5 reviews: 0 added, 0 updated, 5 unchanged" in second.stdout
    listed = run_cli(["reviews", "--json"], tmp_path)
    records = json.loads(listed.stdout)
    assert len(records) == 5
    assert set(records[0]) == {
        "id",
        "slug",
        "title",
        "arxiv_id",
        "section",
        "status",
        "published_at",
    }
    table = run_cli(["reviews"], tmp_path)
    assert "Attention Is All You Need" in table.stdout


def test_import_reports_a_bad_file_and_fails(tmp_path: Path) -> None:
    result = run_cli(
        ["import", str(DATA_DIR / "front_matter_review.md"), str(DATA_DIR / "not_utf8.txt")],
        tmp_path,
    )
    assert result.returncode == 1
    assert f"error: {DATA_DIR / 'not_utf8.txt'}:3: not UTF-8 text" in result.stderr
    assert "1 review: 1 added, 0 updated, 0 unchanged; 1 file refused" in result.stdout


def test_import_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = run_cli(["import", str(tmp_path / "nope.md")], tmp_path)
    assert result.returncode == 1
    assert "No such file or directory" in result.stderr


def test_export_writes_files_that_import_back(tmp_path: Path, seed_file: Path) -> None:
    run_cli(["import", str(seed_file)], tmp_path)
    exported = run_cli(["export", str(tmp_path / "out")], tmp_path)
    assert "wrote 5 reviews" in exported.stdout
    again = run_cli(["import", str(tmp_path / "out")], tmp_path)
    assert "5 reviews: 0 added, 0 updated, 5 unchanged" in again.stdout


def test_an_invalid_setting_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    result = run_cli(["console"], tmp_path, stdin="/latest\n", ADMIN_IDS="12,abc")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Invalid ADMIN_IDS")


def test_db_commands(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from bot.db.migrate import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    upgraded = run_cli(["db", "upgrade"], tmp_path)
    assert f"database at revision {head}" in upgraded.stdout
    current = run_cli(["db", "current"], tmp_path)
    assert f"current: {head}" in current.stdout
    downgraded = run_cli(["db", "downgrade", "base"], tmp_path)
    assert "database at revision base" in downgraded.stdout


def test_env_file_is_read_from_the_working_directory(tmp_path: Path, seed_file: Path) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path / 'from-env.db'}\n")
    result = run_cli(["import", str(seed_file)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-env.db").is_file()


def test_numbers_are_ascii_digits_within_range(tmp_path: Path) -> None:
    for argument in ("²", "١٢", str(10**30)):
        result = run_cli(["publish", argument], tmp_path)
        assert result.returncode == 2, (argument, result.stderr)
        assert "is not a number from 0 to 2147483647" in result.stderr
        assert "Traceback" not in result.stderr
    listed = run_cli(["candidates", "-n", "³"], tmp_path)
    assert listed.returncode == 2 and "is not a number from 1" in listed.stderr


def test_import_of_a_directory_reports_each_bad_file_and_imports_the_rest(
    tmp_path: Path,
) -> None:
    """A raw exception used to stop a directory import at the first hostile file."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a_bad_date.md").write_text("---\ntitle: x\ndate: 2023-02-30\n---\nb\n")
    (incoming / "b_nested.md").write_text("---\ntitle: x\ntags: " + "[" * 5000 + "\n---\nb\n")
    (incoming / "c_alias.md").write_text("---\ntitle: &t x\nsummary: *t\n---\nb\n")
    (incoming / "d_good.md").write_bytes((DATA_DIR / "front_matter_review.md").read_bytes())
    result = run_cli(["import", str(incoming)], tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {incoming / 'a_bad_date.md'}:3: cannot read the date '2023-02-30' "
        "(expected e.g. 2023年12月, 2023-12 or 2023-12-05)",
        f"error: {incoming / 'b_nested.md'}:3: front matter: lists and maps nested more "
        "than 10 deep",
        f"error: {incoming / 'c_alias.md'}:2: front matter: YAML aliases are not allowed "
        "(write the value out)",
    ]
    assert "1 review: 1 added, 0 updated, 0 unchanged; 3 files refused" in result.stdout
