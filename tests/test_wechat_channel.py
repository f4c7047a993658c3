"""The WeChat channel end to end: the runtime's Starlette app on uvicorn (real HTTP, in
this process, or a real `paperbot run`), a fake WeChat client posting signed and
encrypted callbacks, and the fake WeChat API for the replies sent later."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from bot.app import Core, build_core
from bot.channels.wechat.channel import WeChatChannel
from bot.core.conversation import Button, Reply
from bot.core.richtext import paragraph, rich
from bot.core.search.segment import warm_up
from bot.db.models import SeenInbound, Subscriber
from bot.runtime import build_runtime
from bot.settings import SettingsError
from tests.support.cli import run_cli
from tests.support.fake_wechat import FakeWeChatServer
from tests.support.network import free_port
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings
from tests.support.wechat_client import WeChatClient
from tests.test_runtime import environment, start, stop, wait_for_health

VECTOR = json.loads((DATA_DIR / "wechat" / "safe_mode_vector.json").read_text("utf-8"))
APP_ID = VECTOR["app_id"]
TOKEN = VECTOR["token"]
AES_KEY = VECTOR["encoding_aes_key"]
SECRET = "wechat-app-secret"
PUBLIC = "https://papers.example.org"
READER = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
RELEVANCE = DATA_DIR / "relevance"


@dataclass
class Served:
    core: Core
    client: WeChatClient
    api: FakeWeChatServer

    def subscriber(self, openid: str) -> Subscriber | None:
        with self.core.sessions() as session:
            return session.scalar(
                select(Subscriber).where(
                    Subscriber.channel == "wechat", Subscriber.chat_id == openid
                )
            )

    def count(self, model: type[Any]) -> int:
        with self.core.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def serving(tmp_path: Path, database_url: str, **overrides: Any) -> Iterator[Served]:
    """The runtime's app (WeChat on) on uvicorn in a thread, with the fake WeChat API."""
    aes_key = overrides.pop("aes_key", AES_KEY)
    with FakeWeChatServer(APP_ID, SECRET) as api:
        settings = make_settings(
            database_url,
            tmp_path,
            wechat_app_id=APP_ID,
            wechat_app_secret=SECRET,
            wechat_token=TOKEN,
            wechat_encoding_aes_key=aes_key,
            wechat_api_base_url=api.base_url,
            public_url=PUBLIC,
            leader_lease_seconds=60,
            **overrides,
        )
        core = build_core(settings)
        core.reviews.import_files([RELEVANCE])
        runtime = build_runtime(core)
        port = free_port()
        config = uvicorn.Config(
            runtime.app(), host="127.0.0.1", port=port, lifespan="on", log_config=None
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        # jieba's dictionary, loading beside start-up, is in before the first search:
        # a loaded machine must not turn a reply in time into a late one.
        warm_up()
        client = WeChatClient(f"http://127.0.0.1:{port}/wechat", TOKEN, APP_ID, aes_key)
        try:
            yield Served(core, client, api)
        finally:
            server.should_exit = True
            thread.join(60)
            assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with serving(tmp_path, database_url) as running:
        yield running


def customer_message(api: FakeWeChatServer, timeout: float = 20.0) -> str:
    """The first customer-service message's text, once it arrived."""
    deadline = time.monotonic() + timeout
    while not api.state.customer_messages:
        assert time.monotonic() < deadline, "no customer-service message came"
        time.sleep(0.05)
    return str(api.state.customer_messages[0]["text"]["content"])


def titles_of(core: Core, query: str, offset: int = 0) -> list[str]:
    return [review.title for review in core.search.search(query, 5, offset).items]


def test_server_check_echoes_echostr_only_when_signed(served: Served) -> None:
    client = served.client
    answer = client.verify("echo-5f3e")
    assert (answer.status_code, answer.text) == (200, "echo-5f3e")
    forged = client.verify("echo-5f3e", forge=True)
    stale = client.verify("echo-5f3e", timestamp=int(time.time()) - 3600)
    for refused in (forged, stale):
        assert (refused.status_code, refused.text) == (403, "")


def test_an_encrypted_search_is_answered_with_an_encrypted_search_result(
    served: Served,
) -> None:
    answer = served.client.send(READER, "对齐")
    assert answer.status == 200 and answer.is_reply, answer.body
    assert "<Encrypt>" in answer.body and "对齐" not in answer.body
    assert answer.msg_type == "text"
    assert answer.fields["ToUserName"] == READER
    content = answer.content
    assert "「对齐」的搜索结果" in content
    expected = titles_of(served.core, "对齐")
    assert expected and all(title in content for title in expected), content
    assert f"回复 1–{len(expected)} 阅读全文" in content or len(expected) == 1


def test_cdata_ends_in_what_a_reader_sends_keep_the_reply_valid(served: Served) -> None:
    answer = served.client.send(READER, "zz]]><x/>qq")
    # The client parsed the (decrypted) reply: the `]]>` did not break its CDATA.
    assert answer.msg_type == "text"
    assert "zz]]><x/>qq" in answer.content, answer.content


def test_a_subscribe_makes_an_active_wechat_subscriber_with_a_welcome(served: Served) -> None:
    answer = served.client.post(served.client.event(READER, "subscribe"))
    assert answer.is_reply and answer.msg_type == "text"
    assert "订阅成功" in answer.content, answer.content
    subscriber = served.subscriber(READER)
    assert subscriber is not None and subscriber.status == "active"


def test_a_review_qr_scene_opens_that_review_as_a_news_card(served: Served) -> None:
    served.api.state.followers.add(READER)
    review = served.core.search.search("Chain-of-Thought", 1).items[0]
    answer = served.client.post(
        served.client.event(READER, "subscribe", key=f"qrscene_r_{review.slug}")
    )
    assert answer.msg_type == "news", answer.xml
    (article,) = answer.articles
    assert article["Title"] == review.title
    assert article["Url"] == f"{PUBLIC}/r/{review.slug}"
    subscriber = served.subscriber(READER)
    assert subscriber is not None and subscriber.status == "active"
    # The welcome follows as a customer-service message (the passive reply is the card).
    deadline = time.monotonic() + 20
    while not served.api.state.customer_messages and time.monotonic() < deadline:
        time.sleep(0.05)
    (welcome,) = served.api.state.customer_messages
    assert "订阅成功" in welcome["text"]["content"]


def test_forged_stale_and_hostile_callbacks_change_nothing(served: Served) -> None:
    client = served.client
    subscribe = client.event(READER, "subscribe")
    forged = client.post(subscribe, forge=True)
    stale = client.post(subscribe, timestamp=int(time.time()) - 301)
    assert (forged.status, forged.body) == (403, "")
    assert (stale.status, stale.body) == (403, "")
    # A correctly signed and encrypted billion-laughs body: refused before expanding.
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]><xml><ToUserName>x</ToUserName><FromUserName>"
        + READER
        + "</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
        + "<Content>&i;</Content><MsgId>1</MsgId></xml>"
    )
    exploded = client.post(bomb)
    assert (exploded.status, exploded.body) == (400, "")
    # An oversized body and one that is not XML at all, both signed.
    url, _ = client.signed_request(subscribe)
    huge = client.post_raw(url, b"<xml>" + b"a" * 70_000 + b"</xml>")
    garbage = client.post_raw(url, b"\x00\xffnot xml")
    assert (huge.status, huge.body) == (400, "")
    odd_stamp = url.replace("timestamp=", "timestamp=%C2%B2")
    assert client.post_raw(odd_stamp, b"<xml/>").status == 403
    assert (garbage.status, garbage.body) == (400, "")
    # Plaintext posted to a safe-mode account is refused too.
    plain = WeChatClient(client.url, TOKEN, APP_ID).post(subscribe)
    assert (plain.status, plain.body) == (403, "")
    assert served.subscriber(READER) is None
    assert served.count(SeenInbound) == 0
    # Nothing crashed: the same subscribe, properly sent, works.
    assert client.post(subscribe).is_reply
    assert served.subscriber(READER) is not None


def _paged_query(core: Core) -> str:
    for query in ("语言模型", "模型", "训练"):
        if core.search.search(query, 5).total > 5:
            return query
    raise AssertionError("no query with a second page in the test store")


def test_a_full_conversation(served: Served) -> None:
    client = served.client
    welcome = client.post(client.event(READER, "subscribe"))
    assert "订阅成功" in welcome.content

    latest = client.send(READER, "最新")
    assert "最新论文解读" in latest.content, latest.content

    query = _paged_query(served.core)
    first_page = titles_of(served.core, query)
    found = client.send(READER, query)
    assert all(title in found.content for title in first_page)
    assert "回复 下一页" in found.content, found.content

    opened = client.send(READER, "1")
    assert opened.msg_type == "news"
    (article,) = opened.articles
    first = served.core.search.search(query, 1).items[0]
    assert article["Title"] == first.title == first_page[0]
    assert article["Url"] == f"{PUBLIC}/r/{first.slug}"

    second_page = titles_of(served.core, query, offset=5)
    paged = client.send(READER, "下一页")
    assert paged.msg_type == "text"
    assert second_page and all(title in paged.content for title in second_page), paged.content
    assert "6." in paged.content
    # The second page's numbers pick its reviews.
    sixth = client.send(READER, "6")
    assert sixth.articles[0]["Title"] == second_page[0]

    helped = client.send(READER, "帮助")
    assert "/latest" in helped.content

    gone = client.post(client.event(READER, "unsubscribe"))
    assert (gone.status, gone.body) == (200, "success")
    subscriber = served.subscriber(READER)
    assert subscriber is not None and subscriber.status == "unsubscribed"


