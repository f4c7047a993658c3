"""Reading: /start, /help, /latest, /classic, /review, /search and plain-text search."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from bot.core.button_state import ButtonStateStore
from bot.core.chat_lists import ChatListStore
from bot.core.conversation import Caller, Command, Registry, Reply
from bot.core.numbers import parse_count
from bot.core.reviews import ReviewService, ReviewView
from bot.core.richtext import Block, bullet, paragraph, rich
from bot.core.search import SearchService
from bot.core.search.ranker import MAX_RESULTS
from bot.core.texts import t
from bot.core.views import review_card, review_full, review_list

PAGE_SIZE = 5
MAX_LIST = 20
SECTION_TITLES = {"latest": "section_latest", "classic": "section_classic"}


def last_page_offset(total: int, size: int) -> int:
    """Where the last page of `total` items in pages of `size` starts."""
    return max(0, (total - 1) // size * size)


class ReadingFeature:
    def __init__(
        self,
        reviews: ReviewService,
        search: SearchService,
        button_states: ButtonStateStore,
        chat_lists: ChatListStore,
    ) -> None:
        self.reviews = reviews
        #: The numbers each chat was shown, so `/review N` opens what the reader saw.
        self.chat_lists = chat_lists
        self.search_service = search
        # Paging a search needs its query back, and a query does not fit in a button's
        # data; it is kept in the store under a short token, so any process (or this
        # one after a restart) answers the tap until the state expires.
        self.button_states = button_states

    def register(self, registry: Registry) -> None:
        registry.add_command(Command("help", "cmd_help", self.help, menu_position=90))
        registry.add_command(Command("latest", "cmd_latest", self.latest, menu_position=10))
        registry.add_command(Command("classic", "cmd_classic", self.classic, menu_position=11))
        registry.add_command(
            Command("search", "cmd_search", self.search, "arg_search", menu_position=12)
        )
        registry.add_command(
            Command("review", "cmd_review", self.review, "arg_review", menu_position=13)
        )
        registry.text_handler = self.search
        registry.add_action("r", self._read_action)
        registry.add_action("p", self._page_action)
        registry.add_action("s", self._search_page_action)
        self._registry = registry

    # commands

    def help(self, caller: Caller, args: str) -> list[Reply]:
        return [Reply(rich(*self.help_blocks(caller)))]

    def help_blocks(self, caller: Caller) -> list[Block]:
        """The command list, one line per command: list items, which every channel
        shows single-spaced (paragraphs get a blank line between them)."""
        language = caller.language
        lines = [paragraph(t(language, "help_intro"))]
        for command in self._registry.menu(admin=caller.is_admin, lacks=caller.lacks):
            described = command.description(language, caller.lacks)
            lines.append(bullet(f"{command.usage(language)} — {described}"))
        lines.append(paragraph(t(language, "help_search_hint")))
        return lines

    def latest(self, caller: Caller, args: str) -> list[Reply]:
        count = parse_count(args)
        size = PAGE_SIZE if count is None else max(1, min(MAX_LIST, count))
        return [self._section_page(caller, "latest", 0, size)]

    def classic(self, caller: Caller, args: str) -> list[Reply]:
        return [self._section_page(caller, "classic", 0, PAGE_SIZE)]

    def review(self, caller: Caller, args: str) -> list[Reply]:
        reference = args.strip()
        if not reference:
            return [Reply(rich(paragraph(t(caller.language, "review_usage"))))]
        number = parse_count(reference)
        if number is not None:
            return self._review_by_number(caller, number)
        found = self.reviews.find(reference)
        if found is None:
            return [
                Reply(rich(paragraph(t(caller.language, "review_missing", ref=reference[:80]))))
            ]
        shown = self.chat_lists.number_of(caller.channel, caller.chat_id, found.id)
        return [review_full(found, caller.language, shown)]

    def _review_by_number(self, caller: Caller, number: int) -> list[Reply]:
        """Item `number` of the chat's last list, else of /latest (see chat_lists)."""
        found: ReviewView | None = None
        review_id = self.chat_lists.recall(caller.channel, caller.chat_id, number)
        if review_id is not None:
            found = self.reviews.find_by_id(review_id)
        elif number >= 1:
            page = self.reviews.page("latest", 1, number - 1)
            found = page.items[0] if page.items else None
            if found is not None:
                self.chat_lists.remember(
                    caller.channel, caller.chat_id, "latest", number, [found.id]
                )
        if found is None:
            return [Reply(rich(paragraph(t(caller.language, "review_missing_number", n=number))))]
        return [review_full(found, caller.language, number)]

    def search(self, caller: Caller, args: str) -> list[Reply]:
        if not args.strip():
            return [Reply(rich(paragraph(t(caller.language, "empty_search"))))]
        return [self._search_page(caller, args.strip(), 0)]

    def share_cards(
        self, query: str, language: str, limit: int, offset: int = 0, public_url: str = ""
    ) -> tuple[list[tuple[ReviewView, Reply]], int | None]:
        """Review cards for sharing (inline mode): matches, or the newest for no query;
        with `public_url` (PUBLIC_URL) a card's title links to the review's web page.

        Returns the cards and the next offset, or None when there are no more.
        """
        query = query.strip()
        if query:
            found = self.search_service.search(query, limit, offset)
            items, total = found.items, found.total
        else:
            page = self.reviews.page(None, limit, offset)
            items, total = page.items, page.total
        cards = [(review, review_card(review, language, public_url)) for review in items]
        more = offset + len(items) < total
        return cards, (offset + len(items) if more else None)

    # pages

    def _section_page(self, caller: Caller, section: str, offset: int, size: int) -> Reply:
        page = self.reviews.page(section, size, offset)
        if not page.items and offset > 0 and page.total > 0:
            # A forged (or outdated) page button beyond the end: the last page, not
            # an empty list.
            page = self.reviews.page(section, size, last_page_offset(page.total, size))
            offset = page.offset
        language = caller.language
        if page.total == 0:
            return Reply(rich(paragraph(t(language, "list_empty"))))
        title = t(
            language,
            "list_heading",
            section=t(language, SECTION_TITLES[section]),
            total=page.total,
        )
        self._shown(caller, section, offset, page.items)
        return review_list(
            title, page.items, offset, page.total, language, f"p:{section}:{size}", size
        )

    def _shown(
        self, caller: Caller, list_key: str, offset: int, items: tuple[ReviewView, ...]
    ) -> None:
        self.chat_lists.remember(
            caller.channel, caller.chat_id, list_key, offset + 1, [review.id for review in items]
        )

    def _search_page(self, caller: Caller, query: str, offset: int) -> Reply:
        page = self.search_service.search(query, PAGE_SIZE, offset)
        if not page.items and offset > 0:
            # Beyond the last page (a forged button): count the results from the
            # furthest offset the ranker ranks, then show the last page.
            probe = self.search_service.search(query, PAGE_SIZE, MAX_RESULTS - 1)
            if probe.total > 0:
                last = last_page_offset(min(probe.total, MAX_RESULTS), PAGE_SIZE)
                page = self.search_service.search(query, PAGE_SIZE, last)
                offset = page.offset
        shown = query[:60]
        if page.total == 0:
            return Reply(rich(paragraph(t(caller.language, "nothing_found", query=shown))))
        token = self._remember(query)
        self._shown(
            caller, "search:" + hashlib.sha256(query.encode()).hexdigest()[:32], offset, page.items
        )
        title = t(caller.language, "search_results", query=shown, total=page.total)
        return review_list(
            title, page.items, offset, page.total, caller.language, f"s:{token}", PAGE_SIZE
        )

    def _remember(self, query: str) -> str:
        return self.button_states.remember("search", {"query": query})

    def _recall(self, token: str) -> str | None:
        payload = self.button_states.recall(token)
        query = payload.get("query") if payload is not None else None
        return query if isinstance(query, str) else None

    # button actions: return None for anything stale or forged

    def _read_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        if len(arguments) != 1 or parse_count(arguments[0]) is None:
            return None
        found = self.reviews.find(arguments[0])
        if found is None:
            return None
        shown = self.chat_lists.number_of(caller.channel, caller.chat_id, found.id)
        return [review_full(found, caller.language, shown)]

    def _page_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        if len(arguments) != 3 or arguments[0] not in SECTION_TITLES:
            return None
        section = arguments[0]
        size, offset = parse_count(arguments[1], MAX_LIST), parse_count(arguments[2])
        if size is None or size < 1 or offset is None:
            return None
        page = self._section_page(caller, section, offset, size)
        return [replace(page, replaces_origin=True)]

    def _search_page_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        offset = parse_count(arguments[1]) if len(arguments) == 2 else None
        query = self._recall(arguments[0]) if offset is not None else None
        if query is None or offset is None:
            return None
        return [replace(self._search_page(caller, query, offset), replaces_origin=True)]
