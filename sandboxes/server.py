"""Shared machinery of the local marketplace (and ERP) sandboxes: server, clock, faults, limits.

Every sandbox is a real HTTP server on 127.0.0.1 (werkzeug's threaded WSGI server) that answers
like the real API documented in ``shared/specs``. This module holds what they all need, once:

- :class:`SandboxClock`: the sandbox's notion of now (follows real time by default, can be set,
  advanced or frozen) so token expiry and windows can be tested without waiting;
- :class:`FaultPlan`: faults injected on demand (``429``, ``500``, ``502``, ``503``, ``timeout``,
  ``malformed_json``, ``truncated_json``, ``error_envelope``), optionally only for one path;
- :class:`RateLimiter`: a per-key sliding one-second window;
- :class:`SandboxServer` / :class:`Sandbox`: start/stop, base URL, request log, and the common
  request pipeline (log → fault → dispatch).

A platform sandbox subclasses :class:`Sandbox` and implements :meth:`Sandbox.dispatch` plus the
admin helpers (:meth:`platform_fields`, :meth:`add_shop`, :meth:`consent`, :meth:`generate_orders`,
:meth:`update_order`, :meth:`shipment_of`) that tests and the demo use without knowing the platform.
"""

from __future__ import annotations

import abc
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from oms_bridge.remote.http import install_log_masking

__all__ = ["SandboxClock", "Fault", "FaultPlan", "RateLimiter", "SandboxServer", "Served", "Sandbox", "FAULT_KINDS",
           "json_response", "bearer_token"]

FAULT_KINDS = ("429", "500", "502", "503", "timeout", "malformed_json", "truncated_json", "error_envelope",
               "lost_answer")


