"""Masking of secrets in text that may reach a log, an error message or a page.

Why a module of its own: :class:`platforms.base.PlatformError` masks every message it is given (so a client
that quotes a broken answer cannot leak the token in it), and :mod:`oms_bridge.remote.http` masks URLs and log
records; both need the same rules, and ``base`` must not import ``http``. This module imports nothing in-house.

What is masked (the value becomes ``****``), for names that look secret (``sign``, ``signature``,
``access_token``, ``refresh_token``, ``code``, ``partner_key``, ``client_secret``, ``password``, ``entpPwd``,
anything containing token/secret/sign/password/pwd/key):

- query and form pairs: ``?name=value``, ``&name=value`` and ``name=value`` at the start or after a space;
- JSON pairs: ``"name": "value"`` (also when the body was cut off inside the value); the bare name ``code``
  is left alone here, since it is the error code in most marketplaces' JSON error bodies;
- ``Bearer <token>`` and Kong's ``signature="<hmac>"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["SECRET_PARAM_NAMES", "is_secret", "mask_url", "mask_text", "mask_mapping"]

SECRET_PARAM_NAMES = frozenset({
    "sign", "signature", "access_token", "refresh_token", "code", "partner_key", "client_secret",
    "password", "entppwd", "token", "authorization", "secret", "api_key", "apikey",
})
_SECRET_RE = re.compile(r"(token|secret|sign|password|pwd|key)", re.I)
#: JSON names that are secret-looking by the rules above but are error codes, not secrets
_JSON_NOT_SECRET = frozenset({"code"})

_QUERY_PAIR_RE = re.compile(r"(^|[?&\s])([^=&\s\"'#?]+)=([^&\s\"'#]*)")
_JSON_PAIR_RE = re.compile(r'("([^"\\]{1,64})"\s*:\s*")((?:[^"\\]|\\.)*)')
_BEARER_RE = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
_HMAC_SIGNATURE_RE = re.compile(r'(\bsignature=")[^"]*', re.I)


def is_secret(name: str) -> bool:
    """True for a parameter/field name whose value must never be shown."""
    return name.lower() in SECRET_PARAM_NAMES or bool(_SECRET_RE.search(name))


def mask_url(url: str) -> str:
    """The URL with every secret-looking query parameter replaced by ``****``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "****" if is_secret(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*,")))


def _mask_json_pair(match: re.Match[str]) -> str:
    name = match[2]
    if is_secret(name) and name.lower() not in _JSON_NOT_SECRET:
        return f"{match[1]}****"
    return match[0]


def mask_text(text: str) -> str:
    """Free text (a log line, an error message, a body excerpt) with every secret value masked."""
    if not text:
        return text
    text = _QUERY_PAIR_RE.sub(lambda m: f"{m[1]}{m[2]}=****" if is_secret(m[2]) else m[0], text)
    text = _JSON_PAIR_RE.sub(_mask_json_pair, text)
    text = _BEARER_RE.sub(r"\1****", text)
    return _HMAC_SIGNATURE_RE.sub(r"\1****", text)


def mask_mapping(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A shallow copy with secret-looking keys masked (for logs and error messages)."""
    if not data:
        return {}
    return {k: ("****" if is_secret(str(k)) else v) for k, v in data.items()}
