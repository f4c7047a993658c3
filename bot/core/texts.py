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
