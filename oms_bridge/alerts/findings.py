"""What a rule reports (:class:`Finding`) and the text hygiene every alert text goes through.

An alert leaves the bridge for mailboxes and chat rooms, so its text must never carry a secret or a
buyer's personal data. Rules build their sentences from channel names, counts, hold codes and
order numbers; the one free text they quote (the last error of a run or delivery) goes through
:func:`safe_text` first: secrets masked by the shared masking rules, e-mail addresses and Taiwanese
phone numbers replaced, and the length capped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from oms_bridge.model.masking import mask_text

__all__ = ["Finding", "safe_text", "local_time", "duration", "DISPLAY_ZONE"]

#: Times in alert texts are shown in the admins' and merchants' zone.
DISPLAY_ZONE = ZoneInfo("Asia/Taipei")

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Taiwanese mobile (09xx-xxx-xxx, +886 9xx...) and landline (0x-xxxx-xxxx) numbers written as such
_PHONE_RE = re.compile(r"(?<![\w])(\+886[\s-]?|0)(9\d{2}[\s-]?\d{3}[\s-]?\d{3}|[2-8][\s-]?\d{3,4}[\s-]?\d{4})(?![\w])")
MAX_QUOTE = 400


@dataclass(frozen=True)
class Finding:
    """One problem as a rule sees it now.

    ``key`` names the problem (``<rule>:<subject>``); the same key found again is the same alert.
    ``title`` is the one-line summary, ``detail`` says what is wrong, ``fix`` what the admin does about it.
    ``since`` is when the problem started as far as the rule can tell (None: when it was first found).
    """

    key: str
    rule: str
    subject: str | None
    title: str
    detail: str
    fix: str
    since: datetime | None = None


def safe_text(text: str | None, limit: int = MAX_QUOTE) -> str:
    """Free text fit for an alert: secrets masked, e-mail addresses and phone numbers removed, length capped."""
    if not text:
        return ""
    cleaned = mask_text(str(text))
    cleaned = _EMAIL_RE.sub("<e-mail>", cleaned)
    cleaned = _PHONE_RE.sub("<phone>", cleaned)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def local_time(when: datetime | None) -> str:
    """``2026-03-15 12:00 (Asia/Taipei)``, or ``unknown``."""
    if when is None:
        return "unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M") + " (Asia/Taipei)"


def duration(delta: timedelta) -> str:
    """``2 d 3 h``, ``4 h 10 min``, ``12 min``."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
