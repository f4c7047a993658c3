"""One conversation script, four channels: the console, Telegram polling, Telegram webhook
and WeChat must reach the same channel-neutral outcomes (the same review titles in the replies
of each step, the same subscription row in the store after each step).

Each channel gets a store built the same way (the seed plus a search with two pages), so review
ids agree. Telegram runs as a real `paperbot run` process against the fake Bot API; in webhook
mode the fake delivers the updates to the process's /telegram/webhook as Telegram does. WeChat
runs as a real `paperbot run` in safe mode: the fake WeChat client posts each step as a signed,
encrypted callback to /wechat and decrypts the passive reply; a reply that missed WeChat's
deadline is read from the customer-service messages the fake WeChat API received. Only what
the capability changes is translated: a tap on a button is the numbered choice's word the
reply offered ("回复 下一页 翻页"), and a news card is read as its title and description.
"""

from __future__ import annotations

import asyncio
import io
import queue
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import create_engine, select

from bot.app import Core, build_core
from bot.channels.console import CONSOLE, run_console
from bot.db.models import Review, Subscriber
from tests.support.fake_telegram import (
    FakeTelegramServer,
    callback_update,
    make_user,
    message_update,
    private_chat,
)
from tests.support.fake_wechat import FakeWeChatServer
from tests.support.network import free_port
from tests.support.paging_store import PAGING_QUERY, prepare_paging_store
from tests.support.stores import make_settings
from tests.support.wechat_client import Answer, WeChatClient
from tests.test_runtime import environment, start, stop, wait_for_health

TOKEN = "123:CONTRACT"
PUBLIC_URL = "https://bot.example.org/telegram/webhook"
SECRET = "contract_Secret-7"
READER_ID = 3001
WECHAT_APP_ID = "wx2c2769f8efd9abc2"
WECHAT_TOKEN = "contractToken7"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECHAT_SECRET = "contract-app-secret"
WECHAT_READER = "oContractReader_0123456789ab"
NEXT_PAGE = "下一页 »"
#: A step of the script: text to send, or a tap on the button with this label.
TAP = "tap:"
#: Channel-neutral facts a reply may state (core texts, the same on every channel).
MARKERS = ("订阅成功", "已经订阅", "已退订", "这个按钮已失效", "可用命令")


class Driver(Protocol):
    """Talks to the bot as one reader of one channel."""

    channel: str
    database_url: str

    def send(self, text: str) -> list[str]:
        """Send a message; the texts of every reply, once all of them arrived."""

    def tap(self, label: str) -> list[str]:
        """Tap the button `label` of the last reply that had it; the texts of the answers."""


# ------------------------------------------------------------------------------- console
class _LineFeed(io.StringIO):
    """stdin for run_console: hands it the lines a test sends, one at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()

    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        return self.lines.get()


class _Screen(io.StringIO):
    """stdout for run_console: the console flushes once a line's replies are all printed."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = threading.Event()

    def flush(self) -> None:
        super().flush()
        self.flushed.set()


class ConsoleDriver:
    channel = CONSOLE

    def __init__(self, core: Core, database_url: str) -> None:
        self.database_url = database_url
        self._stdin = _LineFeed()
        self._stdout = _Screen()
        self._read = 0
        self._buttons: dict[str, int] = {}
        self._thread = threading.Thread(
            target=lambda: asyncio.run(
                run_console(core.conversation, self._stdin, self._stdout, "zh")
            ),
            name="console",
        )
        self._thread.start()

    def _line(self, line: str) -> list[str]:
        self._stdout.flushed.clear()
        self._stdin.lines.put(line + "\n")
        assert self._stdout.flushed.wait(30), f"the console did not answer {line!r}"
        output = self._stdout.getvalue()
        new, self._read = output[self._read :], len(output)
        replies = [part for part in new.split("\n\n") if part.strip()]
        labels = re.findall(r"\[(\d+)\] ([^\[\n<]+?)(?=\s+\[|\s*<|\s*$)", new, flags=re.M)
        if labels:
            self._buttons = {label.strip(): int(number) for number, label in labels}
        return replies

    def send(self, text: str) -> list[str]:
        return self._line(text)

    def tap(self, label: str) -> list[str]:
        assert label in self._buttons, f"no button {label!r} among {sorted(self._buttons)}"
        return self._line(f":{self._buttons[label]}")

    def close(self) -> None:
        self._stdin.lines.put("")  # end of input: run_console returns
        self._thread.join(30)


