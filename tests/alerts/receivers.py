"""Real notification receivers on 127.0.0.1 for the alert tests (a module of its own, not conftest).

- :class:`WebhookReceiver`: an HTTP server that records every JSON POST (apprise's ``json://`` sends
  ``{"version", "title", "message", "type"}``); ``fail_next(n)`` answers the next n requests with 500.
- :class:`SmtpReceiver`: an aiosmtpd SMTP server that records every message (apprise's ``mailto://``).
"""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebhookReceiver:
    """Records JSON posts; ``url(path)`` is the apprise URL that reaches it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._fail = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    if receiver._fail > 0:
                        receiver._fail -= 1
                        status = 500
                    else:
                        status = 200
                        receiver.posts.append(json.loads(body or b"{}"))
                        receiver.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "hook/s3cr3t-hook-key") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail = count

    def titles(self) -> list[str]:
        with self._lock:
            return [p.get("title", "") for p in self.posts]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.posts) >= count:
                    return list(self.posts)
            time.sleep(0.05)
        with self._lock:
            return list(self.posts)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class SmtpReceiver:
    """An SMTP server on 127.0.0.1; ``url()`` is the apprise mailto:// URL that reaches it."""

    def __init__(self) -> None:
        self.collector = _Collector()
        self.port = free_port()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()

    def url(self, to: str = "ops@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=bridge@example.com&to={to}&mode=insecure"

    @property
    def messages(self) -> list[Message]:
        return list(self.collector.messages)

    def subjects(self) -> list[str]:
        return [str(email.header.make_header(email.header.decode_header(m["Subject"] or ""))) for m in self.messages]

    def text(self, index: int) -> str:
        message = self.messages[index]
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        return ""
