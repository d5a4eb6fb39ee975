"""Cyberbiz HTTP I/O: the order endpoints (V1 HMAC or V2 bearer); OAuth is in :mod:`platforms.cyberbiz.oauth`.

Only I/O lives here: building request lines, signing, sending through :class:`platforms.http.HttpClient`
(the one place that retries) and turning responses into data or typed errors (:func:`classify`).
Mapping to canonical orders is in :mod:`platforms.cyberbiz.mapping`.

Endpoints (spec §2, CBZ-SPEC):

- ``GET /v1/orders`` with ``updated_at_start_time``/``updated_at_end_time`` (Asia/Taipei local
  ``YYYY-MM-DD HH:MM:SS``), ``page`` (1-based), ``per_page`` (max 50); bare JSON array body; paging in
  ``X-Total``/``X-Total-Pages``/``X-Next-Page`` headers.
- ``GET /v1/orders/{id}`` (404 ``{"error":["無此資源"]}`` or ``200 null`` when absent).
- ``GET /v1/orders/{id}/fulfillments``.
- ``POST /v1/orders/{id}/fulfillments/custom_shipping`` → 201 fulfillment.

Error shapes (all seen in CBZ-SPEC): ``{"error":["…"]}``, ``{"error":"…"}``, ``{"message":"…"}``,
``{"messages":"…"}``; Kong answers ``{"message":"…"}``. How statuses are classified:

===============  =========================================================================
401 / 403        V1 (Kong hmac-auth): :class:`CredentialsInvalid` (message says bad signature,
                 unknown key or clock skew). V2 401: :class:`AuthExpired` (refresh, retry once);
                 V2 403 (a scope the token lacks): :class:`ReauthRequired` (a refresh keeps the
                 same scopes, only a new consent helps) — a choice, CBZ-SPEC only lists 403.
404              :class:`PermanentError` (``無此資源``); lookups turn it into "absent".
429              :class:`RateLimited` with ``Retry-After`` (5 requests/s per token).
5xx              :class:`TransientError`.
other 4xx        :class:`PermanentError` with the platform's message.
2xx bad JSON     :class:`TransientError` (malformed or truncated body).
2xx error body   :class:`TransientError` (a JSON object holding only an error where data was
                 expected; unknown cause, so retried, then reported with the message).
===============  =========================================================================
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests

from platforms.base import (
    AuthExpired,
    CredentialsInvalid,
    PermanentError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from platforms.http import HttpClient, RetryPolicy, json_body, parse_retry_after

__all__ = ["Reply", "OrderPage", "Pacer", "BearerAuth", "CyberbizClient", "classify", "error_message",
           "body_or_text", "path_with_query", "PLATFORM", "PER_PAGE_MAX"]

PLATFORM = "cyberbiz"
PER_PAGE_MAX = 50
_ERROR_KEYS = ("error", "errors", "message", "messages", "error_description")


@dataclass(frozen=True)
class Reply:
    """A classified 2xx answer: status, parsed body (may be None for ``200 null``) and headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class OrderPage:
    """One page of ``GET /v1/orders``."""

    orders: list[dict[str, Any]]
    page: int
    total: int | None
    total_pages: int | None
    next_page: int | None


def error_message(body: Any) -> str:
    """The human message in any of Cyberbiz's error shapes (or the body itself, shortened)."""
    if isinstance(body, Mapping):
        for key in _ERROR_KEYS:
            value = body.get(key)
            if isinstance(value, list) and value:
                return "; ".join(str(v) for v in value)
            if isinstance(value, str) and value:
                return value
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text[:300]


def _is_error_body(body: Any) -> bool:
    return isinstance(body, Mapping) and bool(body) and set(body) <= set(_ERROR_KEYS)


def body_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason


def classify(response: requests.Response, *, auth_model: str = "v2") -> Reply:
    """Turn one response into a :class:`Reply` or raise the typed error (table in the module docstring)."""
    status = response.status_code
    if 200 <= status < 300:
        body = json_body(response, platform=PLATFORM, empty_is_none=True)
        if _is_error_body(body):
            raise TransientError(f"error body with HTTP {status}: {error_message(body)}", platform=PLATFORM,
                                 status=status)
        return Reply(status, body, response.headers)
    message = error_message(body_or_text(response))
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited(f"rate limited: {message}", retry_after=retry_after, platform=PLATFORM, status=status)
    if status >= 500:
        raise TransientError(f"server error HTTP {status}: {message}", platform=PLATFORM, status=status)
    if status in (401, 403):
        if auth_model == "v1":
            raise CredentialsInvalid(f"HMAC credentials rejected (HTTP {status}): {message}"
                                     + _v1_hint(message), platform=PLATFORM, status=status)
        if status == 403:
            raise ReauthRequired(f"the app may not do this for the shop (HTTP 403): {message}; authorize the app "
                                 "again granting the scopes it asks for (read_orders, write_orders)",
                                 platform=PLATFORM, status=status)
        raise AuthExpired(f"access token rejected (HTTP {status}): {message}", platform=PLATFORM, status=status)
    if status == 404:
        raise PermanentError(f"not found: {message}", platform=PLATFORM, code="not_found", status=status)
    raise PermanentError(f"request refused (HTTP {status}): {message}", platform=PLATFORM, status=status)


