"""Reader-facing texts in Chinese (default) and English, keyed by a stable name."""

from __future__ import annotations

import re
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
    "search_results": (
        "「{query}」的搜索结果（共 {total} 篇）",
        "Results for “{query}” ({total} {total|review|reviews})",
    ),
    "section_latest": ("最新论文解读", "Latest reviews"),
    "section_classic": ("经典论文回顾", "Classic papers"),
    "list_heading": ("{section}（共 {total} 篇）", "{section} ({total} in all)"),
    "list_empty": ("这里还没有解读，敬请期待。", "No reviews here yet; stay tuned."),
    "review_missing": (
        "找不到解读「{ref}」。发送 /latest 查看最新解读，或直接发送关键词搜索。",
        "No review “{ref}”. Send /latest for the newest, or send keywords to search.",
    ),
    "review_usage": (
        "请写上编号、slug 或 arXiv 编号。编号是你最近看到的列表（/latest、/classic 或搜索结果，"
        "默认 /latest）中的序号，例如：/review 1",
        "Please give a number, a slug or an arXiv id. The number is the one shown in the "
        "last list you saw (/latest, /classic or a search; /latest by default), e.g. /review 1",
    ),
    "review_missing_number": (
        "你最近看到的列表里没有第 {n} 篇。"
        "发送 /latest 查看最新解读，再用 /review 加列表中的编号打开。",
        "There is no item {n} in the last list you saw. Send /latest, then /review with a "
        "number from that list.",
    ),
    "authors": ("作者", "Authors"),
    "date": ("发表时间", "Published"),
    "link": ("链接", "Link"),
    "read_full": ("阅读全文", "Read in full"),
    "read_n": ("📖 {n}", "📖 {n}"),
    "previous": ("« 上一页", "« Previous"),
    "next": ("下一页 »", "Next »"),
    "open_arxiv": ("arXiv 原文", "arXiv paper"),
    "open_paper": ("论文原文", "The paper"),
    "paper_link": ("论文链接", "Paper"),
    "read_on_web": ("网页版", "On the web"),
    "stale_button": (
        "这个按钮已失效，请重新发送命令。",
        "That button has expired; please send the command again.",
    ),
    "keyword_hint": (
        "也可以直接回复：最新、经典、帮助、订阅、退订，或任何搜索词。",
        "You can also reply: latest, classic, help, subscribe, unsubscribe, or any search.",
    ),
    "stale_choice": (
        "这个编号已失效，请重新发送关键词（如 最新、经典）或搜索词。",
        "That number has expired; please send a keyword (latest, classic) or a search again.",
    ),
    "button_needs_chat": (
        "这个按钮在这里无法使用，请在与机器人的私聊中操作。",
        "This button does not work here; please use it in a private chat with the bot.",
    ),
    "internal_error": (
        "抱歉，出错了，请稍后再试。",
        "Sorry, something went wrong; please try again later.",
    ),
    "not_allowed": (
        "抱歉，这个命令只对编辑开放。要成为编辑，请让运行机器人的人把 {address} "
        "加入 ADMIN_IDS 设置（格式为 渠道:编号），然后重启机器人。",
        "Sorry, that command is for the editors only. To become one, ask whoever runs the "
        "bot to add {address} to the ADMIN_IDS setting (as channel:id) and restart it.",
    ),
    "console_no_buttons": (
        "上一条回复没有按钮，:{n} 无从点按。",
        "The last reply has no buttons, so there is no :{n} to tap.",
    ),
    "console_no_such_button": (
        "没有按钮 {n}：上一条回复只有 {count} 个按钮。",
        "There is no button {n}: the last reply has {count} buttons.",
    ),
    "console_url": ("链接：{url}", "Link: {url}"),
    "cmd_whoami": ("查看我的编号和身份", "Your id and role"),
    "whoami_address": ("你的编号：", "Your id: "),
    "whoami_chat": ("本会话的编号：", "This chat's id: "),
    "whoami_editor": (
        "你是编辑，可以使用编辑命令。",
        "You are an editor: the editors' commands are yours.",
    ),
    "whoami_reader": ("你是读者（不是编辑）。", "You are a reader (not an editor)."),
    "whoami_become_editor": (
        "要成为编辑，请让运行机器人的人把 {address} 加入 ADMIN_IDS 设置，然后重启机器人。",
        "To become an editor, ask whoever runs the bot to add {address} to ADMIN_IDS "
        "and restart it.",
    ),
    "subscribed_new": (
        "订阅成功！新发布的解读会每周推送给你。"
        "发送 /topics 选择感兴趣的主题，/settings 调整语言和推送格式。",
        "Subscribed! New reviews arrive every week. Send /topics to choose topics and "
        "/settings for language and format.",
    ),
    "subscribed_new_everything": (
        "订阅成功！新发布的解读会每周推送给你，每次推送包含全部新解读。"
        "想看某个主题，直接发送标签搜索；/settings 调整语言。",
        "Subscribed! New reviews arrive every week, all of them in each push. For one "
        "topic, send its tag as a search; /settings for the language.",
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
        "要让本群每周收到新解读吗？群管理员发送 /subscribe 或点下面的按钮即可订阅。",
        "Should this group get new reviews every week? A group admin can send /subscribe "
        "or tap the button below.",
    ),
    "group_subscribed": (
        "本群已订阅，每周会收到新解读。发送 /help 查看可用命令。",
        "This group is subscribed and gets new reviews every week. Send /help for commands.",
    ),
    "group_subscribe_button": ("📬 订阅本群", "📬 Subscribe this group"),
    "topics_intro": (
        "选择想要推送的主题（点按切换）。一个都不选＝全部推送。",
        "Choose the topics you want pushed (tap to toggle). None selected = everything.",
    ),
    "topics_current_all": ("当前：全部主题", "Now: all topics"),
    "topics_current": ("当前：{topics}", "Now: {topics}"),
    "topics_all_button": ("全部主题", "All topics"),
    "topics_not_per_reader": (
        "这里的每周推送是群发：所有读者收到同一条推送，无法按读者选择主题。"
        "你会收到每周推送中的全部新解读；想看某个主题，直接发送标签即可搜索。",
        "Here the weekly push is one message for every reader, so topics cannot be chosen "
        "per reader. You get every new review in the weekly push; for one topic, send its "
        "tag as a search.",
    ),
    "topics_tag_examples": ("可以试试这些标签：{tags}", "Tags to try: {tags}"),
    "topics_none": (
        "还没有带标签的解读，暂时无法按主题筛选。",
        "No tagged reviews yet, so there is nothing to choose from.",
    ),
    "settings_title": ("设置", "Settings"),
    "settings_language": ("语言：{value}", "Language: {value}"),
    "settings_format": ("推送格式：{value}", "Push format: {value}"),
    "settings_format_not_per_reader": (
        "推送格式：这里的每周推送是群发，所有读者收到同一条消息，无法按读者选择格式。",
        "Push format: here the weekly push is one message for every reader, so no format "
        "can be chosen per reader.",
    ),
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
        "{total} {total|review|reviews} so far: {latest} latest, {classic} classic.",
    ),
    "cmd_subscribe": ("订阅每周推送", "Subscribe to the weekly push"),
    "cmd_unsubscribe": ("退订", "Unsubscribe"),
    "cmd_topics": ("选择推送主题", "Choose pushed topics"),
    "cmd_settings": ("语言与推送格式", "Language and push format"),
    "cmd_settings_language_only": ("语言", "Language"),
    "cmd_about": ("关于本栏目", "About the column"),
    "push_heading": ("本周新解读（{count} 篇）", "New this week ({count} {count|review|reviews})"),
    "push_heading_more": (
        "本周新解读（续：第 {first}–{last} 篇，共 {count} 篇）",
        "New this week (continued: {first}–{last} of {count})",
    ),
    "cmd_queue": ("排队一篇新解读（附文档或粘贴）", "Queue a review (attach or paste)"),
    "cmd_queued": ("查看待发布的解读", "Reviews waiting to be published"),
    "cmd_publish": ("立即发布并推送", "Publish and push now"),
    "cmd_unqueue": ("撤回排队的解读", "Take a review out of the queue"),
    "cmd_stats": ("订阅与推送统计", "Subscribers and pushes"),
    "cmd_unpublish": ("撤下已发布的解读（改回草稿）", "Take a published review down (to draft)"),
    "cmd_show": ("按读者看到的样子查看任一解读", "See any review as readers will"),
    "unpublished": (
        "#{id}「{title}」已撤下，改回草稿，读者不再看到它。",
        "#{id} “{title}” is taken down: a draft again, readers no longer see it.",
    ),
    "show_note": (
        "#{id}（{status}，{when}）读者将看到：",
        "#{id} ({status}, {when}) as readers will see it:",
    ),
    "queue_warning_not_arxiv": (
        "⚠️ 这篇论文的链接在 {site}（{url}），不在 arXiv：已接受，但 paperbot lint 和 /draft "
        "无法核对它。",
        "⚠️ This paper's link is on {site} ({url}), not arXiv: accepted, but paperbot lint "
        "and /draft cannot check it.",
    ),
    "arg_queue": ("[发布时间]", "[publish time]"),
    "arg_id": ("<编号>", "<id>"),
    "queue_usage": (
        "用法：发送 /queue 并附上 Markdown 文档（说明里可写发布时间，如 /queue 2026-12-07），"
        "或在 /queue 下一行粘贴解读全文（栏目格式或 front matter）。",
        "Usage: send /queue with a Markdown document attached (the caption may give a time, "
        "e.g. /queue 2026-12-07), or paste the review on the lines after /queue.",
    ),
    "queue_too_big": ("文档太大（上限 1 MB）。", "The document is too large (1 MB at most)."),
    "queue_not_utf8": (
        "{name} 不是 UTF-8 文本，请另存为 UTF-8 后重新发送。",
        "{name} is not UTF-8 text; save it as UTF-8 and send it again.",
    ),
    "queue_bad_time": (
        "看不懂发布时间「{value}」，请写成 2026-12-07 或 2026-12-07 09:00。",
        "Cannot read the publish time “{value}”; write 2026-12-07 or 2026-12-07 09:00.",
    ),
    "queue_time_too_far": (
        "发布时间「{value}」太远了：最多可以排到 {days} 天之后。",
        "The publish time “{value}” is too far ahead: at most {days} days from now.",
    ),
    "queue_time_past": (
        "发布时间「{value}」已经过去了。不写时间即随下一次推送发布；"
        "确实要补填过去的时间，请在服务器上用 paperbot queue add FILE --at … --backdate。",
        "The publish time “{value}” has already passed. Give no time to publish with the "
        "next push; to backdate on purpose use paperbot queue add FILE --at … --backdate.",
    ),
    "queue_next_push": (
        "随下一次推送（定时推送 {when}，或更早运行的 paperbot push）",
        "with the next push (the scheduled one at {when}, or an earlier paperbot push)",
    ),
    "queue_not_before": ("不早于 {when}", "not before {when}"),
    "queue_tags_suggested": (
        "文中未写标签，建议标签：{tags}（确认即采用；要改请在文中加一行 **标签**: …）",
        "No tags given; suggested tags: {tags} (kept if you confirm; to change them add a "
        "line **Tags**: …)",
    ),
    "queue_tags_given": ("标签：{tags}", "Tags: {tags}"),
    "queue_tags_none": (
        "没有标签：将推送给所有订阅者（包括选了话题的读者）。",
        "No tags: it goes to every subscriber, whatever their topics.",
    ),
    "queue_reach_all": (
        "将送达 {readers} 位活跃订阅者（全部）。",
        "It will reach {readers} active subscribers (all of them).",
    ),
    "queue_reach_some": (
        "注意：将只送达 {readers} 位活跃订阅者（共 {active} 位）；"
        "另外 {missed} 位选择的话题与这些标签不符，收不到。",
        "Note: it will reach only {readers} of {active} active subscribers; {missed} chose "
        "topics these tags do not match.",
    ),
    "queue_invalid": (
        "这篇解读有问题，未保存：\n{error}",
        "This review has a problem and was not saved:\n{error}",
    ),
    "queue_one_only": (
        "一次只能排队一篇解读，这份文档里有 {count} 篇。整期导入请用 paperbot import。",
        "Queue one review at a time; this document has {count}. Use paperbot import for a "
        "whole issue.",
    ),
    "queue_refused": ("无法操作：{error}", "Cannot do that: {error}"),
    "state_no_review": (
        "无法操作：没有 #{id} 这篇解读。",
        "Cannot do that: there is no review #{id}.",
    ),
    "state_wrong": (
        "无法操作：#{id} 现在是{status}，不是{expected}。",
        "Cannot do that: #{id} is {status}, not {expected}.",
    ),
    "state_already_published": (
        "无法操作：#{id}「{title}」已经发布过了。",
        "Cannot do that: #{id} “{title}” is already published.",
    ),
    "state_draft": ("草稿", "a draft"),
    "state_queued": ("排队中", "queued"),
    "state_published": ("已发布", "published"),
    "queue_preview": (
        "草稿 #{id} 已保存，发布时间：{when}。下面是读者将看到的样子：",
        "Draft #{id} saved, to be published {when}. This is what readers will see:",
    ),
    "queue_confirm_question": ("确认加入发布队列？", "Put it in the queue?"),
    "queue_confirm": ("✅ 确认", "✅ Confirm"),
    "queue_cancel": ("✖️ 取消", "✖️ Cancel"),
    "queue_cancelled": ("已取消，草稿已删除。", "Cancelled; the draft is gone."),
    "queue_nothing_to_cancel": ("没有可取消的草稿。", "There is no draft to cancel."),
    "queue_done": (
        "#{id}「{title}」已加入队列，发布并推送时间：{when}。",
        "#{id} “{title}” is queued, to be published and pushed {when}.",
    ),
    "queued_empty": ("队列是空的。", "The queue is empty."),
    "queued_heading": ("待发布（{count} 篇）", "Waiting ({count} {count|review|reviews})"),
    "review_status_draft": ("草稿（未确认）", "draft (unconfirmed)"),
    "review_status_queued": ("已排队", "queued"),
    "review_status_published": ("已发布", "published"),
    "id_usage": ("请写上解读编号，例如：{command} 12", "Please give an id, e.g. {command} 12"),
    "unqueued": ("#{id}「{title}」已撤回为草稿。", "#{id} “{title}” is a draft again."),
    "published_next_push": (
        "#{id}「{title}」已发布，将在下次推送时送达订阅者。",
        "#{id} “{title}” is published; the next push delivers it.",
    ),
    "published_pushed": ("#{id}「{title}」已发布并推送。", "#{id} “{title}” published and pushed."),
    "published_queued_for_push": (
        "#{id}「{title}」已发布，已加入推送队列，{subscribers} 位订阅者。",
        "#{id} “{title}” is published and queued for push, {subscribers} "
        "{subscribers|subscriber|subscribers}.",
    ),
    "push_request_done": ("推送请求 #{id} 已完成：{summary}", "Push request #{id} done: {summary}"),
    "push_request_failed": (
        "推送请求 #{id} 失败：{error}",
        "Push request #{id} failed: {error}",
    ),
    "stats_heading": ("统计", "Statistics"),
    "stats_subscribers": (
        "订阅者：{active} 活跃，{unsubscribed} 已退订，{blocked} 已屏蔽",
        "Subscribers: {active} active, {unsubscribed} unsubscribed, {blocked} blocked",
    ),
    "stats_next_push": (
        "下次推送：{when}（定时：{schedule}）",
        "Next push: {when} (schedule: {schedule})",
    ),
    "stats_recent_pushes": ("最近的推送：", "Recent pushes:"),
    "stats_push_line": (
        "#{id} {when}（{trigger}，{status}）：送达 {sent}，失败 {failed}，屏蔽 {blocked}",
        "#{id} {when} ({trigger}, {status}): {sent} sent, {failed} failed, {blocked} blocked",
    ),
    "stats_no_pushes": ("还没有推送记录。", "No pushes yet."),
    "stats_recent_broadcasts": ("最近的群发：", "Recent broadcasts:"),
    "stats_broadcast_line": (
        "#{id} {channel} {when}（{status}）：{count} 篇解读",
        "#{id} {channel} {when} ({status}): {count} {count|review|reviews}",
    ),
    "stats_broadcast_counts": (
        "；共 {total} 人，过滤后 {filter} 人，成功 {sent}，失败 {error}",
        "; {total} total, {filter} after filtering, {sent} sent, {error} failed",
    ),
    "stats_broadcast_error": ("；原因：{reason}", "; reason: {reason}"),
    "broadcast_status_planned": ("已计划", "planned"),
    "broadcast_status_draft_created": ("草稿已建", "draft created"),
    "broadcast_status_sent": ("已发出，等待结果", "sent, awaiting the result"),
    "broadcast_status_finished": ("已结束", "finished"),
    "broadcast_status_failed": ("失败", "failed"),
    "push_summary": ("推送完成：{summary}", "Push finished: {summary}"),
    "push_summary_line": (
        "推送 #{run}（{trigger}）：送达 {sent} 份，共 {messages} 条消息；屏蔽 {blocked}，"
        "失败 {failed}，跳过 {skipped}，重试 {retried}，限流 {rate_limited} 次；"
        "新发布 {published} 篇",
        "push #{run} ({trigger}): {sent} {sent|delivery|deliveries} sent in {messages} "
        "{messages|message|messages}, {blocked} blocked, {failed} failed, {skipped} skipped, "
        "{retried} retried, {rate_limited} × 429; {published} newly published",
    ),
    "push_summary_requeued": (
        "之前失败的 {count} 份已重试",
        "{count} earlier {count|failure|failures} retried",
    ),
    "push_summary_held_back": (
        "{count} 份留待下次推送（每位读者的上限）",
        "{count} held back for the next push (per-reader cap)",
    ),
    "push_summary_timed_out": (
        "到达时限后停止，{count} 份待下次推送",
        "stopped at the deadline with {count} left pending",
    ),
    "push_summary_time": ("用时 {seconds} 秒", "{seconds} s"),
    "push_summary_broadcast_sent": (
        "{channel} 群发 #{id}：{count} 篇已发出（消息 {message}）",
        "{channel} broadcast #{id}: {count} {count|review|reviews} sent (message {message})",
    ),
    "push_summary_broadcast_nothing": (
        "{channel} 群发：没有新内容",
        "{channel} broadcast: nothing new to send",
    ),
    "push_summary_broadcast_failed": (
        "{channel} 群发失败：{reason}",
        "{channel} broadcast failed: {reason}",
    ),
    "push_summary_broadcast_waiting": (
        "{channel} 群发这次未发出，下次推送继续：{reason}",
        "{channel} broadcast not sent this time, the next push resumes it: {reason}",
    ),
    "broadcast_finished": (
        "{channel} 群发 #{id} 已结束（{status}）：共 {total} 人，过滤后 {filter} 人，"
        "成功 {sent}，失败 {error}",
        "{channel} broadcast #{id} finished ({status}): {total} total, {filter} after "
        "filtering, {sent} sent, {error} failed",
    ),
    "push_summary_separator": ("；", "; "),
    "trigger_schedule": ("定时", "scheduled"),
    "trigger_manual": ("手动", "manual"),
    "trigger_cli": ("命令行", "command line"),
    "trigger_publish": ("发布", "publish"),
    "trigger_resume": ("续推", "resumed"),
    "run_running": ("进行中", "running"),
    "run_done": ("完成", "done"),
    "run_interrupted": ("中断", "interrupted"),
    "run_timed_out": ("超时停止", "timed out"),
    "cmd_start": ("开始使用", "Start"),
    "cmd_help": ("帮助", "Help"),
    "cmd_latest": ("最新论文解读", "Latest reviews"),
    "cmd_classic": ("经典论文回顾", "Classic papers"),
    "cmd_search": ("按关键词搜索解读", "Search reviews by keyword"),
    "cmd_review": (
        "阅读一篇解读：列表中的编号、slug 或 arXiv 编号",
        "Read one review: its number in a list, its slug or arXiv id",
    ),
    "arg_search": ("<关键词>", "<keywords>"),
    "arg_review": ("<编号|slug|arXiv 编号>", "<number|slug|arXiv id>"),
    # --- arXiv watcher (editors) ---
    "cmd_candidates": ("arXiv 候选论文，按推荐程度排序", "arXiv candidates, best first"),
    "cmd_draft": ("按 arXiv 编号起草一篇解读", "Draft a review of an arXiv paper"),
    "arg_candidates": ("[数量]", "[n]"),
    "arg_draft": ("<arXiv 编号或链接>", "<arXiv id or URL>"),
    "arxiv_candidates_heading": (
        "arXiv 候选论文：待处理 {total} 篇，按得分排序",
        "arXiv candidates: {total} pending, best first",
    ),
    "arxiv_candidates_empty": (
        "还没有待处理的候选论文。arXiv 按计划在{cron}轮询，也可以在服务器上运行 "
        "paperbot arxiv poll 立即抓取。",
        "No pending candidates. arXiv is polled {cron}; run paperbot arxiv poll "
        "on the server to fetch now.",
    ),
    "arxiv_candidate_meta": (
        "arXiv:{arxiv_id} · {categories} · 得分 {score}",
        "arXiv:{arxiv_id} · {categories} · score {score}",
    ),
    "arxiv_candidate_reason": ("推荐理由：{reason}", "Why: {reason}"),
    "arxiv_button_draft": ("✍️ 起草 {n}", "✍️ Draft {n}"),
    "arxiv_button_dismiss": ("🗑 忽略 {n}", "🗑 Dismiss {n}"),
    "arxiv_button_open": ("arXiv {n}", "arXiv {n}"),
    "arxiv_alert_heading": (
        "arXiv 新论文推荐：本次新增 {added} 篇候选，最值得解读的 {count} 篇如下",
        "New on arXiv: {added} new {added|candidate|candidates}; the {count} most worth reviewing",
    ),
    "arxiv_alert_trouble": ("arXiv 轮询出了问题", "The arXiv poll ran into trouble"),
    "arxiv_alert_problem": (
        "⚠️ 分类 {category} 抓取失败：{problem}",
        "⚠️ {category} failed: {problem}",
    ),
    "arxiv_reason_keyword": ("关键词：{terms}（+{points}）", "keywords: {terms} (+{points})"),
    "arxiv_reason_review": (
        "与已发表的解读《{title}》相似（{similarity}，+{points}）",
        "like the review “{title}” ({similarity}, +{points})",
    ),
    "arxiv_reason_drafted": (
        "与已起草的《{title}》相似（{similarity}，+{points}）",
        "like drafted “{title}” ({similarity}, +{points})",
    ),
    "arxiv_reason_dismissed": (
        "与已忽略的《{title}》相似（{similarity}，−{points}）",
        "like dismissed “{title}” ({similarity}, −{points})",
    ),
    "arxiv_reason_reviewed": (
        "专栏已有这篇论文的解读（−{points}）",
        "already reviewed in the column (−{points})",
    ),
    "arxiv_reason_none": (
        "没有命中关键词，与专栏已有内容关联不大",
        "no keyword, little in common with the column",
    ),
    "arxiv_reason_separator": ("；", "; "),
    "arxiv_draft_usage": (
        "请写上 arXiv 编号或链接，例如：/draft 2312.00752",
        "Please give an arXiv id or URL, e.g. /draft 2312.00752",
    ),
    "arxiv_draft_invalid": (
        "「{ref}」不是有效的 arXiv 编号。请写成 2312.00752 或 "
        "https://arxiv.org/abs/2312.00752 这样的形式。",
        "“{ref}” is not an arXiv id. Write it like 2312.00752 or https://arxiv.org/abs/2312.00752.",
    ),
    "arxiv_draft_refused": (
        "arXiv 不接受编号「{ref}」：{message}",
        "arXiv refused the id “{ref}”: {message}",
    ),
    "arxiv_draft_unknown": (
        "arXiv 上没有编号为 {arxiv_id} 的论文，请检查编号。",
        "arXiv has no paper {arxiv_id}; please check the id.",
    ),
    "arxiv_fetching": ("正在获取…", "Fetching…"),
    "arxiv_draft_from_feed": (
        "arXiv 暂时连不上，稿子按订阅源里这篇论文的信息预填（日期是公布日期，不是提交日期），"
        "请核对作者和日期。",
        "arXiv's API is not answering, so the skeleton is filled from the feed's entry (the "
        "date is the announcement's, not the submission's); check the authors and date.",
    ),
    "arxiv_draft_unavailable": (
        "暂时连不上 arXiv，请稍后再试。",
        "arXiv is not answering right now; please try again later.",
    ),
    "arxiv_draft_created": (
        "已创建草稿 #{id}《{title}》（状态：草稿，读者看不到）。下面是按专栏格式预填的稿子："
        "补全各节，把摘要译成中文后删去原文，再用 /queue 发回。",
        "Created draft #{id} “{title}” (status: draft, readers cannot see it). Below is a "
        "skeleton in the column's format: fill in each section, translate the abstract and "
        "delete it, then send it back with /queue.",
    ),
    "arxiv_draft_exists": (
        "《{title}》已有草稿 #{id}，下面再发一次预填的稿子。",
        "“{title}” already has draft #{id}; here is its skeleton again.",
    ),
    "arxiv_draft_reviewed": (
        "《{title}》已有解读 #{id}（状态：{status}），不再新建草稿。",
        "“{title}” already has review #{id} (status: {status}); no new draft made.",
    ),
    "arxiv_dismissed": (
        "已忽略《{title}》。与它相似的论文今后会排得靠后。",
        "Dismissed “{title}”. Papers like it will rank lower from now on.",
    ),
    "arxiv_status_pending": ("待处理", "pending"),
    "arxiv_status_drafted": ("已起草", "drafted"),
    "arxiv_status_dismissed": ("已忽略", "dismissed"),
    "arxiv_already_decided": (
        "《{title}》已经处理过了（{status}）。",
        "“{title}” was already handled ({status}).",
    ),
}