# ------------------------------------------------------------------------------- Telegram
class TelegramDriver:
    """A reader in a private chat with the bot; the fake Bot API brings the updates to a
    `paperbot run` process, by long polling or by posting to its webhook."""

    channel = "telegram"

    def __init__(self, fake: FakeTelegramServer, database_url: str, webhook: bool) -> None:
        self.fake = fake
        self.database_url = database_url
        self.webhook = webhook
        self.reader = make_user(READER_ID, "读者", language_code="zh-hans")
        self._read = 0
        self._with_buttons: dict[str, int] = {}  # button label -> message id it sits on
        self._sentinels = 0

    def _deliver(self, update: dict[str, Any]) -> list[str]:
        self.fake.push_update(update)
        if self.webhook:
            # The route answers only once the update is handled, replies sent.
            self.fake.wait_for_webhook_idle(timeout=60)
            sent = self.fake.sent_messages(READER_ID)[self._read :]
            self._read += len(sent)
        else:
            sent = self._wait_for_answer_then_sentinel()
        for message in sent:
            for row in (message.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if message.message_id is not None:
                        self._with_buttons[button["text"]] = message.message_id
        return [message.text for message in sent]

    def _wait_for_answer_then_sentinel(self) -> list[Any]:
        """In polling mode nothing says when a handler is done, but the bot answers one chat's
        updates in order: tap a dead button after the update, and its answer ("这个按钮已失效")
        marks the end of the replies."""
        self._sentinels += 1
        query_id = f"sentinel-{self._sentinels}"
        chat = private_chat(self.reader)
        origin = {"message_id": 1, "date": 0, "chat": chat, "text": "·"}
        self.fake.push_update(
            callback_update(self.reader, "sentinel:none", origin, query_id=query_id)
        )

        def sentinel_answered(calls: list[Any]) -> bool:
            answered = any(
                c.method == "answerCallbackQuery" and c.params.get("callback_query_id") == query_id
                for c in calls
            )
            return answered and any(
                "这个按钮已失效" in m.text for m in self.fake.sent_messages(READER_ID)[self._read :]
            )

        self.fake.wait_for(sentinel_answered, timeout=60)
        sent = self.fake.sent_messages(READER_ID)[self._read :]
        (end,) = [n for n, m in enumerate(sent) if "这个按钮已失效" in m.text]
        self._read += len(sent)
        return sent[:end]

    def send(self, text: str) -> list[str]:
        return self._deliver(message_update(self.reader, text))

    def tap(self, label: str) -> list[str]:
        message_id = self._with_buttons.get(label)
        assert message_id is not None, f"no button {label!r} among {sorted(self._with_buttons)}"
        message = self.fake.get_message(READER_ID, message_id)
        assert message is not None
        (data,) = [
            b["callback_data"]
            for row in message["reply_markup"]["inline_keyboard"]
            for b in row
            if b["text"] == label
        ]
        return self._deliver(callback_update(self.reader, data, message))


# ------------------------------------------------------------------------------- WeChat
#: A button, on WeChat, is a choice the reader types: the label's word, and the words of the
#: hint that offers it (render.choice_hint).
WECHAT_CHOICES = {NEXT_PAGE: ("下一页", "回复 下一页")}


class WeChatDriver:
    """A follower of the account: each step is one callback, answered by one WeChat
    message (a passive reply is one message; the script's steps have one reply each): the
    passive reply, or, when the process answered `success` (the deadline passed), the
    customer-service message that follows it."""

    channel = "wechat"

    def __init__(self, client: WeChatClient, api: FakeWeChatServer, database_url: str) -> None:
        self.client = client
        self.api = api
        self.database_url = database_url
        self._late_read = 0
        self._last_text = ""

    def _late_message(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            messages = [m for m in self.api.state.customer_messages if m["touser"] == WECHAT_READER]
            if len(messages) > self._late_read:
                self._late_read += 1
                return str(messages[self._late_read - 1]["text"]["content"])
            assert time.monotonic() < deadline, "no reply, passive or customer-service"
            time.sleep(0.05)

    @staticmethod
    def _text(answer: Answer) -> str:
        if answer.msg_type == "news":
            return "\n".join(
                f"{article.get('Title', '')}\n{article.get('Description', '')}"
                for article in answer.articles
            )
        assert answer.msg_type == "text", answer.xml
        return answer.content

    def send(self, text: str) -> list[str]:
        answer = self.client.send(WECHAT_READER, text)
        assert answer.status == 200, (answer.status, answer.body)
        reply = self._text(answer) if answer.is_reply else self._late_message()
        if reply and "回复" in reply:
            self._last_text = reply
        return [reply] if reply else []

    def tap(self, label: str) -> list[str]:
        assert label in WECHAT_CHOICES, f"no WeChat choice for the button {label!r}"
        word, hint = WECHAT_CHOICES[label]
        assert hint in self._last_text, f"the last list did not offer {hint!r}: {self._last_text}"
        return self.send(word)


@dataclass
class Outcome:
    """What a step leaves that no channel may change: titles shown, facts stated, and the
    reader's subscription row."""

    titles: frozenset[str]
    markers: frozenset[str]
    subscription: tuple[Any, ...] | None


def subscription_row(database_url: str, channel: str) -> tuple[Any, ...] | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    Subscriber.status,
                    Subscriber.language,
                    Subscriber.push_format,
                    Subscriber.topics,
                    Subscriber.unsubscribed_at.is_not(None),
                ).where(Subscriber.channel == channel)
            ).all()
    finally:
        engine.dispose()
    assert len(rows) <= 1, rows  # one reader, one chat
    return tuple(rows[0]) if rows else None


