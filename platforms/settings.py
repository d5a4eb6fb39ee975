"""One rule for reading an adapter's settings: the channel's value wins over the platform's, then the default.

Every adapter reads its options from ``ChannelConfig.settings`` (one shop) and ``PlatformConfig.settings``
(every shop of the marketplace). Having the precedence in one function means a setting the admin puts on a
channel behaves the same on every marketplace. A value of ``None`` (a JSON ``null``) counts as "not set",
so clearing a channel setting falls back to the platform's; ``blank_is_unset`` also treats ``""`` that way
(for settings typed into a form, where an empty field means "use the default").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["lookup_setting", "as_flag"]


def lookup_setting(name: str, channel: Mapping[str, Any], platform: Mapping[str, Any], default: Any = None, *,
                   blank_is_unset: bool = False) -> Any:
    """``name`` from the channel settings, else the platform settings, else ``default``."""
    for source in (channel, platform):
        value = source.get(name)
        if value is None or (blank_is_unset and value == ""):
            continue
        return value
    return default


_TRUE = frozenset({"1", "true", "yes", "y", "on"})


def as_flag(value: Any, default: bool) -> bool:
    """A yes/no setting: JSON booleans as they are, strings typed into a form read as words
    (``"false"`` is False, not a truthy non-empty string), ``None`` is ``default``."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)
