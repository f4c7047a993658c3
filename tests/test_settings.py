"""Settings: defaults, parsing, and one clear line for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_API_BASE_URL, SettingsError, load_settings
from tests.support.paths import REPO_DIR


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> object:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(_env_file=None)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.setenv("PAPERBOT_HOME", str(tmp_path / "home"))
    settings = load_settings(_env_file=None)
    assert settings.telegram_api_base_url == DEFAULT_API_BASE_URL
    assert settings.timezone == "Asia/Shanghai"
    assert settings.push_cron == "0 9 * * mon"
    assert settings.arxiv_categories == ["cs.CL", "cs.LG", "cs.AI"]
    home = (tmp_path / "home").as_posix()
    assert settings.effective_database_url == f"sqlite:///{home}/paperbot.db"
    assert settings.content_dir == REPO_DIR / "content"


def test_lists_from_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", " 42, 1000000000001 ")
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.CL")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == [("telegram", "42"), ("telegram", "1000000000001")]
    assert settings.arxiv_categories == ["cs.CL"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ADMIN_IDS", "42,bob", "Invalid ADMIN_IDS"),
        ("TIMEZONE", "Mars/Olympus", "Invalid TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ("PUSH_CRON", "every monday", "Invalid PUSH_CRON: not a crontab expression"),
        ("LOG_LEVEL", "LOUD", "Invalid LOG_LEVEL"),
        ("DATABASE_URL", "mysql://x", "Invalid DATABASE_URL"),
        ("TELEGRAM_API_BASE_URL", "api.telegram.org", "Invalid TELEGRAM_API_BASE_URL"),
        ("ARXIV_CATEGORIES", " , ", "Invalid ARXIV_CATEGORIES"),
        ("TELEGRAM_MODE", "hook", "Invalid TELEGRAM_MODE"),
        ("TELEGRAM_MODE", "polling", "Invalid TELEGRAM_MODE: polling needs TELEGRAM_BOT_TOKEN"),
        ("TELEGRAM_WEBHOOK_URL", "http://bot.example.org/hook", "Invalid TELEGRAM_WEBHOOK_URL"),
        ("TELEGRAM_WEBHOOK_SECRET", "has space", "Invalid TELEGRAM_WEBHOOK_SECRET"),
        ("HTTP_PORT", "70000", "Invalid HTTP_PORT"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_env_example_documents_every_setting() -> None:
    from bot.settings import Settings

    example = (REPO_DIR / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, name


def test_env_example_values_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = REPO_DIR / ".env.example"
    settings = load_settings(_env_file=example)
    assert settings.timezone == "Asia/Shanghai"


def test_telegram_mode_defaults_and_webhook_needs_url_and_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_MODE", raising=False)
    bare = load_settings(_env_file=None)
    assert bare.effective_telegram_mode == "off"
    assert (bare.http_host, bare.http_port) == ("127.0.0.1", 8080)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:A")
    assert load_settings(_env_file=None).effective_telegram_mode == "polling"
    monkeypatch.setenv("TELEGRAM_MODE", "webhook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram/webhook")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith("Invalid TELEGRAM_WEBHOOK_SECRET: is required")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "x" * 256)
    assert load_settings(_env_file=None).effective_telegram_mode == "webhook"
    monkeypatch.setenv("TELEGRAM_MODE", "off")
    assert load_settings(_env_file=None).effective_telegram_mode == "off"
