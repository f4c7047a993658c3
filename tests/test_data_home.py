"""#12.5: the store does not depend on the current directory. The default SQLite file
lives in the data directory (PAPERBOT_HOME, else $XDG_DATA_HOME/paperbot, else
~/.local/share/paperbot), `.env` is read from the current directory then from there,
and an empty store with nothing to seed from says so loudly. Real processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_cli

#: No DATA_DIR (run_cli sets one by default) and no DATABASE_URL: the defaults decide.
DEFAULTS = {"DATA_DIR": "", "DATABASE_URL": ""}


def status_store(tmp_path: Path, cwd: Path, **env: str) -> dict[str, object]:
    result = run_cli(["status", "--json"], tmp_path, cwd=cwd, **{**DEFAULTS, **env})
    assert result.stdout, result.stderr
    store = json.loads(result.stdout)["store"]
    assert isinstance(store, dict)
    return store


def test_status_and_reviews_see_one_store_from_any_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one, two = tmp_path / "one", tmp_path / "two" / "deeper"
    one.mkdir()
    two.mkdir(parents=True)
    env = {**DEFAULTS, "PAPERBOT_HOME": str(home)}

    imported = run_cli(
        ["import", str(Path(__file__).parent / "data" / "front_matter_review.md")],
        tmp_path,
        cwd=one,
        **env,
    )
    assert imported.returncode == 0, imported.stderr
    listed = [run_cli(["reviews", "--json"], tmp_path, cwd=where, **env) for where in (one, two)]
    assert all(result.returncode == 0 for result in listed), [r.stderr for r in listed]
    assert listed[0].stdout == listed[1].stdout
    assert "Toolformer" in listed[0].stdout

    stores = [status_store(tmp_path, where, PAPERBOT_HOME=str(home)) for where in (one, two)]
    assert stores[0] == stores[1]
    assert stores[0]["data_dir"] == str(home.resolve())
    assert stores[0]["database"] == f"sqlite:///{home.resolve()}/paperbot.db"
    assert (home / "paperbot.db").is_file()
    assert not (one / "data").exists() and not (two / "data").exists()
    text = run_cli(["status"], tmp_path, cwd=two, **env)
    assert f"data directory: {home.resolve()} (PAPERBOT_HOME)" in text.stdout


def test_platform_default_and_data_dir_override(tmp_path: Path) -> None:
    fake_home = tmp_path / "user"
    fake_home.mkdir()
    xdg = tmp_path / "xdg"
    store = status_store(
        tmp_path, tmp_path, PAPERBOT_HOME="", HOME=str(fake_home), XDG_DATA_HOME=str(xdg)
    )
    assert store["data_dir"] == str(xdg / "paperbot")
    store = status_store(tmp_path, tmp_path, PAPERBOT_HOME="", HOME=str(fake_home))
    assert store["data_dir"] == str(fake_home / ".local" / "share" / "paperbot")
    store = status_store(tmp_path, tmp_path, DATA_DIR=str(tmp_path / "explicit"))
    assert store["data_dir"] == str(tmp_path / "explicit") and store["data_dir_from"] == "DATA_DIR"


def test_env_is_read_from_the_directory_then_the_home(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    (home / ".env").write_text("DATA_DIR=\nTIMEZONE=Mars/Olympus\n", encoding="utf-8")
    env = {"PAPERBOT_HOME": str(home)}
    bad = run_cli(["status"], tmp_path, cwd=elsewhere, **{**DEFAULTS, **env})
    assert "Invalid TIMEZONE" in bad.stderr  # the home's .env was read from elsewhere

    (elsewhere / ".env").write_text("TIMEZONE=Europe/Paris\n", encoding="utf-8")
    good = status_store(tmp_path, elsewhere, **env)
    assert good["env_files"] == [str((elsewhere / ".env").resolve()), str(home / ".env")]


def test_an_empty_store_without_reviews_to_seed_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "no-content"
    empty.mkdir()
    result = run_cli(["console"], tmp_path, stdin="/latest\n", CONTENT_DIR=str(empty))
    assert "NO REVIEWS TO SEED" in result.stderr and str(empty) in result.stderr
