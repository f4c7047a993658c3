"""`paperbot wechat ...`: the account's custom menu and a credentials/permissions check."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import httpx

from bot.app import Core
from bot.channels.wechat.api import WeChatApi, WeChatApiError, refusal_message
from bot.channels.wechat.ops import (
    MenuError,
    build_menu,
    check_account,
)
from bot.core.shared_credentials import SharedCredentials

_T = TypeVar("_T")


def _with_api(core: Core, work: Callable[[WeChatApi], Awaitable[_T]]) -> _T:
    settings = core.settings
    if not settings.wechat_enabled:
        raise click.ClickException(
            "WeChat is off: set WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN"
        )

    async def run() -> _T:
        async with httpx.AsyncClient(timeout=10.0) as http:
            return await work(
                WeChatApi.from_settings(settings, http, SharedCredentials(core.sessions))
            )

    return asyncio.run(run())


def make_group(core_factory: Callable[[], object]) -> click.Group:
    """The `wechat` group; `core_factory` is bot.cli's `_core` (a context manager)."""

    @click.group()
    def wechat() -> None:
        """The WeChat Official Account: its custom menu and a permissions check."""

    @wechat.command("menu")
    @click.option("--dry-run", is_flag=True, help="Print the menu's JSON; send nothing.")
    def menu(dry_run: bool) -> None:
        """Set the account's custom menu (menu/create): 最新, 经典 and 帮助 as CLICK keys
        the channel answers like the typed words, and the web archive (PUBLIC_URL) as a
        VIEW button when set. Checked against WeChat's limits before sending."""
        with core_factory() as core:  # type: ignore[attr-defined]
            try:
                buttons = build_menu(core.settings.public_url)
            except MenuError as exc:
                raise click.ClickException(f"menu refused: {exc}") from None
            document = json.dumps({"button": buttons}, ensure_ascii=False, indent=2)
            if dry_run:
                click.echo(document)
                return
            try:
                _with_api(core, lambda api: api.create_menu(buttons))
            except WeChatApiError as exc:
                if exc.errcode == 48001:
                    raise click.ClickException(
                        "menu/create: not available (48001, unverified account?)"
                    ) from None
                raise click.ClickException(refusal_message(exc)) from None
            click.echo(f"menu set: {len(buttons)} buttons")

    @wechat.command("check")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def check(as_json: bool) -> None:
        """Verify the WeChat credentials (gets an access token) and tell which
        permissions the account has (menu, customer-service messages, mass push).
        Exit code 0 when the channel can work, 1 otherwise."""
        with core_factory() as core:  # type: ignore[attr-defined]
            report = _with_api(core, check_account)
        if as_json:
            click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            click.echo(f"access token: {report.token}")
            for feature, state in report.permissions.items():
                click.echo(f"  {feature:<14} {state}")
            if report.message:
                click.echo(report.message)
        sys.exit(0 if report.ok else 1)

    return wechat
