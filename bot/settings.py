"""Application settings, read once at start-up from the environment and `.env`.

Nothing in the project reads the environment anywhere else: the composition root
(`bot.app`) builds a `Settings` and passes it (or the parts it needs) down.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.channels.telegram.capabilities import (
    PAID_BROADCAST_MAX_PER_SECOND,
    TELEGRAM,
    is_telegram_id,
)
from bot.core.addresses import ChatAddress, parse_address

#: The repository's own `content/` folder; the default seed for an empty database
#: when paperbot runs from a checkout (or an editable install).
REPO_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
#: Where a non-editable install (`pip install .`) puts the same reviews (pyproject's
#: data-files): `<prefix>/share/paperbot/content`.
INSTALLED_CONTENT_DIR = Path(sys.prefix) / "share" / "paperbot" / "content"


def default_content_dir() -> Path:
    """The reviews that seed an empty store: the checkout's `content/`, else the copy
    installed with the package. When neither exists the checkout's path is returned,
    and seeding says loudly that it found nothing there (bot/core/reviews.py)."""
    for candidate in (REPO_CONTENT_DIR, INSTALLED_CONTENT_DIR):
        if candidate.is_dir():
            return candidate
    return REPO_CONTENT_DIR


def default_home() -> Path:
    """PAPERBOT_HOME when it is not set: the platform's per-user data directory,
    `$XDG_DATA_HOME/paperbot`, else `~/.local/share/paperbot` (on Windows
    `%LOCALAPPDATA%\\paperbot`). The same wherever `paperbot` is started."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "paperbot"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "paperbot"


def home_dir() -> Path:
    """PAPERBOT_HOME as the environment, or else the current directory's `.env`, sets
    it; else `default_home()`. Needed before the settings are read: it says where the
    second `.env` is."""
    value = os.environ.get("PAPERBOT_HOME") or _dotenv_value(Path(".env"), "PAPERBOT_HOME")
    return Path(value).expanduser() if value else default_home()


def env_files() -> tuple[Path, ...]:
    """The `.env` files read, in the order of the lookup: the current directory's,
    then PAPERBOT_HOME's. A variable set in both takes the current directory's value;
    the environment wins over both."""
    return (Path(".env"), home_dir() / ".env")


def _dotenv_value(path: Path, name: str) -> str | None:
    from dotenv import dotenv_values

    if not path.is_file():
        return None
    return dotenv_values(path).get(name) or None


DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
#: arXiv asks robots for a descriptive User-Agent with a way to reach the operator.
DEFAULT_USER_AGENT = (
    "paperbot/0.1 (+https://github.com/paperbot/paperbot; mailto:editors@example.org)"
)
DEFAULT_ARXIV_KEYWORDS = (
    "large language model",
    "LLM",
    "language model",
    "reasoning",
    "alignment",
    "RLHF",
    "preference optimization",
    "instruction tuning",
    "in-context learning",
    "chain-of-thought",
    "fine-tuning",
    "pretraining",
    "scaling law",
    "transformer",
    "mixture of experts",
    "state space model",
    "long context",
    "hallucination",
    "retrieval-augmented generation",
    "agent",
)


#: What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
#: What WeChat's server configuration accepts as Token and as EncodingAESKey.
_WECHAT_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")


class SettingsError(Exception):
    """Raised with one human-readable line that names the offending variable."""