def test_a_number_without_choices_is_answered_politely(served: Served) -> None:
    answer = served.client.send(READER, "3")
    assert answer.msg_type == "text" and "编号已失效" in answer.content, answer.content


def test_a_retry_storm_is_answered_once(served: Served) -> None:
    client = served.client
    xml = client.text(READER, "对齐")
    answers = client.post_with_retries(xml, attempts=3, delay=0.2, concurrent=4)
    replies = [answer for answer in answers if answer.is_reply]
    assert len(answers) == 12
    assert len(replies) == 1, [a.body for a in answers]
    assert all(a.status == 200 and a.body == "success" for a in answers if not a.is_reply)
    assert "「对齐」的搜索结果" in replies[0].content


def test_a_reply_not_ready_in_time_goes_as_one_customer_service_message(
    tmp_path: Path, sqlite_url: str
) -> None:
    # A deadline of 0 s: no reply is ever ready in time, each goes out later.
    with serving(tmp_path, sqlite_url, wechat_reply_seconds=0.0) as served:
        served.api.state.followers.add(READER)
        client = served.client
        answers = client.post_with_retries(
            client.text(READER, "对齐"), attempts=3, delay=0.3, concurrent=2
        )
        assert [a.body for a in answers] == ["success"] * 6
        deadline = time.monotonic() + 20
        while not served.api.state.customer_messages and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a second message would have had the time to come
        (message,) = served.api.state.customer_messages
        assert message["touser"] == READER
        assert "「对齐」的搜索结果" in message["text"]["content"]


def test_plaintext_mode(tmp_path: Path, sqlite_url: str) -> None:
    with serving(tmp_path, sqlite_url, aes_key="") as served:
        answer = served.client.send(READER, "mamba")
        assert answer.is_reply and "<Encrypt>" not in answer.body
        assert "Mamba" in answer.content
        forged = served.client.post(served.client.text(READER, "mamba"), forge=True)
        assert (forged.status, forged.body) == (403, "")
        # Compatible mode: `encrypt_type=aes` and the plaintext fields beside `Encrypt`
        # (an account switching modes), read as plaintext by a server without the key.
        xml = served.client.text(READER, "对齐")
        url, _ = served.client.signed_request(xml)
        compatible = xml.replace("</xml>", "<Encrypt><![CDATA[c2VjcmV0]]></Encrypt></xml>")
        answer = served.client.post_raw(
            f"{url}&encrypt_type=aes&msg_signature=0", compatible.encode()
        )
        assert "「对齐」的搜索结果" in answer.content, answer.body


