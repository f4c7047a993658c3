"""Reader-facing texts in Chinese (default) and English, keyed by a stable name."""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, tuple[str, str]] = {
    "welcome": (
        "欢迎来到「论文解读」！这里定期解读大语言模型（LLM）领域的重要论文。",
        "Welcome to 论文解读, a column of reviews of important LLM papers.",
    ),
    "help_intro": ("可用命令：", "Commands:"),
    "help_search_hint": (
        "直接发送关键词也可以搜索，例如：对齐、Mamba、2312.00752。",
        "Any plain text is a search too, e.g. alignment, Mamba, 2312.00752.",
    ),
    "unknown_command": (
        "没有 /{name} 这个命令。发送 /help 查看可用命令。",
        "There is no /{name} command. Send /help to see what I understand.",
    ),
    "empty_search": (
        "请在 /search 后面写上关键词，例如：/search 对齐",
        "Please add keywords after /search, e.g. /search alignment",
    ),
    "nothing_found": (
        "没有找到与「{query}」相关的解读。试试更短的关键词、英文标题、作者名或 arXiv 编号。",
        "Nothing found for “{query}”. Try fewer words, the English title, an author "
        "or an arXiv id.",
    ),
    "search_results": ("「{query}」的搜索结果（共 {total} 篇）", "Results for “{query}” ({total})"),
    "section_latest": ("最新论文解读", "Latest reviews"),
    "section_classic": ("经典论文回顾", "Classic papers"),
    "list_heading": ("{section}（共 {total} 篇）", "{section} ({total} in all)"),
    "list_empty": ("这里还没有解读，敬请期待。", "No reviews here yet; stay tuned."),
    "review_missing": (
        "找不到解读「{ref}」。发送 /latest 查看最新解读，或直接发送关键词搜索。",
        "No review “{ref}”. Send /latest for the newest, or send keywords to search.",
    ),
    "review_usage": (
        "请写上解读编号，例如：/review 1（编号见 /latest 列表）",
        "Please give a review id, e.g. /review 1 (ids are shown by /latest)",
    ),
    "authors": ("作者", "Authors"),
    "date": ("发表时间", "Published"),
    "link": ("链接", "Link"),
    "read_full": ("阅读全文", "Read in full"),
    "read_n": ("📖 {n}", "📖 {n}"),
    "previous": ("« 上一页", "« Previous"),
    "next": ("下一页 »", "Next »"),
    "open_arxiv": ("arXiv 原文", "arXiv paper"),
    "stale_button": (
        "这个按钮已失效，请重新发送命令。",
        "That button has expired; please send the command again.",
    ),
    "not_allowed": (
        "抱歉，这个命令只对编辑开放。",
        "Sorry, that command is for the editors only.",
    ),
    "subscribed_new": (
        "订阅成功！新发布的解读会每周推送给你。"
        "发送 /topics 选择感兴趣的主题，/settings 调整语言和推送格式。",
        "Subscribed! New reviews arrive every week. Send /topics to choose topics and "
        "/settings for language and format.",
    ),
    "subscribed_already": ("你已经订阅了，无需重复订阅。", "You are already subscribed."),
    "subscribed_resumed": (
        "欢迎回来，订阅已恢复。之后发布的解读会照常推送给你。",
        "Welcome back: your subscription is active again.",
    ),
    "unsubscribed": (
        "已退订，不会再收到推送。随时发送 /subscribe 重新订阅。",
        "Unsubscribed: no more pushes. Send /subscribe to come back any time.",
    ),
    "not_subscribed": (
        "你目前没有订阅。发送 /subscribe 订阅每周推送。",
        "You are not subscribed. Send /subscribe for the weekly push.",
    ),
    "group_admins_only": (
        "只有群管理员可以更改本群的订阅和设置。",
        "Only this group's admins can change its subscription and settings.",
    ),
    "group_start": (
        "群管理员发送 /subscribe 即可让本群每周收到新解读。",
        "A group admin can send /subscribe to get new reviews here every week.",
    ),
    "topics_intro": (
        "选择想要推送的主题（点按切换）。一个都不选＝全部推送。",
        "Choose the topics you want pushed (tap to toggle). None selected = everything.",
    ),
    "topics_current_all": ("当前：全部主题", "Now: all topics"),
    "topics_current": ("当前：{topics}", "Now: {topics}"),
    "topics_all_button": ("全部主题", "All topics"),
    "topics_none": (
        "还没有带标签的解读，暂时无法按主题筛选。",
        "No tagged reviews yet, so there is nothing to choose from.",
    ),
    "settings_title": ("设置", "Settings"),
    "settings_language": ("语言：{value}", "Language: {value}"),
    "settings_format": ("推送格式：{value}", "Push format: {value}"),
    "settings_status": ("订阅状态：{value}", "Subscription: {value}"),
    "format_digest": ("摘要（每篇一张卡片）", "digest (a card per review)"),
    "format_full": ("全文", "full text"),
    "status_active": ("已订阅", "subscribed"),
    "status_unsubscribed": ("未订阅", "not subscribed"),
    "status_blocked": ("已屏蔽", "blocked"),
    "language_zh": ("中文", "中文"),
    "language_en": ("English", "English"),
    "button_digest": ("推送摘要", "Digest"),
    "button_full": ("推送全文", "Full text"),
    "about": (
        "「论文解读」定期解读大语言模型（LLM）领域的重要研究论文，"
        "帮助读者了解前沿技术进展和研究趋势。",
        "论文解读 reviews important research papers on large language models (LLMs), "
        "in Chinese, to help readers follow the field.",
    ),
    "about_stats": (
        "目前共有 {total} 篇解读：最新论文解读 {latest} 篇，经典论文回顾 {classic} 篇。",
        "{total} reviews so far: {latest} latest, {classic} classic.",
    ),
    "cmd_subscribe": ("订阅每周推送", "Subscribe to the weekly push"),
    "cmd_unsubscribe": ("退订", "Unsubscribe"),
    "cmd_topics": ("选择推送主题", "Choose pushed topics"),
    "cmd_settings": ("语言与推送格式", "Language and push format"),
    "cmd_about": ("关于本栏目", "About the column"),
    "cmd_start": ("开始使用", "Start"),
    "cmd_help": ("帮助", "Help"),
    "cmd_latest": ("最新论文解读", "Latest reviews"),
    "cmd_classic": ("经典论文回顾", "Classic papers"),
    "cmd_search": ("按关键词搜索解读", "Search reviews by keyword"),
    "cmd_review": ("按编号阅读一篇解读", "Read one review by id"),
    "arg_search": ("<关键词>", "<keywords>"),
    "arg_review": ("<编号>", "<id>"),
}


def language_of(code: str | None) -> str:
    """Our two languages: English for an English Telegram client, else Chinese."""
    return "en" if code and code.lower().startswith("en") else "zh"


def t(language: str, key: str, **values: Any) -> str:
    zh, en = TEXTS[key]
    template = en if language == "en" else zh
    return template.format(**values) if values else template
