"""What every admin service shares: the errors it raises and the input rules it applies the same way.

A value (``shopee-tw``, ``shop-a``) is 1-60 safe characters; a host is an http(s) URL; settings are a JSON
object; a platform type is one the registry knows. ``UNSET`` marks "leave unchanged" in the update
functions (``None`` means "clear"). A secret leaves a view masked (:func:`masked`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.vault import Vault, mask
from platforms.registry import UnknownPlatform, adapter_class, platform_types

__all__ = ["ConfigError", "NotFound", "Duplicate", "UNSET", "check_value", "check_type", "check_host",
           "settings_text", "settings_dict", "flush", "masked"]


class ConfigError(ValueError):
    """Invalid configuration input; the message says what to fix."""


class NotFound(ConfigError):
    """The named platform/channel does not exist."""


class Duplicate(ConfigError):
    """The value is already taken."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: Marks "leave unchanged" in update functions (``None`` means "clear").
UNSET: Any = _Unset()

_VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")


def check_value(kind: str, value: str) -> str:
    """The stripped value (a platform/channel key), or a :class:`ConfigError` saying what is allowed."""
    value = (value or "").strip()
    if not _VALUE_RE.match(value):
        raise ConfigError(f"{kind} value {value!r} is invalid: use 1-60 letters, digits, '.', '_' or '-' "
                          "(starting with a letter or digit)")
    return value


def check_type(platform_type: str) -> str:
    """The platform type if the registry knows it, else a :class:`ConfigError` listing the known ones."""
    try:
        adapter_class(platform_type)
    except UnknownPlatform:
        raise ConfigError(f"unknown platform type {platform_type!r}; known types: {', '.join(platform_types())}") \
            from None
    return platform_type


def check_host(host: str) -> str:
    """The host as an http(s) URL without a trailing slash, or a :class:`ConfigError` with an example."""
    host = (host or "").strip().rstrip("/")
    parsed = urlparse(host)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"host {host!r} is not an http(s) URL, e.g. https://partner.shopeemobile.com")
    return host


def settings_text(settings: Mapping[str, Any] | None) -> str | None:
    """Settings as the stored JSON text (keys sorted), or a :class:`ConfigError` if they are no JSON object."""
    if settings is None:
        return None
    if not isinstance(settings, Mapping):
        raise ConfigError("settings must be a JSON object (key/value pairs)")
    try:
        return json.dumps(dict(settings), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"settings are not JSON-serialisable: {exc}") from None


def settings_dict(text: str | None) -> dict[str, Any]:
    """Stored settings text back as a dict; unreadable text is shown, never raised (a view must render)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {"_invalid_json": text[:80]}
    return data if isinstance(data, dict) else {"_value": data}


def flush(session: Session, what: str) -> None:
    """Flush, turning a unique-key violation into :class:`Duplicate` naming ``what``."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Duplicate(f"{what} already exists") from exc


def masked(vault: Vault | None, token: str | None, what: str) -> str:
    """A stored secret for a view: empty, ``****`` without a vault, else its last characters only."""
    if not token:
        return ""
    if vault is None:
        return "****"
    return mask(vault.decrypt(token, what=what))
