"""The conversation core: (caller, text or button) in, replies out; no channel in sight.

Features register their commands and button actions in a `Registry`; every channel
(Telegram, console, later WeChat) routes through `Conversation` and builds its command
menu from the same registry, so the menu can never list a command nobody handles.
"""

from __future__ import annotations

import inspect
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace

from bot.core.addresses import ChatAddress
from bot.core.audit import AuditService
from bot.core.message_writes import one_transaction_in_thread
from bot.core.richtext import RichText, paragraph, rich
from bot.core.texts import t

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(?P<args>.*))?$", re.DOTALL)
_ACTION = re.compile(r"^[a-z]{1,8}(?::[A-Za-z0-9_.\-]{1,40}){0,4}$")

#: A channel ability a feature may need (`Caller.lacks`, `Command.needs`): the push can
#: differ by reader, so choosing topics (or a push format in /settings) means something.
PER_READER_TOPICS = "per_reader_topics"


@dataclass(frozen=True)
class Attachment:
    """A file sent along with a message (an editor's review document)."""

    filename: str
    data: bytes
    #: The size the channel announced or the bytes received; the data is left empty for
    #: a file too large to be worth downloading (or not worth it: a stranger's).
    size: int | None = None

    @property
    def byte_size(self) -> int:
        return self.size if self.size is not None else len(self.data)


@dataclass(frozen=True)
class Caller:
    """Who is talking, as far as the core cares."""

    channel: str
    #: Addresses on the channel, as text (a Telegram id's digits, a WeChat OpenID).
    user_id: str
    chat_id: str
    language: str = "zh"
    chat_type: str = "private"
    #: Set by a channel that authenticates out of band (the console: shell access).
    trusted: bool = False
    #: Set by `Conversation` from ADMIN_IDS (or `trusted`); handlers may read it.
    is_admin: bool = False
    #: In a group: asks the channel whether this user administers the chat. Only
    #: awaited by commands that change the chat's subscription.
    chat_admin_check: Callable[[], Awaitable[bool]] | None = field(default=None, compare=False)
    #: The file that came with this message, if any.
    attachment: Attachment | None = field(default=None, compare=False)
    #: What the caller's channel cannot do (`PER_READER_TOPICS`), as the channel declares
    #: it: a feature that needs it says so instead, and the command list leaves it out.
    lacks: frozenset[str] = frozenset()

    async def can_manage_chat(self) -> bool:
        """Private chats manage themselves; in groups only the group's admins may."""
        if self.chat_type == "private":
            return True
        return self.chat_admin_check is not None and await self.chat_admin_check()


@dataclass(frozen=True)
class Button:
    """A button: either an action the core handles when tapped, or a URL to open."""

    label: str
    action: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.action is None) == (self.url is None):
            raise ValueError("a button has exactly one of action or url")


@dataclass(frozen=True)
class Reply:
    """One message. `replaces_origin`: a button's answer that should replace the message
    the button sits on (paging), where the channel can edit messages."""

    body: RichText
    buttons: tuple[tuple[Button, ...], ...] = ()
    replaces_origin: bool = False
    #: A short answer for whoever tapped a button, not for the whole chat (a refusal in
    #: a group or channel): shown as a popup where the channel can, else as a message.
    notice: bool = False


#: Handlers may be plain functions or coroutines (those that wait on the network).
CommandHandler = Callable[[Caller, str], list[Reply] | Awaitable[list[Reply]]]
ActionHandler = Callable[[Caller, list[str]], list[Reply] | Awaitable[list[Reply] | None] | None]


@dataclass(frozen=True)
class Action:
    handler: ActionHandler
    admin_only: bool = False
    #: A text key to show at once, before a slow handler answers ("fetching…").
    pending_key: str | None = None


