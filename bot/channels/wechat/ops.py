"""Operating the WeChat account: the custom menu and the credentials/permissions check.

The menu is built from the words the channel answers (`readers.KEYWORDS`): each CLICK
key is one of them, so a tap is answered exactly like the typed word. WeChat's limits
(3 top-level buttons, 5 sub-buttons each, name ≤ 16 / 60 bytes, key ≤ 128 bytes,
url ≤ 1024 bytes) are checked before anything is sent (`MenuError`).

`check_account` gets a token (naming the setting that is wrong for 40001/40125/40013, the
address to whitelist for 40164) and probes cheap read-only calls to tell which features
the account has: 48001 is "not available (unverified account?)".
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.channels.wechat.api import (
    WeChatApi,
    WeChatApiError,
    WeChatIpWhitelistError,
    WeChatPermissionError,
    refusal_message,
)
from bot.channels.wechat.readers import KEYWORDS

log = logging.getLogger(__name__)

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024

#: The menu's CLICK buttons: (name, key); every key is a word the channel answers.
CLICK_BUTTONS = (("最新解读", "最新"), ("经典论文", "经典"), ("搜索帮助", "帮助"))


class MenuError(ValueError):
    """A menu WeChat would refuse (the message says which limit)."""


def build_menu(public_url: str = "") -> list[dict[str, Any]]:
    """The custom menu: latest, classic, search help as CLICK keys; the archive as VIEW."""
    buttons: list[dict[str, Any]] = [
        {"type": "click", "name": name, "key": key} for name, key in CLICK_BUTTONS
    ]
    if public_url:
        # Three top-level buttons at most: the archive joins the help under one entry.
        help_button = buttons.pop()
        buttons.append(
            {
                "name": "更多",
                "sub_button": [
                    help_button,
                    {"type": "view", "name": "往期解读", "url": public_url.rstrip("/") + "/"},
                ],
            }
        )
    validate_menu(buttons)
    return buttons


def menu_keys(buttons: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for button in buttons:
        for item in button.get("sub_button") or [button]:
            if item.get("type") == "click":
                keys.append(str(item["key"]))
    return keys


def _size(value: object) -> int:
    return len(str(value).encode("utf-8"))


def _check_leaf(item: dict[str, Any], where: str, name_limit: int) -> None:
    name = item.get("name", "")
    if not name or _size(name) > name_limit:
        raise MenuError(f"{where}: name {name!r} must be 1-{name_limit} bytes of UTF-8")
    kind = item.get("type")
    if kind == "click":
        key = item.get("key", "")
        if not key or _size(key) > MAX_KEY_BYTES:
            raise MenuError(f"{where}: key {key!r} must be 1-{MAX_KEY_BYTES} bytes")
        if str(key).strip().lower() not in KEYWORDS:
            raise MenuError(f"{where}: key {key!r} is not a word the channel answers")
    elif kind == "view":
        url = str(item.get("url", ""))
        if not url.startswith(("http://", "https://")) or _size(url) > MAX_URL_BYTES:
            raise MenuError(f"{where}: url must be http(s) and at most {MAX_URL_BYTES} bytes")
    else:
        raise MenuError(f"{where}: type {kind!r} is not click or view")


def validate_menu(buttons: list[dict[str, Any]]) -> None:
    """Raise MenuError for a menu over WeChat's limits."""
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise MenuError(f"a menu has 1-{MAX_BUTTONS} top-level buttons, not {len(buttons)}")
    for number, button in enumerate(buttons, 1):
        where = f"button {number}"
        subs = button.get("sub_button")
        if subs is None:
            _check_leaf(button, where, MAX_NAME_BYTES)
            continue
        name = button.get("name", "")
        if not name or _size(name) > MAX_NAME_BYTES:
            raise MenuError(f"{where}: name {name!r} must be 1-{MAX_NAME_BYTES} bytes of UTF-8")
        if not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            raise MenuError(f"{where}: 1-{MAX_SUB_BUTTONS} sub-buttons, not {len(subs)}")
        for sub_number, sub in enumerate(subs, 1):
            _check_leaf(sub, f"{where}.{sub_number}", MAX_SUB_NAME_BYTES)


# the check -----------------------------------------------------------------------------

#: Feature -> (the probe's method, GET?, body): cheap, read-only calls.
PROBES: dict[str, tuple[str, bool, dict[str, Any] | None]] = {
    "callback_ip": ("getcallbackip", True, None),
    "api_domain_ip": ("get_api_domain_ip", True, None),
    "menu": ("get_current_selfmenu_info", True, None),
    # A customer-service capability probe: the list of service accounts (read-only).
    "custom_send": ("customservice/getkflist", True, None),
    "mass": ("message/mass/speed/get", False, {}),
}
#: What each feature gives readers, for the start-up line and `wechat check`.
FEATURE_USE = {
    "menu": "custom menu",
    "custom_send": "late replies by customer-service message",
    "mass": "mass push",
}


@dataclass
class CheckReport:
    ok: bool
    token: str = "ok"
    message: str = ""
    whitelist_ip: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def missing(self) -> list[str]:
        return [name for name, state in self.permissions.items() if state != "ok"]


async def check_account(api: WeChatApi, *, probes: dict[str, Any] | None = None) -> CheckReport:
    """Token first (nothing works without it), then the permission probes."""
    try:
        await api.access_token()
    except WeChatApiError as exc:
        report = CheckReport(ok=False, token="failed", message=refusal_message(exc))
        if isinstance(exc, WeChatIpWhitelistError):
            report.whitelist_ip = exc.address
        return report
    report = CheckReport(ok=True)
    for feature, (method, get, body) in (probes or PROBES).items():
        try:
            await api.call(method, body, get=get)
        except WeChatPermissionError:
            report.permissions[feature] = "not available (unverified account?)"
        except WeChatIpWhitelistError as exc:
            report.permissions[feature] = "refused: IP not whitelisted"
            report.whitelist_ip = exc.address
            report.ok = False
            report.message = refusal_message(exc)
        except WeChatApiError as exc:
            report.permissions[feature] = f"error {exc.errcode} {exc.errmsg}"
        else:
            report.permissions[feature] = "ok"
    return report


def startup_line(report: CheckReport) -> str | None:
    """One log line for the channel's start (None when everything is available)."""
    if report.token != "ok" or report.whitelist_ip:
        return f"WeChat check: {report.message}; passive replies still work"
    off = [FEATURE_USE[name] for name in report.missing if name in FEATURE_USE]
    if not off:
        return None
    return (
        "WeChat account has no permission (48001, unverified account?) for: "
        + ", ".join(off)
        + "; passive replies still work"
    )
