"""How the admin pages show times and settings: one display time zone, relative ages, JSON text.

Times are stored aware UTC; the pages show them in ``display_timezone`` (a setting, default
Asia/Taipei, see docs/configuration.md) and label the zone once per table or line, so a reader never
guesses. :func:`ago` adds the age a person takes in at a glance ("3 min ago", "in 2 h").
Messages written for the command line (a token warning's "run `oms-bridge channel authorize X`")
are shown on the pages with the web action instead (:func:`web_wording`): the person reading them is in
the browser, one click from the button.

Registered as Jinja filters by :mod:`oms_bridge.web.pages`: ``localtime``, ``ago``, ``json_text``,
``web_wording``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from oms_bridge.settings import get_settings

__all__ = ["display_zone", "zone_label", "localtime", "ago", "age_text", "json_text", "web_wording"]

#: (CLI hint, what the web pages say instead)
_WEB_ACTIONS = [
    (re.compile(r"(?:[Rr]un )?`oms-bridge channel authorize(?: [\w.-]+)?`|oms-bridge channel authorize [\w.-]+"),
     "use the Authorize button on the channel's page"),
    (re.compile(r"`oms-bridge channel enable [\w.-]+`"), "the Enable button on the channel's page"),
    (re.compile(r"oms-bridge channel update [\w.-]+ --credential KEY"), "the credential fields on the channel's page"),
    (re.compile(r"`oms-bridge orders list --held`"), "the Held page"),
]


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def display_zone() -> ZoneInfo:
    """The configured display time zone (read per call: a test or demo may re-point the settings)."""
    return _zone(get_settings().display_timezone)


def zone_label() -> str:
    """The zone's name as the pages label times with, e.g. ``Asia/Taipei``."""
    return get_settings().display_timezone


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def localtime(when: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time in the display zone (``2026-03-15 12:00``); '' when unknown."""
    if when is None:
        return ""
    return _aware(when).astimezone(display_zone()).strftime(fmt)


def age_text(delta: timedelta) -> str:
    """A duration as a person says it: '45 s', '3 min', '2 h 5 min', '4 d 3 h'."""
    seconds = int(abs(delta).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, rest = divmod(seconds, 86400)
    return f"{days} d {rest // 3600} h" if rest >= 3600 else f"{days} d"


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' for a past time, 'in 5 min' for a future one; '' when unknown."""
    if when is None:
        return ""
    delta = (now or datetime.now(UTC)) - _aware(when)
    if abs(delta) < timedelta(seconds=5):
        return "just now"
    return f"{age_text(delta)} ago" if delta > timedelta(0) else f"in {age_text(delta)}"


def json_text(value: Any) -> str:
    """A settings object as editable JSON text (a plain string: the template escapes it like any text,
    so quotes inside the JSON cannot end the HTML attribute or element it is shown in)."""
    if value in (None, "", {}):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def web_wording(message: str | None) -> str:
    """``message`` with its command-line hints replaced by the web action (see module doc)."""
    for pattern, instead in _WEB_ACTIONS:
        message = pattern.sub(lambda m, say=instead: say[0].upper() + say[1:] if m.group(0)[0].isupper() else say,
                              message or "")
    return message or ""
