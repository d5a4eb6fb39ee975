"""Refuse a request whose path or query string holds text no handler should see (ASGI middleware).

NUL characters (PostgreSQL text cannot hold them: a database error, i.e. a 500, on PostgreSQL only),
other control characters (CR/LF forge log lines; a value containing them is never a legitimate id,
name or filter) and percent-encodings that are not UTF-8 (lone surrogates such as ``%ED%A0%80``, which
Starlette would silently turn into U+FFFD). One check for every route, before any handler runs: 400
naming the parameter. Tabs are allowed. Bodies are checked where they are parsed (forms in
:mod:`oms_bridge.web.pages`, JSON in :mod:`oms_bridge.oms.json_body`).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RequestTextMiddleware", "text_problem"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def text_problem(value: str) -> str | None:
    """What is wrong with a piece of request text, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if _CONTROL.search(value):
        return "contains a control character"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "contains a lone surrogate (not valid Unicode)"
    return None


def _decoded(raw: bytes, *, plus_is_space: bool = True) -> str | None:
    """``raw`` percent-decoded as strict UTF-8 (in a query ``+`` is a space), or None when it is not UTF-8."""
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ") if plus_is_space else raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _query_problem(query: bytes) -> tuple[str, str] | None:
    for pair in query.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decoded(raw_name)
        if name is None:
            return "query parameter name", "is not valid UTF-8 (percent-encoded bytes must be UTF-8)"
        problem = text_problem(name)
        if problem:
            return "query parameter name", problem
        value = _decoded(raw_value)
        if value is None:
            return f"query parameter {name!r}", "is not valid UTF-8 (percent-encoded bytes must be UTF-8)"
        problem = text_problem(value)
        if problem:
            return f"query parameter {name!r}", problem
    return None


class RequestTextMiddleware:
    """400 for a path or query string with NUL, control characters or non-UTF-8 encodings."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = None
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            path = _decoded(raw_path, plus_is_space=False)
            if path is None:
                found = ("path", "is not valid UTF-8 (percent-encoded bytes must be UTF-8)")
            elif text_problem(path):
                found = ("path", text_problem(path))
            else:
                found = _query_problem(scope.get("query_string", b""))
            if found:
                body = json.dumps({"detail": f"{found[0]}: {found[1]}", "field": found[0]}).encode()
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
