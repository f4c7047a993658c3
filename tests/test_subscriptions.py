"""Subscriptions through the conversation core, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.app import Core
from bot.core.conversation import Caller, Reply
from bot.core.features.subscription import topic_token

READER = Caller(channel="telegram", user_id="501", chat_id="501", language="zh")


def group_member(is_admin: bool, chat_id: str = "-100500") -> Caller:
    async def check() -> bool:
        return is_admin

    return Caller(
        channel="telegram",
        user_id="777",
        chat_id=chat_id,
        chat_type="group",
        chat_admin_check=check,
    )


def texts(replies: list[Reply]) -> str:
    return "\n".join(reply.body.plain_text for reply in replies)


async def say(core: Core, caller: Caller, text: str) -> str:
    return texts(await core.conversation.handle_text(caller, text))


async def test_start_subscribes_once(seeded_core: Core) -> None:
    first = await say(seeded_core, READER, "/start")
    assert "订阅成功" in first and "/latest" in first
    again = await say(seeded_core, READER, "/subscribe")
    assert "你已经订阅了" in again
    subscriber = seeded_core.subscriptions.get("telegram", "501")
    assert subscriber is not None and subscriber.status == "active"
    assert seeded_core.subscriptions.counts_by_status() == {"active": 1}


async def test_deep_link_opens_the_review(seeded_core: Core) -> None:
    output = await say(seeded_core, READER, "/start r_attention-is-all-you-need")
    assert "Attention Is All You Need" in output and "革命性贡献" in output
    assert seeded_core.subscriptions.get("telegram", "501") is not None


async def test_unsubscribe_and_come_back(seeded_core: Core) -> None:
    assert "你目前没有订阅" in await say(seeded_core, READER, "/unsubscribe")
    await say(seeded_core, READER, "/subscribe")
    assert "已退订" in await say(seeded_core, READER, "/unsubscribe")
    view = seeded_core.subscriptions.get("telegram", "501")
    assert view is not None and view.status == "unsubscribed"
    assert "欢迎回来" in await say(seeded_core, READER, "/subscribe")


async def test_topics_toggle_with_buttons(seeded_core: Core) -> None:
    await say(seeded_core, READER, "/subscribe")
    [menu] = await seeded_core.conversation.handle_text(READER, "/topics")
    labels = [button.label for row in menu.buttons for button in row]
    assert "▫️ 对齐" in labels and "全部主题" in labels
    assert all(len((b.action or "").encode()) <= 64 for row in menu.buttons for b in row)
    [after] = await seeded_core.conversation.handle_action(READER, f"tp:{topic_token('对齐')}")
    assert after.replaces_origin
    assert "当前：对齐" in after.body.plain_text
    view = seeded_core.subscriptions.get("telegram", "501")
    assert view is not None and view.topics == ("对齐",)
    await seeded_core.conversation.handle_action(READER, "tp:all")
    view = seeded_core.subscriptions.get("telegram", "501")
    assert view is not None and view.topics == ()


async def test_unknown_topic_token_is_stale(seeded_core: Core) -> None:
    [reply] = await seeded_core.conversation.handle_action(READER, "tp:00000000")
    assert "按钮已失效" in reply.body.plain_text


async def test_settings_switch_language_and_format(seeded_core: Core) -> None:
    await say(seeded_core, READER, "/subscribe")
    assert "推送格式：摘要" in await say(seeded_core, READER, "/settings")
    [english] = await seeded_core.conversation.handle_action(READER, "set:lang:en")
    assert "Language: English" in english.body.plain_text
    # The chosen language now wins over the Telegram client's language.
    assert "Latest reviews" in await say(seeded_core, READER, "/latest")
    [full] = await seeded_core.conversation.handle_action(READER, "set:fmt:full")
    assert "Push format: full text" in full.body.plain_text
    view = seeded_core.subscriptions.get("telegram", "501")
    assert view is not None and (view.language, view.push_format) == ("en", "full")
    [forged] = await seeded_core.conversation.handle_action(READER, "set:lang:fr")
    assert "expired" in forged.body.plain_text


async def test_only_group_admins_change_a_group(seeded_core: Core) -> None:
    member, admin = group_member(False), group_member(True)
    for command in ("/subscribe", "/unsubscribe", "/topics", "/settings"):
        assert "只有群管理员" in await say(seeded_core, member, command)
    assert seeded_core.subscriptions.get("telegram", "-100500") is None
    [reply] = await seeded_core.conversation.handle_action(member, "set:fmt:full")
    assert "只有群管理员" in reply.body.plain_text
    assert "订阅成功" in await say(seeded_core, admin, "/subscribe")
    view = seeded_core.subscriptions.get("telegram", "-100500")
    assert view is not None and view.chat_type == "group"
    assert "本群已订阅" in await say(seeded_core, member, "/start")


async def test_blocking_and_returning(seeded_core: Core) -> None:
    service = seeded_core.subscriptions
    await say(seeded_core, READER, "/subscribe")
    assert service.chat_blocked("telegram", "501")
    view = service.get("telegram", "501")
    assert view is not None and view.status == "blocked"
    assert service.chat_returned("telegram", "501")
    view = service.get("telegram", "501")
    assert view is not None and view.status == "active"


async def test_a_reader_who_unsubscribed_is_not_resubscribed_by_unblocking(
    seeded_core: Core,
) -> None:
    service = seeded_core.subscriptions
    await say(seeded_core, READER, "/subscribe")
    await say(seeded_core, READER, "/unsubscribe")
    assert not service.chat_blocked("telegram", "501")
    assert not service.chat_returned("telegram", "501")
    view = service.get("telegram", "501")
    assert view is not None and view.status == "unsubscribed"


async def test_group_keeps_its_subscription_when_migrated(seeded_core: Core) -> None:
    service = seeded_core.subscriptions
    await say(seeded_core, group_member(True, "-4001"), "/subscribe")
    service.update_preferences("telegram", "-4001", topics=["对齐"], chat_type="group")
    assert service.chat_migrated("telegram", "-4001", "-1004001", "supergroup")
    assert service.get("telegram", "-4001") is None
    moved = service.get("telegram", "-1004001")
    assert moved is not None and moved.status == "active" and moved.topics == ("对齐",)
    assert moved.chat_type == "supergroup"
    # Telegram sends the migration to both chats; the second half changes nothing.
    assert not service.chat_migrated("telegram", "-4001", "-1004001", "supergroup")


async def test_about_counts_reviews(seeded_core: Core) -> None:
    output = await say(seeded_core, READER, "/about")
    assert "目前共有 5 篇解读" in output
