"""Request body caps, enforced before and while the body is read (ASGI middleware).

Why not only in the handlers: a handler (or FastAPI parsing a declared body) reads the whole body into
memory first; a 20 MB JSON body cost the server 464 MB before anyone looked at it. Here:

- a ``Content-Length`` above the route's cap is answered ``413`` at once, without reading a byte;
- a body without ``Content-Length`` (chunked) is counted as it streams in, and the request ends with
  ``413`` as soon as it passes the cap (the rest is never read: the connection is closed).

Caps per route class (:meth:`~oms_bridge.web.http_settings.HttpSettings.body_limit`): the OMS API and
webhooks (``api_max_body_bytes``, 1 MiB) and everything else (``admin_max_body_bytes``, 64 KiB). The
routes that need a token check it before they read the body at all (see :mod:`oms_bridge.oms.deps`).
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oms_bridge.settings import get_settings
from oms_bridge.web.http_settings import http_settings

__all__ = ["BodyLimitMiddleware", "BodyTooLarge"]


class BodyTooLarge(HTTPException):
    """The body passed its route's cap while it was being read."""

    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body too large: this route accepts at most {limit} bytes")


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies above the route's cap (see module doc)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = http_settings(get_settings()).body_limit(scope["path"])
        declared = [v for k, v in scope.get("headers", []) if k == b"content-length"]
        if declared:
            text = declared[0].decode("latin-1").strip()
            if not text.isdigit() or len(declared) > 1:
                await _answer(send, 400, "Content-Length is not a single number")
                return
            if int(text) > limit:
                await _answer(send, 413, BodyTooLarge(limit).detail)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:  # raised where no exception handler turned it into the 413 answer
            if started:
                raise
            await _answer(send, 413, str(exc.detail))
