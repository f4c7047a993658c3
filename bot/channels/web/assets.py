"""The stylesheet under its hashed name (`/static/site.<hash>.css`), cached for a year:
a changed file gets a new name, so no reader ever keeps a stale one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.channels.web.responses import STATIC_CACHE, CachedAnswer, Rendered
from bot.channels.web.site import WebSite


class AssetRoutes:
    def __init__(self, site: WebSite) -> None:
        self.site = site
        asset = site.stylesheet
        self._answers = {
            asset.name: CachedAnswer.of(
                Rendered(
                    asset.body, asset.media_type, cache_control=STATIC_CACHE, by_language=False
                )
            )
        }

    def routes(self) -> list[BaseRoute]:
        return [Route("/static/{name}", self.static, methods=["GET"])]

    async def static(self, request: Request) -> Response:
        answer = self._answers.get(str(request.path_params["name"]))
        if answer is None:
            visit = self.site.visit(request)
            return await self.site.answer(
                request, visit, ("unknown",), lambda: self.site.not_found(visit)
            )
        return answer.answer(request)