def review_titles_and_lima(database_url: str) -> tuple[list[str], str]:
    """Every title, and LIMA's slug (`/review N` is item N of the chat's last list; a
    slug names one review on every channel)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            reviews = connection.execute(select(Review.slug, Review.title)).all()
    finally:
        engine.dispose()
    (lima,) = [slug for slug, title in reviews if title.startswith("LIMA")]
    return [title for _, title in reviews], lima


def run_script(driver: Driver) -> list[Outcome]:
    titles, lima = review_titles_and_lima(driver.database_url)
    script = [
        "/start",
        "/latest",
        "/search 对齐",
        f"/search {PAGING_QUERY}",
        TAP + NEXT_PAGE,
        f"/review {lima}",
        "/subscribe",
        "/unsubscribe",
    ]
    outcomes = []
    for step in script:
        replies = driver.tap(step[len(TAP) :]) if step.startswith(TAP) else driver.send(step)
        assert replies, f"{driver.channel}: no reply to {step!r}"
        text = "\n".join(replies)
        outcomes.append(
            Outcome(
                frozenset(title for title in titles if title in text),
                frozenset(marker for marker in MARKERS if marker in text),
                subscription_row(driver.database_url, driver.channel),
            )
        )
    return outcomes


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A data directory per channel, each holding a store built the same way."""
    directories = {}
    for name in ("console", "polling", "webhook", "wechat"):
        directory = tmp_path_factory.mktemp(name)
        prepare_paging_store(sqlite_url(directory), directory)
        directories[name] = directory
    return directories


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'data' / 'paperbot.db'}"


def console_outcomes(directory: Path) -> list[Outcome]:
    core = build_core(make_settings(sqlite_url(directory), directory), seed=False)
    driver = ConsoleDriver(core, sqlite_url(directory))
    try:
        return run_script(driver)
    finally:
        driver.close()
        core.close()


def telegram_outcomes(directory: Path, webhook: bool) -> list[Outcome]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mode = (
        {
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_URL": PUBLIC_URL,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        if webhook
        else {"TELEGRAM_MODE": "polling"}
    )
    with FakeTelegramServer() as fake:
        env = environment(
            directory,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            HTTP_PORT=str(port),
            **mode,
        )
        process: subprocess.Popen[str] = start(directory, env)
        try:
            health = wait_for_health(base, process)
            assert health["channels"]["telegram"] == ("webhook" if webhook else "polling")
            if webhook:
                fake.deliver_webhook_to(f"{base}/telegram/webhook")
            outcomes = run_script(TelegramDriver(fake, sqlite_url(directory), webhook))
        finally:
            output = stop(process)
        assert process.returncode == 0, output
        assert fake.rejected_calls() == [], [c.summary() for c in fake.rejected_calls()]
        if webhook:
            assert fake.webhook_attempts and all(a.ok for a in fake.webhook_attempts)
    return outcomes


def wechat_outcomes(directory: Path) -> list[Outcome]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeWeChatServer(WECHAT_APP_ID, WECHAT_SECRET) as api:
        # A follower: the customer-service messages of late replies reach them.
        api.state.followers.add(WECHAT_READER)
        env = environment(
            directory,
            HTTP_PORT=str(port),
            WECHAT_APP_ID=WECHAT_APP_ID,
            WECHAT_APP_SECRET=WECHAT_SECRET,
            WECHAT_TOKEN=WECHAT_TOKEN,
            WECHAT_ENCODING_AES_KEY=WECHAT_AES_KEY,
            WECHAT_API_BASE_URL=api.base_url,
        )
        process: subprocess.Popen[str] = start(directory, env)
        try:
            health = wait_for_health(base, process)
            assert health["channels"]["wechat"] == "webhook", health
            client = WeChatClient(f"{base}/wechat", WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_AES_KEY)
            outcomes = run_script(WeChatDriver(client, api, sqlite_url(directory)))
        finally:
            output = stop(process)
        assert process.returncode == 0, output
        # Every customer-service message the process sent was one WeChat accepted.
        assert len(api.calls_to("message/custom/send")) == len(api.state.customer_messages)
    return outcomes


@pytest.fixture(scope="module")
def console(stores: dict[str, Path]) -> list[Outcome]:
    return console_outcomes(stores["console"])


def test_the_script_on_the_console_reaches_the_expected_outcomes(console: list[Outcome]) -> None:
    start_, latest, alignment, page_one, page_two, review, subscribe, unsubscribe = console
    assert {"订阅成功"} <= start_.markers
    assert start_.subscription is not None and start_.subscription[0] == "active"
    assert len(latest.titles) == 5  # the newest page of the store
    assert "LIMA: Less Is More for Alignment" in alignment.titles
    assert len(page_one.titles) == 5 and len(page_two.titles) == 3
    assert page_one.titles.isdisjoint(page_two.titles)
    assert review.titles == {"LIMA: Less Is More for Alignment"}
    assert "已经订阅" in subscribe.markers
    assert "已退订" in unsubscribe.markers
    assert unsubscribe.subscription is not None and unsubscribe.subscription[0] != "active"


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
def test_telegram_reaches_the_same_outcomes_as_the_console(
    console: list[Outcome], stores: dict[str, Path], webhook: bool
) -> None:
    outcomes = telegram_outcomes(stores["webhook" if webhook else "polling"], webhook)
    for step, (expected, got) in enumerate(zip(console, outcomes, strict=True)):
        assert got == expected, f"step {step}: console {expected} != telegram {got}"


def test_wechat_reaches_the_same_outcomes_as_the_console(
    console: list[Outcome], stores: dict[str, Path]
) -> None:
    outcomes = wechat_outcomes(stores["wechat"])
    for step, (expected, got) in enumerate(zip(console, outcomes, strict=True)):
        assert got == expected, f"step {step}: console {expected} != wechat {got}"
