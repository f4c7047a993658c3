"""/whoami (and /id): who the bot thinks you are, so an editor can put it in ADMIN_IDS.

An editor knows their @username, but the bot matches the numeric id of their channel;
this is the one place a user can read it, with whether they are an editor already.
"""

from __future__ import annotations

from bot.core.conversation import Caller, Command, Registry, Reply
from bot.core.richtext import code, paragraph, rich, text
from bot.core.texts import t


class IdentityFeature:
    def register(self, registry: Registry) -> None:
        registry.add_command(Command("whoami", "cmd_whoami", self.whoami, menu_position=92))
        registry.add_command(Command("id", "cmd_whoami", self.whoami, in_menu=False))

    def whoami(self, caller: Caller, args: str) -> list[Reply]:
        language = caller.language
        address = f"{caller.channel}:{caller.user_id}"
        role = t(language, "whoami_editor" if caller.is_admin else "whoami_reader")
        lines = [
            paragraph(text(t(language, "whoami_address")), code(address)),
            paragraph(role),
        ]
        if caller.chat_id != caller.user_id:
            lines.append(paragraph(text(t(language, "whoami_chat")), code(caller.chat_id)))
        if not caller.is_admin:
            lines.append(paragraph(t(language, "whoami_become_editor", address=address)))
        return [Reply(rich(*lines))]
