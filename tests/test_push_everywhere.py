"""The one push use case (`scheduler.push.run_everywhere`) over a channel that delivers
to each reader (Telegram, the fake Bot API) and a channel that broadcasts (WeChat's mass
send, the fake WeChat API), both over real HTTP on a real store: one summary holding
both, told once to each editor on the editor's own channel; a quota (45009) fails the
broadcast, not the push, and the editors read why; WeChat busy past the retries leaves
the broadcast to the next push, which sends it once with the same clientmsgid; a failed
broadcast is planned again under a new key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.app import Core, build_core
from bot.channels.telegram.app import build_push_bot
from bot.channels.telegram.bridge import TelegramNotifier
from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES
from bot.channels.telegram.sender import TelegramSender
from bot.channels.wechat.broadcast import broadcaster_for
from bot.channels.wechat.channel import WeChatNotifier
from bot.channels.wechat.readers import WeChatReaders
from bot.core.addresses import ChatAddress
from bot.core.broadcasts import BroadcastService
from bot.core.editorial import PUBLISH_TRIGGER
from bot.core.notify import combine
from bot.core.push import ChannelPush, PushSummary
from bot.core.shared_credentials import SharedCredentials
from scheduler.push import PushChannels, run_everywhere
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.fake_wechat import FakeWeChatServer
from tests.test_push import LONG_AGO, push_settings, queue_now, received, subscribe

EDITOR_TG = 9000
EDITOR_WX = "oEDITOR"
READERS = range(7100, 7105)


@dataclass
class Both:
    core: Core
    telegram: FakeTelegramServer
    wechat: FakeWeChatServer
    http: httpx.AsyncClient

    async def push(self, trigger: str = "test", retry_delays: Sequence[float] = ()) -> PushSummary:
        core = self.core
        bot = build_push_bot(core.settings)
        async with bot:
            credentials = SharedCredentials(core.sessions)
            api = self.wechat.client(self.http, credentials)
            readers = WeChatReaders(core, "wechat", core.settings.public_url)
            return await run_everywhere(
                core.push,
                BroadcastService(core.sessions, core.reviews.published_by_ids),
                PushChannels(
                    [ChannelPush(TelegramSender(bot), TELEGRAM_CAPABILITIES.send_limits)],
                    [broadcaster_for(core, api)],
                ),
                core.job_state,
                combine([TelegramNotifier(bot), WeChatNotifier(readers, api)]),
                core.settings.admin_ids,
                trigger,
                broadcast_retry_delays=retry_delays,
            )

    def telegram_editor(self) -> list[str]:
        return [m.text for m in self.telegram.sent_messages() if m.chat_id == EDITOR_TG]

    def wechat_editor(self) -> list[str]:
        messages = self.wechat.state.customer_messages
        return [str(m["text"]["content"]) for m in messages if m["touser"] == EDITOR_WX]


@pytest.fixture
def servers() -> Iterator[tuple[FakeTelegramServer, FakeWeChatServer]]:
    with FakeTelegramServer() as telegram, FakeWeChatServer("wxapp", "s3cret") as wechat:
        wechat.state.followers.update({EDITOR_WX, "oREADER"})
        yield telegram, wechat


@pytest.fixture
async def both(
    database_url: str,
    tmp_path: Path,
    servers: tuple[FakeTelegramServer, FakeWeChatServer],
    http: httpx.AsyncClient,
) -> AsyncIterator[Both]:
    telegram, wechat = servers
    settings = push_settings(
        database_url,
        tmp_path,
        telegram,
        admin_ids=[ChatAddress("telegram", str(EDITOR_TG)), ChatAddress("wechat", EDITOR_WX)],
        wechat_app_id="wxapp",
        wechat_app_secret="s3cret",
        wechat_token="spamtest",
        wechat_api_base_url=wechat.base_url,
        wechat_push="mass",
    )
    core = build_core(settings, seed=False)
    for chat_id in READERS:
        subscribe(core, chat_id, when=LONG_AGO)
    queue_now(core)
    yield Both(core, telegram, wechat, http)
    core.close()


async def test_one_push_delivers_broadcasts_and_tells_each_editor_once(both: Both) -> None:
    summary = await both.push()
    assert summary.deliveries_sent == len(READERS)
    readers = received(both.telegram)
    readers.pop(EDITOR_TG, None)
    assert readers == dict.fromkeys(READERS, 1)
    (result,) = summary.broadcasts
    assert (result.channel, result.status, len(result.review_ids)) == ("wechat", "sent", 1)
    assert len(both.wechat.state.mass_jobs) == 1
    assert "wechat broadcast #1: sent, 1 reviews" in summary.describe()
    (on_telegram,) = both.telegram_editor()
    (on_wechat,) = both.wechat_editor()
    for text in (on_telegram, on_wechat):
        assert f"送达 {len(READERS)} 份" in text and "wechat 群发 #1：1 篇已发出" in text, text

    again = await both.push()
    assert again.deliveries_sent == 0 and again.broadcasts[0].status == "nothing"
    assert len(both.wechat.state.mass_jobs) == 1


async def test_a_publish_delivers_and_leaves_the_broadcast_to_the_weekly_push(
    both: Both,
) -> None:
    """A mass send is rationed (one a day, four a month): a publish between pushes must
    not spend it; the weekly push that follows carries the review."""
    published = await both.push(trigger=PUBLISH_TRIGGER)
    assert published.deliveries_sent == len(READERS)
    assert published.broadcasts == []
    assert both.wechat.state.mass_jobs == {} and both.wechat.state.drafts == {}
    weekly = await both.push(trigger="schedule")
    assert weekly.broadcasts[0].status == "sent"
    assert len(both.wechat.state.mass_jobs) == 1


async def test_a_quota_fails_the_broadcast_not_the_push_and_the_editors_read_why(
    both: Both,
) -> None:
    both.wechat.inject("message/mass/sendall", errcode=45009)
    summary = await both.push()
    assert summary.deliveries_sent == len(READERS)  # the deliveries went on
    (result,) = summary.broadcasts
    assert result.status == "failed" and result.error is not None and "45009" in result.error
    assert both.wechat.state.mass_jobs == {}
    for text in (*both.telegram_editor(), *both.wechat_editor()):
        assert "wechat 群发失败" in text and "45009" in text, text
    assert len(both.telegram_editor()) == len(both.wechat_editor()) == 1

    # The next push plans the same review again under a new key, and sends it.
    retried = await both.push()
    assert retried.broadcasts[0].status == "sent"
    (clientmsgid,) = both.wechat.state.mass_jobs
    assert clientmsgid.endswith("-2"), clientmsgid
    assert len(both.wechat.state.drafts) == 2


async def test_busy_past_the_retries_leaves_the_broadcast_to_the_next_push(
    both: Both,
) -> None:
    # -1 is retried with backoff (the fake client: 3 attempts, no wait); busy at every
    # attempt, the send may or may not have happened: the row stays to be resumed.
    both.wechat.inject("message/mass/sendall", errcode=-1, times=3)
    summary = await both.push()
    (result,) = summary.broadcasts
    assert result.status == "waiting", result
    assert len(both.wechat.calls_to("message/mass/sendall")) == 3
    assert both.wechat.state.mass_jobs == {}
    assert any("下次推送继续" in text for text in both.wechat_editor())

    resumed = await both.push()
    assert resumed.broadcasts[0].status == "sent"
    assert len(both.wechat.state.mass_jobs) == 1
    assert len(both.wechat.state.drafts) == 1  # the stored draft, the same key
    (row,) = BroadcastService(both.core.sessions).recent("wechat")
    assert row.push_key in both.wechat.state.mass_jobs


async def test_the_running_bots_push_tries_a_busy_broadcast_again_within_the_push(
    both: Both,
) -> None:
    # Busy past the client's retries once; the push's own retry (after a wait) sends it.
    both.wechat.inject("message/mass/sendall", errcode=-1, times=3)
    summary = await both.push(retry_delays=(0.01, 0.01))
    (result,) = summary.broadcasts
    assert result.status == "sent", result
    assert len(both.wechat.calls_to("message/mass/sendall")) == 4
    assert len(both.wechat.state.mass_jobs) == 1 and len(both.wechat.state.drafts) == 1
    assert len(both.wechat_editor()) == 1  # one summary, after the retry


async def test_a_busy_cover_upload_is_retried(both: Both) -> None:
    both.wechat.inject("material/add_material", errcode=-1)
    summary = await both.push()
    assert summary.broadcasts[0].status == "sent"
    assert len(both.wechat.calls_to("material/add_material")) == 2  # injected, then done


async def test_a_push_with_nothing_to_go_through_is_refused(core: Core) -> None:
    with pytest.raises(RuntimeError, match="no channel can send"):
        await run_everywhere(
            core.push,
            BroadcastService(core.sessions, core.reviews.published_by_ids),
            PushChannels(),
            core.job_state,
            None,
            [],
        )
