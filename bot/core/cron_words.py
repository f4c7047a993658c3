"""Crontab expressions said in words for editors: `0 9 * * mon` is 每周一 09:00 /
Mondays 09:00. An expression beyond the common shapes (one time of day on some weekdays,
or every day) is shown as it is, marked as a cron expression, rather than guessed at."""

from __future__ import annotations

import re

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ZH_DAYS = ("一", "二", "三", "四", "五", "六", "日")
_EN_DAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
_NUMBER = re.compile(r"[0-9]{1,2}")


def _days(field: str) -> list[int] | None:
    """Weekday indexes (Monday 0) of a day-of-week field of names, or None."""
    if field == "*":
        return list(range(7))
    days: list[int] = []
    for part in field.lower().split(","):
        first, dash, last = part.partition("-")
        if first not in _DAYS or (dash and last not in _DAYS):
            return None  # numbers mean different days to cron and APScheduler: not guessed
        start = _DAYS.index(first)
        end = _DAYS.index(last) if dash else start
        if end < start:
            return None
        days.extend(range(start, end + 1))
    return sorted(set(days))


def _day_words(days: list[int], language: str) -> str:
    if len(days) == 7:
        return "每天" if language != "en" else "daily"
    if days == [0, 1, 2, 3, 4]:
        return "每周一至周五" if language != "en" else "weekdays"
    if language == "en":
        names = [_EN_DAYS[day] for day in days]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return "每周" + "、".join(_ZH_DAYS[day] for day in days)


def cron_in_words(cron: str, language: str, zone: str | None = None) -> str:
    """`0 9 * * mon` → 每周一 09:00 (Asia/Shanghai) / Mondays 09:00 (Asia/Shanghai)."""
    fields = cron.split()
    days = None
    if len(fields) == 5 and fields[2] == "*" and fields[3] == "*":
        minute, hour = fields[0], fields[1]
        numbers = _NUMBER.fullmatch(minute) and _NUMBER.fullmatch(hour)
        if numbers and int(minute) < 60 and int(hour) < 24:
            days = _days(fields[4])
    suffix = f" ({zone})" if zone and language == "en" else f"（{zone}）" if zone else ""
    if days is None:
        return (f"cron “{cron}”" if language == "en" else f"cron 表达式「{cron}」") + suffix
    when = f"{int(fields[1]):02d}:{int(fields[0]):02d}"
    return f"{_day_words(days, language)} {when}{suffix}"
