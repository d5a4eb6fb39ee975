"""OAuth pieces every authorization-code platform (Cyberbiz V2, Shopline, Shopee) does the same way.

Kept here once so a rule is the same everywhere: the authorize link's query, what a callback that
carries ``error`` instead of ``code`` means (the merchant refused: only a new consent helps, so
:class:`ReauthRequired`), that a token answer without ``access_token`` is a broken answer (retried
like any other), and how a lifetime such as ``expires_in`` is read (a missing, zero, negative or
non-numeric value means "not given", so the platform's configured default applies instead of a
traceback). What differs per platform (endpoints, extra fields, how refresh tokens live) stays in
each platform's adapter and client.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from platforms.base import PermanentError, ReauthRequired, TransientError

__all__ = ["authorize_link", "callback_code", "lifetime", "expires_after", "token_answer"]


def authorize_link(page_url: str, *, client_id: str, redirect_uri: str, state: str, scope: str,
                   extra: Mapping[str, str] | None = None) -> str:
    """The consent page URL with the standard code-grant query (``response_type=code``)."""
    query = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope,
             "state": state, **(extra or {})}
    return f"{page_url}?{urlencode(query)}"


def callback_code(params: Mapping[str, str], *, platform: str) -> str:
    """The ``code`` of an OAuth callback; a refusal is :class:`ReauthRequired` naming the platform's reason."""
    if params.get("error"):
        error = str(params["error"])
        description = params.get("error_description")
        reason = f"{error} ({description})" if description and description != error else error
        raise ReauthRequired(f"the merchant did not grant access: {reason}", platform=platform, code=error)
    code = params.get("code")
    if not code:
        raise PermanentError("the OAuth callback has no 'code' parameter", platform=platform)
    return str(code)


def lifetime(value: Any) -> float | None:
    """Seconds from a token answer's ``expires_in``-like field, or None when absent or not a positive number."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def expires_after(now: datetime, value: Any, default_seconds: float) -> datetime:
    """``now`` plus the answer's lifetime, or plus ``default_seconds`` when the answer gives none."""
    return now + timedelta(seconds=lifetime(value) or default_seconds)


def token_answer(body: Any, *, platform: str, status: int | None = None) -> dict[str, Any]:
    """A token endpoint's answer as a dict; one without ``access_token`` is broken (transient, retried)."""
    if not isinstance(body, Mapping) or not body.get("access_token"):
        raise TransientError(f"{platform} token answer has no access_token", platform=platform, status=status)
    return dict(body)