@dataclass(frozen=True)
class Command:
    name: str
    description_key: str
    handler: CommandHandler
    argument_key: str | None = None
    in_menu: bool = True
    #: Editors only (ADMIN_IDS): others are told no, and the attempt is audited.
    admin_only: bool = False
    #: Where the command stands in the menu Telegram shows (lower first).
    menu_position: int = 80
    #: A channel ability the command needs (`PER_READER_TOPICS`): not listed for a caller
    #: whose channel lacks it (its handler still answers, saying why).
    needs: str | None = None
    #: The description where the caller's channel lacks an ability (its key, by the
    #: ability): /settings offers no push format where the push is one message for all.
    description_lacking: tuple[tuple[str, str], ...] = ()

    def description(self, language: str, lacks: Collection[str] = ()) -> str:
        for ability, key in self.description_lacking:
            if ability in lacks:
                return t(language, key)
        return t(language, self.description_key)

    def usage(self, language: str) -> str:
        argument = f" {t(language, self.argument_key)}" if self.argument_key else ""
        return f"/{self.name}{argument}"


@dataclass
class Registry:
    """The one table of commands and button actions, filled by each feature's register()."""

    commands: dict[str, Command] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)
    text_handler: CommandHandler | None = None

    def add_command(self, command: Command) -> None:
        if command.name in self.commands:
            raise ValueError(f"command /{command.name} registered twice")
        self.commands[command.name] = command

    def add_action(
        self,
        prefix: str,
        handler: ActionHandler,
        *,
        admin_only: bool = False,
        pending_key: str | None = None,
    ) -> None:
        if prefix in self.actions:
            raise ValueError(f"action {prefix!r} registered twice")
        self.actions[prefix] = Action(handler, admin_only, pending_key)

    def menu(self, *, admin: bool = False, lacks: Collection[str] = ()) -> list[Command]:
        """Commands to list: readers' commands, plus the editors' ones for an admin,
        without those needing what the caller's channel `lacks`."""
        listed = [
            command
            for command in self.commands.values()
            if command.in_menu
            and (admin or not command.admin_only)
            and (command.needs is None or command.needs not in lacks)
        ]
        return sorted(listed, key=lambda command: command.menu_position)


def clean_input(value: str, limit: int = 4096) -> str:
    """Drop control and format characters a client may send; keep emoji and CJK."""
    value = value[:limit]
    if value.isprintable():
        # No character of Cc, Cf, Cs or Co (nor any other non-printable one): nothing to
        # drop. Most messages, and a per-character check was a twentieth of an answer.
        return value.strip()
    kept = (
        ch
        for ch in value
        if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co"}
    )
    return "".join(kept).strip()


#: Audit details stay short: what was asked, never what was written.
AUDIT_DETAIL = 120
_AUDIT_ARGUMENT = 40


def audit_detail(args: str, attachment: Attachment | None, *, allowed: bool) -> str:
    """An audited command's arguments, briefly and without message bodies.

    An editor's short first line (an id, a date) is kept; pasted text and documents are
    described by their size only, and a refused attempt keeps nothing but sizes: a
    stranger's text is theirs, not the audit log's.
    """
    first, _, rest = args.partition("\n")
    parts = []
    if allowed and first and len(first) <= _AUDIT_ARGUMENT and not first.startswith(("---", "#")):
        parts.append(first)
        pasted = rest.strip()
    else:
        pasted = args
    if pasted:
        parts.append(f"text, {len(pasted)} characters")
    if attachment is not None:
        known = attachment.size is not None or attachment.data
        parts.append(f"document, {attachment.byte_size} bytes" if known else "document")
    return "; ".join(parts) or "no arguments"


async def _resolve(result: object) -> object:
    return await result if inspect.isawaitable(result) else result


