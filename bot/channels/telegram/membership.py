"""Membership: readers who block the bot, groups that remove it, groups that migrate."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.ext import Application, ChatMemberHandler, ContextTypes, MessageHandler, filters

from bot.channels.telegram.capabilities import TELEGRAM
from bot.core.subscriptions import SubscriptionService

log = logging.getLogger(__name__)

GONE = {ChatMember.BANNED, ChatMember.LEFT}
PRESENT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER}


class MembershipHandlers:
    def __init__(self, subscriptions: SubscriptionService) -> None:
        self.subscriptions = subscriptions

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handler(
            ChatMemberHandler(self.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self.on_migrate))

    async def on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None:
            return
        chat_id = str(change.chat.id)
        old, new = change.old_chat_member.status, change.new_chat_member.status
        if new in GONE and self.subscriptions.chat_blocked(TELEGRAM, chat_id):
            log.info("chat %s blocked or removed the bot; marked blocked", chat_id)
        elif new in PRESENT and old in GONE and self.subscriptions.chat_returned(TELEGRAM, chat_id):
            log.info("chat %s is back; subscription active again", chat_id)

    async def on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Telegram sends both halves (to the old group and the new supergroup); either moves it."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat_id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat_id
        else:
            return
        if self.subscriptions.chat_migrated(TELEGRAM, str(old), str(new), "supergroup"):
            log.info("group %s became supergroup %s; subscription moved", old, new)