def _admin_address(value: object) -> ChatAddress:
    shown = str(value).strip()
    if shown.rpartition(":")[2].startswith("@"):
        # A Telegram @username is what an editor knows of themselves, and it can change:
        # the bot matches the numeric id, which /whoami tells.
        raise ValueError(
            f"{shown!r} is a username; use numeric ids or channel:id "
            "(e.g. 4242 or telegram:4242); send /whoami to the bot to learn yours"
        )
    try:
        address = parse_address(value, default_channel=TELEGRAM)
    except ValueError:
        raise ValueError(
            f"{shown!r} is not an id; use numeric ids or channel:id (e.g. 4242 or telegram:4242)"
        ) from None
    if address.channel == TELEGRAM and not is_telegram_id(address.address):
        raise ValueError(
            f"{shown!r} is not a Telegram id: use the numeric id (e.g. 4242 or "
            "telegram:4242); send /whoami to the bot to learn yours"
        )
    return address


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the bot. `.env.example` documents each one with its default."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: str = ""
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    #: Updates handled at once (different chats overlap; one chat's are answered in order).
    telegram_concurrent_updates: int = Field(default=16, ge=1, le=256)
    #: How Telegram reaches the bot: polling (default with a token), webhook, or off
    #: (default without one). See `effective_telegram_mode`.
    telegram_mode: Literal["polling", "webhook", "off"] | None = None
    #: The public https URL Telegram posts updates to (webhook mode), e.g. behind a proxy
    #: that forwards to http://HTTP_HOST:HTTP_PORT/telegram/webhook.
    telegram_webhook_url: str = Field(default="", validate_default=True)
    #: Telegram sends it back in X-Telegram-Bot-Api-Secret-Token; required for webhooks.
    telegram_webhook_secret: str = Field(default="", validate_default=True)
    #: The process's HTTP server (health, metrics, webhooks).
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    #: Processes `paperbot run` starts to serve HTTP_HOST:HTTP_PORT together (each a full
    #: replica, one socket each with SO_REUSEPORT): one Python process is bound to one
    #: core by the GIL. 1: the process serves by itself (`paperbot run --workers` wins).
    http_workers: int = Field(default=1, ge=1, le=64)
    #: The proxies whose X-Forwarded-For / X-Forwarded-Proto the HTTP server believes
    #: (uvicorn's forwarded_allow_ips): comma-separated addresses or networks, `*` for
    #: any. Default: a proxy on this machine (deploy/nginx/paperbot.conf).
    forwarded_allow_ips: str = "127.0.0.1"
    #: The data directory: the default SQLite file and a second `.env` live here.
    paperbot_home: Path = Field(default_factory=default_home)
    #: An override of the SQLite file's folder (relative: to the current directory).
    data_dir: Path | None = None
    database_url: str = ""
    content_dir: Path = Field(default_factory=default_content_dir)
    #: Editors: `telegram:4242`, `wechat:<openid>`; a bare number is a Telegram user id.
    admin_ids: Annotated[list[ChatAddress], NoDecode] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    push_cron: str = "0 9 * * mon"
    #: A push missed while the bot was down still runs at start-up if it is at most
    #: this late; older ones wait for the next scheduled push (nothing is lost either way).
    push_grace_seconds: int = Field(default=86_400, ge=0)
    #: Ceilings on every channel's declared send limits (Telegram declares 30/s, 1/s,
    #: 20/min): they lower a channel's limit (a shared token), never raise it; 0 = the
    #: channel's own.
    push_max_per_second: float = Field(default=0.0, ge=0)
    push_private_per_second: float = Field(default=0.0, ge=0)
    push_group_per_minute: float = Field(default=0.0, ge=0)
    #: Telegram's paid broadcast: the push's messages allow it (`allow_paid_broadcast`,
    #: charged in Stars beyond the free 30/s), and Telegram's declared overall limit
    #: becomes 1000/s, paced up to PUSH_MAX_PER_SECOND (at most 1000).
    push_paid_broadcast: bool = False
    push_concurrency: int = Field(default=8, ge=1, le=256)
    push_max_attempts: int = Field(default=5, ge=1, le=20)
    push_lease_seconds: float = Field(default=120.0, ge=1)
    push_record_batch: int = Field(default=1, ge=1, le=1000)
    #: Every process migrates the database at start (under a lock); false leaves that to
    #: the release step, `paperbot db upgrade`, and refuses to start on an older schema.
    db_auto_upgrade: bool = True
    #: The scheduled jobs run on one process, the holder of a lease renewed every third
    #: of this; when the leader dies, another process takes over after this long.
    leader_lease_seconds: float = Field(default=15.0, ge=0.3)
    #: A channel that could not start (Telegram or the network unreachable) is retried
    #: after this many seconds, doubling each time up to CHANNEL_RETRY_MAX_SECONDS.
    channel_retry_seconds: float = Field(default=2.0, gt=0)
    channel_retry_max_seconds: float = Field(default=300.0, gt=0)
    #: How long a button's state (a search's paging token) is kept for any process to
    #: answer a tap on it; older buttons answer that they have expired.
    button_state_seconds: float = Field(default=7 * 86_400.0, ge=1)
    #: A push retries its database work this long while the database is away or busy.
    db_retry_seconds: float = Field(default=120.0, ge=0)
    #: How many pushes may re-queue one delivery that failed transiently (5xx, network).
    push_max_retry_runs: int = Field(default=3, ge=0, le=100)
    #: Reviews one push sends one reader at most; the rest wait for the next push.
    push_max_reviews_per_reader: int = Field(default=10, ge=1, le=1000)
    #: A push stops after this long, leaving what it did not send pending for the next.
    push_deadline_seconds: float = Field(default=14_400.0, gt=0)
    #: One send without an answer after this long counts as a temporary failure.
    push_send_timeout_seconds: float = Field(default=60.0, gt=0)
    #: How often a running push logs its progress and what it is waiting for.
    push_progress_seconds: float = Field(default=30.0, gt=0)
    #: Optional public channel (numeric id, e.g. -1001234567890) that gets every newly
    #: published review once.
    telegram_channel_id: int | None = None
    arxiv_feed_url: str = "https://rss.arxiv.org/atom/{category}"
    arxiv_categories: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["cs.CL", "cs.LG", "cs.AI"]
    )
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    #: 13:30 in Asia/Shanghai is 00:30 EST / 01:30 EDT: after arXiv's midnight rebuild.
    arxiv_poll_cron: str = "30 13 * * mon-fri"
    arxiv_keywords: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ARXIV_KEYWORDS)
    )
    arxiv_include_replacements: bool = False
    arxiv_top_n: int = Field(default=5, ge=0, le=20)
    #: arXiv's terms: no more than one request every three seconds.
    arxiv_request_interval: float = Field(default=3.0, ge=0)
    #: A whole `arxiv poll` or `lint` (every category, every batch) stops after this long.
    arxiv_deadline_seconds: float = Field(default=300.0, gt=0)
    http_user_agent: str = DEFAULT_USER_AGENT
    log_level: str = "INFO"
    #: `text` (a line of prose, with the channel/chat/update ids appended) or `json`:
    #: one JSON object a line for a log pipeline (bot/log_format.py).
    log_format: Literal["text", "json"] = "text"
    #: The web archive (bot/channels/web): the column's pages and feeds on the HTTP server.
    web_enabled: bool = True
    #: Where readers reach the web archive (`https://papers.example.org`): canonical URLs,
    #: feeds, sitemap, and the bot's cards link to `<PUBLIC_URL>/r/<slug>`. Empty: pages
    #: use the address they were asked on, and the bot's cards have no web link.
    public_url: str = ""
    #: The bot's @username for `https://t.me/<name>?start=r_<slug>` links; empty: asked of
    #: Telegram (getMe) when a token is set, else the web shows no Telegram link.
    telegram_bot_username: str = ""
    #: The WeChat official account readers can follow, shown on the web pages (optional).
    wechat_account_name: str = ""
    #: Reviews per page of the web archive's lists.
    web_page_size: int = Field(default=10, ge=1, le=100)
    #: Reviews in each feed (`/feed.atom`, `/feed.json`, per tag).
    web_feed_size: int = Field(default=20, ge=1, le=500)
    #: How often the web archive asks the store whether any review changed (another
    #: process's publish shows within this); between checks pages come from memory.
    web_refresh_seconds: float = Field(default=1.0, ge=0.05, le=3600)
    #: The WeChat Official Account (公众号): enabled when these three are set (the
    #: developer ID, its secret, and the Token entered in the admin console's server
    #: configuration).
    wechat_app_id: str = ""
    wechat_app_secret: str = Field(default="", validate_default=True)
    wechat_token: str = Field(default="", validate_default=True)
    #: The 43-character EncodingAESKey of safe mode (encrypt_type=aes); empty: plaintext.
    wechat_encoding_aes_key: str = ""
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    #: WeChat waits 5 s for a reply; one not ready after this long is answered `success`
    #: and sent as a customer-service message when it is.
    wechat_reply_seconds: float = Field(default=4.0, ge=0, le=4.5)
    #: The weekly push on WeChat: `mass` sends the week's reviews as one mass message
    #: (draft/add + sendall) from `paperbot push`; `off` pushes nothing there.
    wechat_push: Literal["off", "mass"] = "off"
    #: Mass-send to the followers of this tag id only; 0: to every follower.
    wechat_push_tag: int = Field(default=0, ge=0)
    #: The cover image (JPEG, under 10 MB) of the mass message's articles, uploaded once
    #: and remembered; empty: the image bundled with paperbot.
    wechat_push_cover: Path | None = None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: Any) -> Any:
        parts = _split_csv(value)
        if not isinstance(parts, list | tuple):
            return parts
        # A bare id predates other channels: it means Telegram.
        return [_admin_address(part) for part in parts]

    @field_validator("push_paid_broadcast")
    @classmethod
    def _check_paid_rate(cls, value: bool, info: ValidationInfo) -> bool:
        ceiling = info.data.get("push_max_per_second") or 0.0
        if value and ceiling > PAID_BROADCAST_MAX_PER_SECOND:
            raise ValueError(
                f"PUSH_MAX_PER_SECOND={ceiling:g} is above Telegram's paid broadcast limit "
                f"of {PAID_BROADCAST_MAX_PER_SECOND:g} messages/s; set it to "
                f"{PAID_BROADCAST_MAX_PER_SECOND:g} or less (0 = that limit)"
            )
        return value

    @field_validator("telegram_mode", mode="before")
    @classmethod
    def _empty_mode_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_mode")
    @classmethod
    def _mode_needs_a_token(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value in ("polling", "webhook") and not info.data.get("telegram_bot_token"):
            raise ValueError(f"{value} needs TELEGRAM_BOT_TOKEN (or set TELEGRAM_MODE=off)")
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str, info: ValidationInfo) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("must be a public https:// URL (Telegram posts only to https)")
        if not value and info.data.get("telegram_mode") == "webhook":
            raise ValueError("is required when TELEGRAM_MODE=webhook (the public https URL)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: str, info: ValidationInfo) -> str:
        if value and not _WEBHOOK_SECRET.fullmatch(value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        if not value and info.data.get("telegram_mode") == "webhook":
            raise ValueError(
                "is required when TELEGRAM_MODE=webhook (e.g. the output of `openssl rand -hex 32`)"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                "must be an http:// or https:// URL such as https://papers.example.org"
            )
        return value

    @field_validator("wechat_app_secret", "wechat_token")
    @classmethod
    def _wechat_needs_all_three(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("wechat_app_id") and not value:
            raise ValueError("is required when WECHAT_APP_ID is set (WeChat is on with all three)")
        if value and not info.data.get("wechat_app_id"):
            raise ValueError("is set but WECHAT_APP_ID is not (WeChat needs all three)")
        if info.field_name == "wechat_token" and value and not _WECHAT_TOKEN.fullmatch(value):
            raise ValueError(
                "must be 3-32 letters and digits (what WeChat's admin console accepts)"
            )
        return value

    @field_validator("wechat_encoding_aes_key")
    @classmethod
    def _check_aes_key(cls, value: str) -> str:
        value = value.strip()
        if value and not _AES_KEY.fullmatch(value):
            raise ValueError("must be the 43 letters and digits WeChat shows (or empty: plaintext)")
        return value

    @field_validator("telegram_channel_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("arxiv_categories", "arxiv_keywords", mode="before")
    @classmethod
    def _parse_categories(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("telegram_bot_username")
    @classmethod
    def _check_bot_username(cls, value: str) -> str:
        value = value.strip().removeprefix("@")
        if value and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", value):
            raise ValueError("must be a Telegram bot username such as paperbot_bot (no @ needed)")
        return value

    @field_validator(
        "telegram_api_base_url", "arxiv_feed_url", "arxiv_api_url", "wechat_api_base_url"
    )
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r} (use DEBUG, INFO, WARNING or ERROR)")
        return level

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @field_validator("arxiv_categories")
    @classmethod
    def _check_categories(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one arXiv category, e.g. cs.CL")
        return value

    @field_validator("push_cron", "arxiv_poll_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a crontab expression like '0 9 * * mon' ({exc})") from exc
        return value

    @property
    def effective_telegram_mode(self) -> str:
        """TELEGRAM_MODE, or its default: polling with a token, off without one."""
        if self.telegram_mode is not None:
            return self.telegram_mode
        return "polling" if self.telegram_bot_token else "off"

    @property
    def wechat_enabled(self) -> bool:
        """WeChat is on when its AppID, AppSecret and Token are all set."""
        return bool(self.wechat_app_id and self.wechat_app_secret and self.wechat_token)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("paperbot_home", mode="before")
    @classmethod
    def _empty_home_is_default(cls, value: Any) -> Any:
        return default_home() if isinstance(value, str) and not value.strip() else value

    @field_validator("paperbot_home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("data_dir", "wechat_push_cover", mode="before")
    @classmethod
    def _empty_data_dir_is_home(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def effective_data_dir(self) -> Path:
        """DATA_DIR if set (as before), else PAPERBOT_HOME."""
        return self.data_dir if self.data_dir is not None else self.paperbot_home

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or the embedded default: paperbot.db in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.effective_data_dir / 'paperbot.db').as_posix()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one clear line per variable.

    The `.env` files are those of `env_files()` unless `_env_file` is given (tests
    pass None: the environment only).
    """
    if "_env_file" not in overrides:
        # pydantic-settings lets a later file win; the lookup order says the first.
        overrides["_env_file"] = tuple(reversed(env_files()))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"] if not isinstance(part, int)]
        message = str(error["msg"]).removeprefix("Value error, ")
        if location:
            lines.append(f"Invalid {location[0].upper()}: {message}")
        else:
            lines.append(f"Invalid setting: {message}")
    return "; ".join(lines)