def language_of(code: str | None) -> str:
    """Our two languages: English for an English Telegram client, else Chinese."""
    return "en" if code and code.lower().startswith("en") else "zh"


#: `{n|review|reviews}` in an English text: the singular or the plural, by the number n.
_PLURAL = re.compile(r"\{(\w+)\|([^|{}]*)\|([^|{}]*)\}")


def _plurals(template: str, values: dict[str, Any]) -> str:
    def choose(match: re.Match[str]) -> str:
        number = values.get(match.group(1))
        return match.group(2) if number == 1 else match.group(3)

    return _PLURAL.sub(choose, template)


def t(language: str, key: str, **values: Any) -> str:
    zh, en = TEXTS[key]
    template = _plurals(en, values) if language == "en" else zh
    return template.format(**values) if values else template


def t_known(language: str, key: str, fallback: str) -> str:
    """`t` for a key made from a stored value (a push's trigger): the value itself if
    no text is known for it, rather than a KeyError in a reply."""
    return t(language, key) if key in TEXTS else fallback


def plural(number: int, singular: str, plural_form: str | None = None) -> str:
    """`1 review`, `2 reviews`: an English count with its noun."""
    return f"{number} {singular if number == 1 else plural_form or singular + 's'}"


#: What goes between a label and its value: a full-width colon in Chinese, ASCII in English.
def label(language: str, key: str, value: str) -> str:
    return f"{t(language, key)}{': ' if language == 'en' else '：'}{value}"