class SandboxClock:
    """Now, as the sandbox sees it: real time plus an offset, or a frozen instant."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False):
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        if start is not None:
            self.set(start, frozen=frozen)
        elif frozen:
            self._frozen = datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def set(self, when: datetime, *, frozen: bool | None = None) -> None:
        if when.tzinfo is None:
            raise ValueError("SandboxClock.set needs an aware datetime")
        with self._lock:
            keep_frozen = self._frozen is not None if frozen is None else frozen
            if keep_frozen:
                self._frozen = when.astimezone(UTC)
            else:
                self._frozen = None
                self._offset = when - datetime.now(UTC)

    def advance(self, seconds: float = 0, **kw: float) -> None:
        delta = timedelta(seconds=seconds, **kw)
        with self._lock:
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta


@dataclass
class Fault:
    kind: str
    path: str | None = None  # only requests whose path contains this
    remaining: int = 1
    retry_after: int | None = 1  # for 429
    delay: float = 3.0  # for timeout: seconds to stall before answering


class FaultPlan:
    """Faults to inject into the next matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, kind: str, *, count: int = 1, path: str | None = None, retry_after: int | None = 1,
               delay: float = 3.0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, path, count, retry_after, delay))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path in path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class RateLimiter:
    """At most ``per_second`` requests per key in any sliding real second.

    Real (monotonic) time, not the sandbox clock: a frozen sandbox clock would otherwise never let a
    second pass. ``monotonic`` is injectable so a test can hold time still and count requests exactly,
    however slowly a loaded machine sends them.
    """

    def __init__(self, per_second: int, clock: SandboxClock, *, monotonic: Callable[[], float] = time.monotonic):
        self.per_second = per_second
        self.clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        if self.per_second <= 0:
            return True
        now = self._monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] >= 1.0:
                hits.popleft()
            if len(hits) >= self.per_second:
                return False
            hits.append(now)
            return True


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with UTF-8 (non-ASCII kept as-is, as the real APIs do)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=dict(headers or {}),
                    content_type="application/json; charset=utf-8")


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else ``""``."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def drop_connection(environ, start_response):
    """Close the client's connection without an answer: what a proxy or a network cut does *after* the
    server applied the request. The client cannot tell whether the call took effect."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    start_response("500 Connection Dropped", [("Content-Length", "0")])
    return [b""]


class SandboxServer:
    """Runs a WSGI callable on 127.0.0.1 in a daemon thread (its access log masks tokens and signs)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        install_log_masking("werkzeug")
        self._server = make_server(host, port, app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> SandboxServer:
        # a short poll interval so stop() returns at once (tests start and stop many sandboxes)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


class Served:
    """Lifecycle of an object serving its ``wsgi_app`` on 127.0.0.1: start / stop / ``with`` / URL.

    Shared by the marketplace sandboxes and the iDempiere sandbox, which differ in everything else.
    """

    _server: SandboxServer | None = None

    def wsgi_app(self, environ, start_response):  # pragma: no cover - subclasses answer requests
        raise NotImplementedError

    def start(self, port: int = 0) -> Self:
        self._server = SandboxServer(self.wsgi_app, port=port).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if not self._server:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._server.base_url


class Sandbox(Served, abc.ABC):
    """Base of every sandbox: a WSGI app with logging and fault injection around :meth:`dispatch`."""

    #: registry key of the adapter this sandbox imitates
    platform_type: str = ""

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1):
        self.clock = clock or SandboxClock()
        self.faults = FaultPlan()
        self.seed = seed
        self.request_log: list[tuple[str, str]] = []
        self._detail_reads = 0
        self._log_lock = threading.Lock()
        self._server: SandboxServer | None = None

    @property
    def base_url(self) -> str:
        return self.server_url

    # -- request pipeline ------------------------------------------------------------------------
    def calls(self, path_contains: str = "") -> int:
        """How many requests reached the sandbox (optionally only those whose path contains a string)."""
        with self._log_lock:
            return sum(1 for _m, p in self.request_log if path_contains in p)

    def reset_calls(self) -> None:
        with self._log_lock:
            self.request_log.clear()
            self._detail_reads = 0

    def detail_calls(self) -> int:
        """How many requests read orders by number (detail calls) since the last :meth:`reset_calls`: what a
        list-only pass (reconciliation) must never send."""
        with self._log_lock:
            return self._detail_reads

    def is_detail_read(self, request: Request) -> bool:
        """Whether a request reads orders by number rather than listing a window (platforms say which)."""
        return False

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        detail = self.is_detail_read(request)
        with self._log_lock:
            self.request_log.append((request.method, request.path))
            self._detail_reads += int(detail)
        fault = self.faults.take(request.path)
        response = self.apply_fault(fault, request) if fault else None
        if response is None:
            try:
                response = self.dispatch(request)
            except Exception as exc:  # noqa: BLE001 - a sandbox bug must show as a 500, not hang
                response = json_response({"error": "sandbox_internal", "message": repr(exc)}, 500)
        if fault is not None and fault.kind == "lost_answer":
            return drop_connection(environ, start_response)
        return response(environ, start_response)

    def apply_fault(self, fault: Fault, request: Request) -> Response | None:
        """The generic answer for a fault; platforms override for their own envelopes."""
        if fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return json_response(self.error_body("rate_limited", "Too many requests"), 429, headers)
        if fault.kind in ("500", "502", "503"):
            return Response("<html><body>Server Error</body></html>", status=int(fault.kind),
                            content_type="text/html")
        if fault.kind == "timeout":
            time.sleep(fault.delay)
            return None  # then answer normally (too late for a client with a short timeout)
        if fault.kind == "malformed_json":
            return Response("{not json", status=200, content_type="application/json")
        if fault.kind == "truncated_json":
            return Response('{"response": {"order_list": [{"order_sn": "', status=200,
                            content_type="application/json")
        if fault.kind == "error_envelope":
            return json_response(self.error_body("error_server", "Something wrong. Please try later."), 200)
        return None  # "lost_answer": the request is applied first, then the connection drops (wsgi_app)

    def error_body(self, code: str, message: str) -> Any:
        """The platform's error body shape (override per platform)."""
        return {"error": code, "message": message}

    @abc.abstractmethod
    def dispatch(self, request: Request) -> Response:
        """Answer one request as the real API would."""

    # -- admin helpers used by tests and the demo -----------------------------------------------
    @abc.abstractmethod
    def platform_fields(self) -> dict[str, Any]:
        """What the admin enters on ``oms_platform``: ``host``, ``app_id``, ``app_secret``, ``settings``."""

    @abc.abstractmethod
    def add_shop(self, **options: Any) -> dict[str, Any]:
        """Create a store account; returns the channel fields: ``shop_id``, ``credentials``, ``settings``."""

    def consent(self, authorize_url: str) -> dict[str, str]:
        """Play the merchant approving the app at ``authorize_url``; returns the callback query parameters."""
        raise NotImplementedError(f"{self.platform_type} has no OAuth consent")

    def follow_authorize(self, authorize_url: str, *, deny: bool = False) -> dict[str, str]:
        """Open a sandbox's own authorize page as the merchant, approving (or denying with ``decision=deny``),
        and return the query of the redirect it answers: what the OAuth callback would receive."""
        url = authorize_url + ("&decision=deny" if deny else "")
        response = requests.get(url, allow_redirects=False, timeout=5)
        if response.status_code != 302:
            raise RuntimeError(f"the sandbox authorize page answered {response.status_code}: {response.text}")
        return dict(parse_qsl(urlsplit(response.headers["Location"]).query))

    @abc.abstractmethod
    def generate_orders(self, shop_id: str, count: int, *, start: datetime | None = None,
                        end: datetime | None = None, **options: Any) -> list[str]:
        """Create ``count`` deterministic orders (spread over [start, end)); returns their external ids."""

    @abc.abstractmethod
    def update_order(self, shop_id: str, external_id: str, **changes: Any) -> None:
        """Change an order as the marketplace would (``status=...``, ``address=...``), bumping its update time."""

    @abc.abstractmethod
    def shipment_of(self, shop_id: str, external_id: str) -> dict[str, Any] | None:
        """The shipment the marketplace recorded for an order (tracking number, carrier), or None."""
