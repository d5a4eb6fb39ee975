"""Reading a JSON request body the OMS sends, safely: one function for the API and the webhooks.

``json.loads`` alone is not enough for a body from outside:

- it accepts UTF-16 and UTF-32 (it sniffs the encoding), whose text then holds NUL characters that
  PostgreSQL refuses to store: RFC 8259 says JSON between systems is UTF-8, so anything else is a 400;
- deep nesting (``[[[[...]]]]`` 100,000 levels) raises ``RecursionError`` (a 500), and even a nesting
  Python can parse is no use to us: more than :data:`MAX_DEPTH` levels is a 400;
- ``"\\ud800"`` parses to a lone surrogate, which cannot be encoded for the database or a log (a 500
  far from the request): refused here, naming where it was found.

Every problem is a :class:`~oms_bridge.oms.filters.FilterError` whose field is ``body`` (or the path
of the offending value), which the routes answer with 400.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

from oms_bridge.oms.filters import FilterError

__all__ = ["MAX_DEPTH", "parse_json", "json_body"]

#: Deepest nesting accepted (the OMS's documents nest a handful of levels).
MAX_DEPTH = 32


def parse_json(body: bytes, where: str = "body") -> Any:
    """The JSON value of ``body`` (see module doc); raises :class:`FilterError` naming the problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FilterError(where, "not UTF-8 encoded JSON (JSON between systems must be UTF-8)") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise FilterError(where, f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        raise FilterError(where, "not valid JSON") from None
    _check(value, where)
    return value


def _check(value: Any, where: str) -> None:
    """Depth and lone surrogates, walked without recursion (so the walk itself cannot overflow)."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FilterError(where, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            if _has_surrogate(item):
                raise FilterError(path, "contains a lone surrogate (\\ud800-\\udfff is not valid Unicode text)")
        elif isinstance(item, dict):
            for key, child in item.items():
                if _has_surrogate(key):
                    raise FilterError(path, "has a key with a lone surrogate (not valid Unicode text)")
                name = key[:40] if depth == 0 else f"{path}.{key[:40]}"  # top-level fields are named alone
                stack.append((child, name if len(path) < 200 else path, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{n}]" if len(path) < 200 else path, depth + 1)
                         for n, child in enumerate(item))


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def json_body(request: Request) -> Any:
    """A FastAPI dependency: the request's JSON body, read only after the route's token guard passed.

    Declared after the guard (route-level dependencies run first), unlike a ``Body(...)`` parameter,
    which FastAPI reads and parses before any dependency runs."""
    try:
        return parse_json(await request.body())
    except FilterError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