def _v1_hint(message: str) -> str:
    if "date" in message.lower():
        return " — the X-Date is too far from Cyberbiz's clock: check this server's time (NTP)"
    if "does not match" in message:
        return " — check the HMAC secret of this channel"
    return " — check the HMAC username and secret of this channel"


class BearerAuth:
    """V2: ``Authorization: Bearer <token>``; the token is read per request (it may have been refreshed)."""

    def __init__(self, token: Callable[[], str | None]):
        self._token = token

    def headers(self, method: str, path_with_query: str, body: bytes | None = None) -> dict[str, str]:
        token = self._token()
        if not token:
            raise AuthExpired("no access token for this channel yet (authorize it first)", platform=PLATFORM)
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def __repr__(self) -> str:
        return "BearerAuth(token='****')"


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = (headers.get(name) or "").strip()
    try:
        return int(value) if value else None
    except ValueError:
        return None


def path_with_query(path: str, params: Mapping[str, Any] | None) -> str:
    """``path?query`` exactly as sent and signed (``%20`` for spaces, so no ``+`` ambiguity)."""
    if not params:
        return path
    return path + "?" + urlencode([(k, v) for k, v in params.items() if v is not None], quote_via=quote)


class Pacer:
    """Keeps us under Cyberbiz's "at most 5 requests per second per token" instead of provoking 429s.

    A sliding one-second window of send times (real monotonic time: the limit is the server's real
    second). ``margin`` widens the window a little for network jitter; 0 requests/s disables pacing.
    """

    def __init__(self, per_second: float, *, margin: float = 0.1, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic):
        self.per_second = int(per_second)
        self.margin = margin
        self._sleep = sleep
        self._monotonic = monotonic
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            window = 1.0 + self.margin
            now = self._monotonic()
            while self._sent and now - self._sent[0] >= window:
                self._sent.popleft()
            if len(self._sent) >= self.per_second:
                self._sleep(max(0.0, self._sent[0] + window - now))
                self._sent.popleft()
                now = self._monotonic()
            self._sent.append(now)


class CyberbizClient:
    """The order endpoints on one API host, authenticated by an ``auth`` object (HmacAuth or BearerAuth)."""

    def __init__(self, base_url: str, auth: Any, *, auth_model: str, policy: RetryPolicy | None = None,
                 requests_per_second: float = 5):
        self.auth = auth
        self.auth_model = auth_model
        self.pacer = Pacer(requests_per_second)
        self.http = HttpClient(base_url, platform=PLATFORM, policy=policy,
                               classify=lambda r: classify(r, auth_model=auth_model))

    @property
    def calls(self) -> int:
        return self.http.calls

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None = None, json_body: Any = None) -> Reply:
        target = path_with_query(path, params)

        # The body is serialised here, once, so a signed Digest covers exactly the bytes sent.
        body = None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode("utf-8")

        def prepare() -> dict[str, Any]:
            self.pacer.wait()
            headers = self.auth.headers(method, target, body)
            if body is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            return {"headers": headers}

        return self.http.request(method, target, data=body, prepare=prepare)

    def list_orders(self, *, updated_start: str | None = None, updated_end: str | None = None, page: int = 1,
                    per_page: int = PER_PAGE_MAX, **filters: Any) -> OrderPage:
        """One page of orders updated in [start, end] (Taipei-local strings, both ends inclusive)."""
        params = {"updated_at_start_time": updated_start, "updated_at_end_time": updated_end, **filters,
                  "page": page, "per_page": per_page}
        reply = self._send("GET", "/v1/orders", params)
        body = reply.body
        if reply.status == 206 and not body:
            body = []
        if body is None:
            body = []
        if not isinstance(body, list):
            raise TransientError(f"GET /v1/orders answered a {type(body).__name__}, expected a JSON array",
                                 platform=PLATFORM, status=reply.status)
        return OrderPage(orders=body, page=page, total=_int_header(reply.headers, "X-Total"),
                         total_pages=_int_header(reply.headers, "X-Total-Pages"),
                         next_page=_int_header(reply.headers, "X-Next-Page"))

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """One order, or None when Cyberbiz says it does not exist (404, ``200 null``, ``206 []``)."""
        try:
            reply = self._send("GET", f"/v1/orders/{quote(str(order_id), safe='')}")
        except PermanentError as exc:
            if exc.status == 404:
                return None
            raise
        if not reply.body:
            return None
        if not isinstance(reply.body, Mapping):
            kind = type(reply.body).__name__
            raise TransientError(f"GET /v1/orders/{order_id} answered a {kind}, expected an object",
                                 platform=PLATFORM, status=reply.status)
        return dict(reply.body)

    def fulfillments(self, order_id: str) -> list[dict[str, Any]]:
        reply = self._send("GET", f"/v1/orders/{quote(str(order_id), safe='')}/fulfillments")
        return list(reply.body or [])

    def custom_shipping(self, order_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Record a self-shipped fulfillment with a tracking number (201 with the fulfillment)."""
        reply = self._send("POST", f"/v1/orders/{quote(str(order_id), safe='')}/fulfillments/custom_shipping",
                           json_body=dict(body))
        return dict(reply.body or {})