class Conversation:
    """Routes text and button taps to the registered handlers, enforcing admin rights."""

    def __init__(
        self,
        registry: Registry,
        audit: AuditService,
        admin_ids: Collection[ChatAddress] = (),
        language_preference: Callable[[str, str], str | None] | None = None,
        max_action_bytes: int | None = None,
    ) -> None:
        self.registry = registry
        self.audit = audit
        self.admin_ids = frozenset(admin_ids)
        self.language_preference = language_preference
        #: The strictest button data limit of the channels in use (None: no limit);
        #: a reply whose button exceeds it is a bug, caught before any channel sees it.
        self.max_action_bytes = max_action_bytes

    def identify(self, caller: Caller) -> Caller:
        """Who the caller is to us: editor or not, and the language the chat chose."""
        chosen = None
        if self.language_preference is not None:
            chosen = self.language_preference(caller.channel, caller.chat_id)
        is_admin = caller.trusted or ChatAddress(caller.channel, caller.user_id) in self.admin_ids
        language = chosen or caller.language
        if is_admin == caller.is_admin and language == caller.language:
            # Most callers: a reader in the language their client reports. `replace`
            # (it walks the fields) was a tenth of answering a remembered search.
            return caller
        return replace(caller, is_admin=is_admin, language=language)

    async def handle_text(self, caller: Caller, text: str) -> list[Reply]:
        """A message's answer; what answering it writes is one transaction, committed
        before the replies are returned (see `message_writes`), off the event loop and
        with the writes of the other messages answered meanwhile."""
        async with one_transaction_in_thread():
            return await self._handle_text(caller, text)

    async def _handle_text(self, caller: Caller, text: str) -> list[Reply]:
        caller = self.identify(caller)
        text = clean_input(text)
        if not text:
            return []
        match = _COMMAND.match(text)
        if match is None:
            if self.registry.text_handler is None:
                return []
            return await self._call(self.registry.text_handler, caller, text)
        name = match.group("name").lower()
        command = self.registry.commands.get(name)
        if command is None:
            return [Reply(rich(paragraph(t(caller.language, "unknown_command", name=name))))]
        args = (match.group("args") or "").strip()
        if command.admin_only and not self._admitted(
            caller, f"/{name}", audit_detail(args, caller.attachment, allowed=caller.is_admin)
        ):
            return [self.not_allowed(caller)]
        return await self._call(command.handler, caller, args)

    async def handle_action(self, caller: Caller, data: str) -> list[Reply]:
        """A tapped button. Forged, stale or unknown data gets a polite answer. Its
        writes are one transaction, like a message's."""
        async with one_transaction_in_thread():
            return await self._handle_action(caller, data)

    async def _handle_action(self, caller: Caller, data: str) -> list[Reply]:
        caller = self.identify(caller)
        if not _ACTION.match(data or ""):
            log.info("refused malformed action data %r from %s", data, caller.user_id)
            return [self.stale(caller)]
        prefix, *arguments = data.split(":")
        action = self.registry.actions.get(prefix)
        if action is None:
            return [self.stale(caller)]
        if action.admin_only and not self._admitted(caller, f"button {prefix}", data):
            return [self.not_allowed(caller)]
        replies = await _resolve(action.handler(caller, arguments))
        if replies is None:
            return [self.stale(caller)]
        assert isinstance(replies, list)
        return self._checked(replies)

    def pending_notice(self, caller: Caller, data: str) -> str | None:
        """What to show at once for a tap whose answer takes a while (an action that
        waits on the network), so the tapper knows it was heard; None for the rest."""
        prefix = (data or "").split(":", 1)[0]
        action = self.registry.actions.get(prefix) if _ACTION.match(data or "") else None
        if action is None or action.pending_key is None:
            return None
        caller = self.identify(caller)
        if action.admin_only and not caller.is_admin:
            return None
        return t(caller.language, action.pending_key)

    async def _call(self, handler: CommandHandler, caller: Caller, args: str) -> list[Reply]:
        replies = await _resolve(handler(caller, args))
        assert isinstance(replies, list)
        return self._checked(replies)

    def _checked(self, replies: list[Reply]) -> list[Reply]:
        limit = self.max_action_bytes
        if limit is None:
            return replies
        for reply in replies:
            for row in reply.buttons:
                for button in row:
                    if button.action is not None and len(button.action.encode()) > limit:
                        raise ValueError(f"button action {button.action!r} exceeds {limit} bytes")
        return replies

    def _admitted(self, caller: Caller, action: str, detail: str) -> bool:
        allowed = caller.is_admin
        self.audit.record(
            caller.channel, caller.user_id, action, allowed=allowed, detail=detail[:AUDIT_DETAIL]
        )
        if not allowed:
            log.warning("refused %s to non-admin %s", action, caller.user_id)
        return allowed

    @staticmethod
    def not_allowed(caller: Caller) -> Reply:
        """The refusal says how to become an editor: the address ADMIN_IDS would need."""
        address = f"{caller.channel}:{caller.user_id}"
        return Reply(rich(paragraph(t(caller.language, "not_allowed", address=address))))

    @staticmethod
    def stale(caller: Caller) -> Reply:
        return Reply(rich(paragraph(t(caller.language, "stale_button"))))
