"""The web pages' own words, zh / en, as `bot.core.texts` keeps the bot's: a key maps to
(Chinese, English). Keys not found here are the core's texts (section names, "authors",
the search help), so the web says exactly what the bot says where both say it."""

from __future__ import annotations

from typing import Any

from bot.core.texts import TEXTS, _plurals

WEB_TEXTS: dict[str, tuple[str, str]] = {
    "site_name": ("论文解读", "论文解读 · LLM paper reviews"),
    "tagline": (
        "大语言模型（LLM）论文解读专栏",
        "A Chinese-language column of reviews of LLM papers",
    ),
    "nav_home": ("首页", "Home"),
    "nav_tags": ("标签", "Tags"),
    "nav_archive": ("归档", "Archive"),
    "nav_about": ("关于", "About"),
    "search_label": ("搜索解读", "Search the reviews"),
    "search_placeholder": ("搜索标题、作者、arXiv 编号…", "Titles, authors, arXiv ids…"),
    "search_button": ("搜索", "Search"),
    "search_title": ("搜索", "Search"),
    "search_empty": (
        "请输入关键词，例如：对齐、Mamba、2312.00752。",
        "Type some keywords, e.g. alignment, Mamba, 2312.00752.",
    ),
    "page_n": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "more": ("查看全部 »", "See all »"),
    "previous_review": ("上一篇", "Previous"),
    "next_review": ("下一篇", "Next"),
    "tags_title": ("全部标签", "All tags"),
    "tags_empty": ("还没有标签。", "No tags yet."),
    "tag_title": ("标签：{tag}", "Tag: {tag}"),
    "count_reviews": ("{count} 篇", "{count} reviews"),
    "archive_title": ("按月归档", "Archive by month"),
    "month_title": ("{year} 年 {month} 月", "{month_name} {year}"),
    "not_found_title": ("页面不存在", "Page not found"),
    "not_found_text": (
        "找不到这个页面：链接可能有误，或者这篇解读尚未发布。可以试试搜索，或者回到首页。",
        "There is no such page: the link may be wrong, or the review is not published yet. "
        "Try a search, or go back to the front page.",
    ),
    "subscribe_telegram": ("在 Telegram 订阅", "Subscribe on Telegram"),
    "open_in_telegram": ("在 Telegram 中阅读并订阅", "Read and subscribe on Telegram"),
    "wechat_account": ("微信公众号：{name}", "WeChat official account: {name}"),
    "feeds": ("订阅源", "Feeds"),
    "feed_atom": ("Atom 订阅源", "Atom feed"),
    "feed_json": ("JSON Feed", "JSON Feed"),
    "tag_feed": ("本标签的 Atom 订阅源", "Atom feed of this tag"),
    "published_on": ("发布于 {date}", "Published {date}"),
    "about_title": ("关于本栏目", "About the column"),
    "about_channels": ("如何订阅", "How to subscribe"),
    "about_telegram": (
        "Telegram：打开机器人，发送 /subscribe，每周收到新解读；也可以直接搜索和阅读全文。",
        "Telegram: open the bot and send /subscribe for the weekly push; you can search and "
        "read every review there too.",
    ),
    "about_telegram_unknown": (
        "Telegram：在机器人中发送 /subscribe 即可订阅每周推送。",
        "Telegram: send /subscribe to the bot for the weekly push.",
    ),
    "about_wechat": (
        "微信：关注公众号「{name}」。",
        "WeChat: follow the official account “{name}”.",
    ),
    "about_feeds": (
        "RSS 阅读器：订阅 Atom 或 JSON Feed，每个标签也有自己的 Atom 订阅源。",
        "Feed readers: the Atom feed or the JSON Feed; every tag has its own Atom feed too.",
    ),
    "feed_title": ("论文解读", "论文解读 (LLM paper reviews)"),
    "feed_tag_title": ("论文解读 · {tag}", "论文解读 · {tag}"),
}

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def label(language: str, key: str, **values: Any) -> str:
    """The web's text for `key` in `language` ("en", else Chinese), else the core's."""
    zh, en = WEB_TEXTS.get(key) or TEXTS[key]
    # English texts choose singular or plural (`{total|review|reviews}`) as the core's do.
    template = _plurals(en, values) if language == "en" else zh
    return template.format(**values) if values else template


def month_name(month: int) -> str:
    return _MONTHS[month - 1]
