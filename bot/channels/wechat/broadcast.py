"""The WeChat channel's side of a broadcast push (`bot.core.broadcasts`): the week's
reviews as one draft (`draft/add`, one article each), a preview to each editor, then one
`message/mass/sendall` to all followers (or a tag) with the core's push key as
`clientmsgid`, so WeChat itself refuses a second send of the same push (45065 answers
the first job's msg_id, taken as success).

The cover (`thumb_media_id`) is uploaded once as permanent material and its media id
remembered in the store (`SharedCredentials`), re-uploaded when WeChat calls it invalid
(40007). WeChat's refusals become `BroadcastError`s with what the operator must do: a
quota (45009), no permission (48001) or an address off the whitelist (40164) fail the
broadcast; WeChat busy (-1) or out of reach, once the API client's retries with backoff
are spent, leave it to the next push (`retry_later`: a sendall whose answer was lost
may have happened, and resuming with the same `clientmsgid` cannot send it twice).

The channel declares it as its `broadcaster` when WECHAT_PUSH=mass, so the push (the
CLI's and the running bot's) runs it beside the other channels' deliveries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.channels.wechat.api import (
    BUSY_CODES,
    CHANNEL,
    WeChatApi,
    WeChatApiError,
    WeChatPermissionError,
    WeChatQuotaError,
    refusal_message,
)
from bot.channels.wechat.article import article_content, article_lead
from bot.core.broadcasts import BroadcastError
from bot.core.shared_credentials import SharedCredentials
from bot.db.models import utcnow

if TYPE_CHECKING:
    from bot.app import Core

log = logging.getLogger(__name__)

COVER_NAME = "mass_cover_media_id"
#: Permanent material does not expire; the row is only a cache of its id.
COVER_KEEP = dt.timedelta(days=3650)
INVALID_MEDIA = 40007
MAX_DIGEST_CHARS = 120


def explain(exc: WeChatApiError) -> str:
    """What the editors and the operator are told about a refused broadcast: the mass
    send's own refusals here, the rest as for any other call (`refusal_message`)."""
    if isinstance(exc, WeChatQuotaError):
        return f"WeChat quota reached (45009) at {exc.method}: the broadcast stops until tomorrow"
    if isinstance(exc, WeChatPermissionError):
        return (
            "WeChat refused mass sending (48001): the account is not verified or may not "
            "mass-send; set WECHAT_PUSH=off or verify the account"
        )
    return refusal_message(exc)


def refused(exc: WeChatApiError) -> BroadcastError:
    """The broadcast's error for a refusal: final, or worth resuming (busy, unreachable,
    an answer that is not WeChat's: the call may have been carried out)."""
    transient = exc.errcode in BUSY_CODES or exc.errcode < 0
    return BroadcastError(explain(exc), retry_later=transient)


#: Articles in one WeChat mass message (draft/add takes at most 8).
MAX_ARTICLES = 8


class WeChatBroadcaster:
    channel = CHANNEL
    max_items: int | None = MAX_ARTICLES

    def __init__(
        self,
        api: WeChatApi,
        credentials: SharedCredentials,
        cover: Callable[[], bytes],
        *,
        editors: Sequence[str] = (),
        tag_id: int | None = None,
        public_url: str = "",
    ) -> None:
        self._api = api
        self._credentials = credentials
        self._cover = cover
        self._editors = list(editors)
        self._tag_id = tag_id
        self._public_url = public_url.rstrip("/")

    async def _cover_id(self, *, fresh: bool = False) -> str:
        if not fresh:
            cached = await asyncio.to_thread(self._credentials.get, CHANNEL, COVER_NAME)
            if cached is not None:
                return cached.value
        media_id = await self._api.upload_image(self._cover(), "cover.jpg")
        await asyncio.to_thread(
            self._credentials.put, CHANNEL, COVER_NAME, media_id, utcnow() + COVER_KEEP
        )
        log.info("WeChat: broadcast cover uploaded as %s", media_id)
        return media_id

    def article(self, review: Any, thumb: str, language: str = "zh") -> dict[str, Any]:
        """One review as a draft article: the paper's authors, date and arXiv id, then its
        body rendered as on its web page, narrowed to WeChat's article HTML
        (`article_content`); the page itself as 阅读原文."""
        content = article_content(
            str(review.body or ""),
            language,
            on_web=bool(self._public_url),
            lead=article_lead(review, language),
        )
        article: dict[str, Any] = {
            "title": str(review.title)[:64],
            "author": "paperbot",
            "digest": str(review.summary or "")[:MAX_DIGEST_CHARS],
            "content": content,
            "thumb_media_id": thumb,
            "need_open_comment": 0,
        }
        if self._public_url:
            article["content_source_url"] = f"{self._public_url}/r/{review.slug}"
        return article

    def _articles(self, reviews: Sequence[Any], thumb: str, language: str) -> list[dict[str, Any]]:
        return [self.article(review, thumb, language) for review in reviews[:MAX_ARTICLES]]

    async def create_draft(self, push_key: str, reviews: Sequence[Any], language: str) -> str:
        try:
            thumb = await self._cover_id()
            try:
                return await self._api.add_draft(self._articles(reviews, thumb, language))
            except WeChatApiError as exc:
                if exc.errcode != INVALID_MEDIA:
                    raise
            thumb = await self._cover_id(fresh=True)
            return await self._api.add_draft(self._articles(reviews, thumb, language))
        except WeChatApiError as exc:
            raise refused(exc) from exc

    async def preview(self, draft_id: str) -> None:
        for openid in self._editors:
            try:
                await self._api.mass_preview(openid, draft_id)
            except WeChatApiError as exc:
                log.warning("WeChat preview to %s not sent: %s", openid, exc)

    async def send(self, draft_id: str, push_key: str) -> str:
        try:
            sent = await self._api.mass_send_all(draft_id, push_key, self._tag_id)
        except WeChatApiError as exc:
            raise refused(exc) from exc
        if sent.already_sent:
            log.info("WeChat: clientmsgid %s was already sent as %d", push_key, sent.msg_id)
        return str(sent.msg_id)


def bundled_cover() -> bytes:
    """The cover shipped with paperbot (900×383 JPEG), for WECHAT_PUSH_COVER unset."""
    return (Path(__file__).with_name("cover.jpg")).read_bytes()


def broadcaster_for(core: Core, api: WeChatApi) -> WeChatBroadcaster:
    """The WeChat broadcaster from the settings, on the caller's API client (the
    channel's, or `paperbot push`'s)."""
    settings = core.settings
    cover_path = settings.wechat_push_cover
    cover = cover_path.read_bytes if cover_path is not None else bundled_cover
    editors = [a.address for a in settings.admin_ids if a.channel == CHANNEL]
    return WeChatBroadcaster(
        api,
        SharedCredentials(core.sessions),
        cover,
        editors=editors,
        tag_id=settings.wechat_push_tag or None,
        public_url=settings.public_url,
    )
