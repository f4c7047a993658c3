"""The fake Bot API delivers updates to a webhook as Telegram does: with the secret header,
a chat's next update only after a 2xx for its previous one, chats in parallel up to
max_connections, failures retried with backoff and reported by getWebhookInfo."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import telegram
from starlette.responses import JSONResponse, Response

from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.fake_telegram.webhook import retry_delay
from tests.support.network import free_port
from tests.support.webhook_receiver import WebhookReceiver

TOKEN = "123:HOOK"
PUBLIC_URL = "https://bot.example.org/hook"
SECRET = "hook_Secret-1"
Update = dict[str, Any]
BASE = 0.05  # the fake's first retry delay in these tests, in seconds


@pytest.fixture
def fake() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer(
        webhook_timeout=1.0, webhook_retry_base=BASE, webhook_retry_cap=0.2
    ) as server:
        yield server


def api(fake: FakeTelegramServer, method: str, **params: Any) -> httpx.Response:
    return httpx.post(f"{fake.base_url}{TOKEN}/{method}", json=params, timeout=10)


def set_webhook(fake: FakeTelegramServer, **params: Any) -> None:
    answer = api(fake, "setWebhook", url=PUBLIC_URL, secret_token=SECRET, **params)
    assert answer.json() == {"ok": True, "result": True}, answer.text


def webhook_info(fake: FakeTelegramServer) -> dict[str, Any]:
    result: dict[str, Any] = api(fake, "getWebhookInfo").json()["result"]
    return result


def push_texts(fake: FakeTelegramServer, chat_ids: list[int], count: int) -> list[int]:
    """`count` messages from each chat, interleaved; returns their update ids in order."""
    ids = []
    for n in range(count):
        for chat_id in chat_ids:
            update = fake.push_update(message_update(make_user(chat_id, f"U{chat_id}"), f"m{n}"))
            ids.append(int(update["update_id"]))
    return ids


def test_updates_go_with_the_secret_one_at_a_time_per_chat_chats_in_parallel(
    fake: FakeTelegramServer,
) -> None:
    async def hold_until_two_chats(
        update: dict[str, Any], seen: int, rx: WebhookReceiver
    ) -> Response:
        # A chat's first update is held until another chat's is in flight too: it is
        # answered 2xx only if the fake sends different chats in parallel.
        if update["message"]["text"] == "m0" and not await rx.await_in_flight(2, timeout=5):
            return JSONResponse({}, status_code=500)
        await asyncio.sleep(0.02)
        return JSONResponse({})

    with WebhookReceiver(hold_until_two_chats) as receiver:
        set_webhook(fake)
        ids = push_texts(fake, [1, 2], 3)
        fake.deliver_webhook_to(receiver.url)
        fake.wait_for_webhook_idle()
    received = receiver.received
    assert sorted(r.update_id for r in received) == sorted(ids)
    assert all(r.status == 200 for r in received), received
    assert {r.secret for r in received} == {SECRET}
    assert receiver.overlapping_chats == set()
    assert receiver.peak_in_flight == 2
    for chat_id in (1, 2):
        of_chat = [r for r in received if r.chat_id == chat_id]
        assert [r.update_id for r in sorted(of_chat, key=lambda r: r.started)] == sorted(
            r.update_id for r in of_chat
        )
    assert webhook_info(fake)["pending_update_count"] == 0
    assert "last_error_date" not in webhook_info(fake)


def test_a_failed_update_is_retried_with_growing_delays_and_holds_its_chat_back(
    fake: FakeTelegramServer,
) -> None:
    infos: list[dict[str, Any]] = []

    async def fail_first_three(update: dict[str, Any], seen: int, rx: WebhookReceiver) -> Response:
        if update["message"]["text"] == "m0" and seen < 3:
            return JSONResponse({"error": "down"}, status_code=500)
        return JSONResponse({})

    with WebhookReceiver(fail_first_three) as receiver:
        set_webhook(fake)
        first, second = push_texts(fake, [7], 2)
        fake.deliver_webhook_to(receiver.url)
        fake.wait_for_webhook_attempts(1)
        infos.append(webhook_info(fake))
        fake.wait_for_webhook_idle()
    attempts = fake.webhook_attempts
    assert [(a.update_id, a.status) for a in attempts] == [
        (first, 500),
        (first, 500),
        (first, 500),
        (first, 200),
        (second, 200),
    ]
    # Exponential backoff: each wait at least BASE·2^(n-1) (capped at 0.2 s by the fixture).
    gaps = [later.started - earlier.finished for earlier, later in itertools.pairwise(attempts[:3])]
    assert gaps[0] >= BASE and gaps[1] >= 2 * BASE, gaps
    # The chat's second update waited for the first one's 2xx.
    assert attempts[4].started >= attempts[3].finished
    assert infos[0]["pending_update_count"] == 2
    assert infos[0]["last_error_message"] == (
        "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert abs(infos[0]["last_error_date"] - time.time()) < 60
    info = webhook_info(fake)
    assert info["pending_update_count"] == 0
    assert info["url"] == PUBLIC_URL and info["max_connections"] == 40
    assert receiver.overlapping_chats == set()


def test_a_timeout_and_a_refused_connection_are_retried_too(fake: FakeTelegramServer) -> None:
    async def slow_first(update: dict[str, Any], seen: int, rx: WebhookReceiver) -> Response:
        if seen == 0:
            await asyncio.sleep(fake.webhook_timeout + 0.5)
        return JSONResponse({})

    receiver = WebhookReceiver(slow_first)
    refused = free_port()
    while refused == receiver.port:
        refused = free_port()
    set_webhook(fake)
    (update_id,) = push_texts(fake, [9], 1)
    fake.deliver_webhook_to(f"http://127.0.0.1:{refused}/hook")  # nobody listens there
    fake.wait_for_webhook_attempts(2)
    info = webhook_info(fake)
    assert info["last_error_message"] == "Connection refused"
    assert info["pending_update_count"] == 1
    with receiver:
        fake.deliver_webhook_to(receiver.url)
        fake.wait_for_webhook_idle()
        errors = [a.error for a in fake.webhook_attempts]
    assert errors[-2:] == ["Read timeout expired", None]
    assert set(errors[:-2]) == {"Connection refused"}
    assert {a.update_id for a in fake.webhook_attempts} == {update_id}
    assert webhook_info(fake)["pending_update_count"] == 0
    assert receiver.received[-1].status == 200


def test_max_connections_bounds_the_parallel_posts(fake: FakeTelegramServer) -> None:
    async def hold(update: dict[str, Any], seen: int, rx: WebhookReceiver) -> Response:
        await rx.await_in_flight(3, timeout=0.3)  # would reach 3 if the fake allowed it
        return JSONResponse({})

    with WebhookReceiver(hold) as receiver:
        set_webhook(fake, max_connections=2)
        assert webhook_info(fake)["max_connections"] == 2
        push_texts(fake, [11, 12, 13, 14, 15], 1)
        fake.deliver_webhook_to(receiver.url)
        fake.wait_for_webhook_idle()
    assert len(receiver.received) == 5
    assert receiver.peak_in_flight == 2


def test_get_updates_conflicts_while_a_webhook_is_set(fake: FakeTelegramServer) -> None:
    set_webhook(fake)
    ids = push_texts(fake, [21], 2)  # no delivery target: they stay queued
    conflict = api(fake, "getUpdates")
    assert conflict.status_code == 409
    assert conflict.json() == {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    }
    assert webhook_info(fake)["pending_update_count"] == 2
    assert api(fake, "deleteWebhook").json()["result"] is True
    polled = api(fake, "getUpdates").json()["result"]
    assert [u["update_id"] for u in polled] == ids  # nothing was lost


def test_a_wrong_secret_answer_is_a_failure_and_the_update_stays_queued(
    fake: FakeTelegramServer,
) -> None:
    async def check_secret(update: dict[str, Any], seen: int, rx: WebhookReceiver) -> Response:
        return JSONResponse({}, status_code=403 if seen == 0 else 200)

    with WebhookReceiver(check_secret) as receiver:
        set_webhook(fake)
        push_texts(fake, [31], 1)
        fake.deliver_webhook_to(receiver.url)
        fake.wait_for_webhook_idle()
    assert [r.status for r in receiver.received] == [403, 200]
    assert (
        webhook_info(fake)["last_error_message"] == "Wrong response from the webhook: 403 Forbidden"
    )


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [retry_delay(n, 1.0, 5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_python_telegram_bot_reads_the_webhook_info_of_a_failing_webhook(
    fake: FakeTelegramServer,
) -> None:
    async def refuse(update: Update, seen: int, rx: WebhookReceiver) -> Response:
        return JSONResponse({}, status_code=502)

    async def read_info() -> telegram.WebhookInfo:
        async with telegram.Bot(TOKEN, base_url=fake.base_url) as bot:
            return await bot.get_webhook_info()

    with WebhookReceiver(refuse) as receiver:
        set_webhook(fake, max_connections=7)
        push_texts(fake, [41], 2)
        fake.deliver_webhook_to(receiver.url)
        fake.wait_for_webhook_attempts(2)
        info = asyncio.run(read_info())
        fake.deliver_webhook_to()
    assert info.url == PUBLIC_URL and info.max_connections == 7
    assert info.pending_update_count == 2  # the second waits behind the first
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    assert info.last_error_date is not None and info.last_error_date.tzinfo is not None
    assert {r.update_id for r in receiver.received} == {fake.webhook_attempts[0].update_id}