def test_paperbot_run_answers_wechat(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeWeChatServer(APP_ID, SECRET) as api:
        env = environment(
            tmp_path,
            HTTP_PORT=str(port),
            WECHAT_APP_ID=APP_ID,
            WECHAT_APP_SECRET=SECRET,
            WECHAT_TOKEN=TOKEN,
            WECHAT_ENCODING_AES_KEY=AES_KEY,
            WECHAT_API_BASE_URL=api.base_url,
            PUBLIC_URL=PUBLIC,
        )
        process = start(tmp_path, env)
        try:
            health = wait_for_health(base, process)
            assert health["channels"]["wechat"] == "webhook", health
            client = WeChatClient(f"{base}/wechat", TOKEN, APP_ID, AES_KEY)
            assert "订阅成功" in client.post(client.event(READER, "subscribe")).content
            api.state.followers.add(READER)
            answer = client.send(READER, "对齐")
            # In time (the passive reply), or late as a customer-service message.
            text = answer.content if answer.is_reply else customer_message(api)
            assert "「对齐」的搜索结果" in text, answer.body
            assert client.post(client.event(READER, "subscribe"), forge=True).status == 403
        finally:
            output = stop(process)
        assert process.returncode == 0, output
        assert "WeChat callbacks on /wechat" in output


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"wechat_app_id": APP_ID}, "Invalid WECHAT_APP_SECRET: is required"),
        ({"wechat_token": TOKEN}, "Invalid WECHAT_TOKEN: is set but WECHAT_APP_ID is not"),
        (
            {"wechat_app_id": APP_ID, "wechat_app_secret": SECRET, "wechat_token": "a b"},
            "Invalid WECHAT_TOKEN: must be 3-32 letters and digits",
        ),
        (
            {
                "wechat_app_id": APP_ID,
                "wechat_app_secret": SECRET,
                "wechat_token": TOKEN,
                "wechat_encoding_aes_key": "short",
            },
            "Invalid WECHAT_ENCODING_AES_KEY: must be the 43 letters and digits",
        ),
        ({"public_url": "papers.example.org"}, "Invalid PUBLIC_URL: must be an http://"),
    ],
)
def test_wechat_settings_refuse_half_a_setup(
    tmp_path: Path, sqlite_url: str, values: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        make_settings(sqlite_url, tmp_path, **values)
    assert message in str(refused.value)


def test_wechat_is_on_only_with_all_three(tmp_path: Path, sqlite_url: str) -> None:
    assert not make_settings(sqlite_url, tmp_path).wechat_enabled
    on = make_settings(
        sqlite_url, tmp_path, wechat_app_id=APP_ID, wechat_app_secret=SECRET, wechat_token=TOKEN
    )
    assert on.wechat_enabled and on.wechat_api_base_url == "https://api.weixin.qq.com"


def test_console_shows_what_a_wechat_reader_sees(tmp_path: Path) -> None:
    result = run_cli(
        ["console", "--channel", "wechat"],
        tmp_path,
        stdin="最新\n对齐\n1\n帮助\n",
        PUBLIC_URL=PUBLIC,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert "【最新论文解读（共 3 篇）】" in output
    assert "回复 1–3 阅读全文" in output
    assert "【「对齐」的搜索结果" in output
    # `1` picks the first search result, shown as the news card WeChat would show.
    assert "【图文】LIMA: Less Is More for Alignment" in output
    assert f"{PUBLIC}/r/lima-less-is-more-for-alignment" in output
    assert "也可以直接回复：最新、经典" in output


def test_another_process_answers_the_next_message_and_a_retry_there(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Two runtimes on one store, as two replicas behind WeChat's one server URL."""
    with (
        serving(tmp_path / "a", sqlite_url) as first,
        serving(tmp_path / "b", sqlite_url) as second,
    ):
        query = _paged_query(first.core)
        listed = first.client.send(READER, query)
        assert "回复 1–5 阅读全文" in listed.content
        opened = second.client.send(READER, "2")
        assert opened.articles[0]["Title"] == titles_of(first.core, query)[1]
        paged = second.client.send(READER, "下一页")
        assert all(title in paged.content for title in titles_of(first.core, query, 5))
        # The same callback at both: one of them answers it.
        xml = first.client.text(READER, "对齐")
        answers = [first.client.post(xml), second.client.post(xml)]
        assert [answer.is_reply for answer in answers] == [True, False]
        assert answers[1].body == "success"


def test_editor_alerts_go_as_customer_service_messages_with_their_choices(
    served: Served,
) -> None:
    served.api.state.followers.add(READER)
    review = served.core.search.search("Chain-of-Thought", 1).items[0]
    alert = Reply(
        rich(paragraph("新的 arXiv 候选")),
        ((Button("📖 1", action=f"r:{review.id}"),),),
    )

    async def notify() -> None:
        channel = WeChatChannel(served.core, httpx.AsyncClient())
        await channel.start()
        try:
            assert channel.notifier is not None and channel.notifier.channel == "wechat"
            await channel.notifier.send(READER, [alert])
        finally:
            await channel.stop()
        assert channel.notifier is None

    asyncio.run(notify())
    (message,) = served.api.state.customer_messages
    assert message["touser"] == READER
    assert "新的 arXiv 候选" in message["text"]["content"]
    assert "回复 1 阅读全文" in message["text"]["content"]
    # The editor's `1`, answered by the running process, acts on the alert's choice.
    opened = served.client.send(READER, "1")
    assert opened.articles[0]["Title"] == review.title
