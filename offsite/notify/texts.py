"""The words messages share: the warning levels' tags, pollutants' names, times as a person in
China reads them, and SMS template parameters short enough for a provider to accept.

A message about a graded alarm begins its subject with its level's tag (【红色预警】); the outbox
reads the tag back to title a digest or a grouped e-mail by the most severe notice it carries —
never by whichever came first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from offsite.hj212.codes.factors import factor_info
from offsite.hj212.times import CST

LEVEL_NAMES = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色", "offline": "离线", "missing": "缺数"}
RANK = {"red": 4, "orange": 3, "yellow": 2, "blue": 1, "offline": 0, "missing": 0}
"""How severe a level is: what a digest is titled by (as ``offsite.alarms.models.SEVERITY``)."""
TIME_FORMAT = "%Y-%m-%d %H:%M +08:00"
"""The format of ``offsite.cli.output.when``: China time, its offset written."""
MESSAGE_NAMES = {"a34013": "颗粒物（烟尘）"}
"""Names a message gives a factor where the HJ 212 code table's differs from the emission
standards' word: the table says 烟尘, GB 13271-2014, GB 18485-2014 and GB 4915-2013 limit 颗粒物;
an officer reads both."""
ELLIPSIS = "…"


def level_tag(level: str) -> str:
    """The tag a subject about ``level`` begins with, e.g. 【红色预警】."""
    return f"【{LEVEL_NAMES.get(level, level)}预警】"


def level_of(subject: str) -> str | None:
    """The level whose tag ``subject`` begins with, or None."""
    for level in LEVEL_NAMES:
        if subject.startswith(level_tag(level)):
            return level
    return None


def most_severe(subjects: Iterable[str]) -> str:
    """The subject of the most severe notice; the latest of equals (the one now in force)."""
    best, best_rank = "", -1
    for subject in subjects:
        level = level_of(subject)
        rank = RANK.get(level, -1) if level is not None else -1
        if rank >= best_rank:
            best, best_rank = subject, rank
    return best


def china_time(moment: datetime) -> str:
    """``moment`` in China time, as every time a person reads: 2026-12-07 08:00 +08:00."""
    return moment.astimezone(CST).strftime(TIME_FORMAT)


def pollutant_name(code: str) -> str:
    """A factor's name as a message writes it (颗粒物（烟尘）, 二氧化硫); the code if unknown."""
    if code in MESSAGE_NAMES:
        return MESSAGE_NAMES[code]
    info = factor_info(code)
    return info.name_zh if info is not None else code


def bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in … where cut: an SMS provider refuses
    a template parameter longer than it allows (``Settings.sms_param_max_chars``)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS
