"""Cyberbiz HTTP I/O: the order endpoints (V1 HMAC, V2 OAuth bearer or a static API token); OAuth is in
:mod:`platforms.cyberbiz.oauth`.

Only I/O lives here: building request lines, signing, sending through :class:`oms_bridge.remote.http.HttpClient`
(the one place that retries) and turning responses into data or typed errors (:func:`classify`).
Mapping to canonical orders is in :mod:`platforms.cyberbiz.mapping`.

Endpoints (spec §2, CBZ-SPEC):

- ``GET /v1/orders`` with ``updated_at_start_time``/``updated_at_end_time`` (Asia/Taipei local
  ``YYYY-MM-DD HH:MM:SS``), ``page`` (1-based), ``per_page`` (max 50); bare JSON array body; paging in
  ``X-Total``/``X-Total-Pages``/``X-Next-Page`` headers.
- ``GET /v1/orders/{id}`` (404 ``{"error":["無此資源"]}`` or ``200 null`` when absent).
- ``GET /v1/orders/{id}/fulfillments``.
- ``POST /v1/orders/{id}/fulfillments/custom_shipping`` → 201 fulfillment. It changes state, so it is
  sent with ``idempotent=False``: a lost answer is :class:`~platforms.base.OutcomeUnknown`, never re-sent
  (the adapter reads the fulfillments instead).

Error shapes (cyberbiz-openapi-v1.yaml): ``{"error":["…"]}``, ``{"error":"…"}``, ``{"message":"…"}``,
``{"messages":"…"}``; Kong answers ``{"message":"…"}``. How statuses are classified:

===============  =========================================================================
401/403/422      naming a feature the shop has not licensed (``無「電子票券」功能，請聯絡您的開店
                 顧問``, ``Must have … plugin``; :mod:`platforms.cyberbiz.refusals`):
                 :class:`FeatureNotLicensed` (permanent; no refresh can license a feature).
401 / 403        Kong hmac-auth (V1; 401 in current Kong, 403 before 1.0): :class:`CredentialsInvalid`
                 (message says bad signature, unknown key or clock skew).
401              static API token: :class:`CredentialsInvalid` (nothing to refresh: the merchant
                 copies the token again). V2 OAuth: :class:`AuthExpired` (refresh, retry once).
                 V1 (behind Kong): :class:`CredentialsInvalid`.
403 (other)      :class:`PermanentError`: the yaml's 403 is "not allowed in the resource's current
                 state, or a required plugin is missing" — not a token problem.
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

from oms_bridge.remote.http import HttpClient, RetryPolicy, json_body, parse_retry_after
from platforms.base import (
    AuthExpired,
    CredentialsInvalid,
    PermanentError,
    RateLimited,
    TransientError,
)
from platforms.cyberbiz.refusals import FeatureNotLicensed, is_kong_hmac_refusal, unlicensed_feature

__all__ = ["Reply", "OrderPage", "Pacer", "BearerAuth", "CyberbizClient", "classify", "error_message",
           "body_or_text", "path_with_query", "PLATFORM", "PER_PAGE_MAX", "TOKEN_FIX"]

PLATFORM = "cyberbiz"
PER_PAGE_MAX = 50
#: what the admin does when a pasted API token is refused
TOKEN_FIX = ("copy the shop's API token from the CYBERBIZ admin again (it must carry read_orders, and write_orders "
             "to ship) and store it with `oms-bridge channel update {channel} --token-stdin`")
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


def classify(response: requests.Response, *, auth_model: str = "v2", channel: str = "",
             unlicensed_patterns: tuple[str, ...] = ()) -> Reply:
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
    if status in (401, 403, 422):
        feature = unlicensed_feature(message, unlicensed_patterns)
        if feature is not None:
            named = f"the feature 「{feature}」" if feature else "a feature this call needs"
            raise FeatureNotLicensed(
                f"the shop's CYBERBIZ plan does not include {named} (HTTP {status}: {message}). This is not a "
                "token problem, so no token refresh is tried: ask the shop's CYBERBIZ consultant (開店顧問) to "
                "enable it for the shop, then run the process again", feature=feature, platform=PLATFORM,
                code="feature_not_licensed", status=status)
    if auth_model == "v1" and (status == 401 or (status == 403 and is_kong_hmac_refusal(message))):
        raise CredentialsInvalid(f"HMAC credentials rejected (HTTP {status}): {message}" + _v1_hint(message),
                                 platform=PLATFORM, status=status)
    if status == 401:
        if auth_model == "token":
            raise CredentialsInvalid(
                f"Cyberbiz refused the API token (HTTP 401: {message}): it is wrong, was replaced by a new one in "
                f"the shop admin, or lacks the scope this call needs; "
                + TOKEN_FIX.format(channel=channel or "<channel>"), platform=PLATFORM, status=status)
        raise AuthExpired(f"access token rejected (HTTP {status}): {message}", platform=PLATFORM, status=status)
    if status == 403:
        raise PermanentError(f"Cyberbiz refused the request (HTTP 403: {message}): not allowed in the order's "
                             "current state, or a plugin the shop lacks", platform=PLATFORM, status=status)
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
    """``Authorization: Bearer <token>`` (V2 OAuth access token or the shop's static API token).

    The token is read per request (an OAuth token may have been refreshed); ``missing`` is the error to
    raise when there is none (not authorized yet / no API token stored).
    """

    def __init__(self, token: Callable[[], str | None], missing: Callable[[], Exception] | None = None):
        self._token = token
        self._missing = missing or (lambda: AuthExpired("no access token for this channel yet (authorize it "
                                                        "first)", platform=PLATFORM))

    def headers(self, method: str, path_with_query: str, body: bytes | None = None) -> dict[str, str]:
        token = self._token()
        if not token:
            raise self._missing()
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
                 requests_per_second: float = 5, channel: str = "", unlicensed_patterns: tuple[str, ...] = ()):
        self.auth = auth
        self.auth_model = auth_model
        self.pacer = Pacer(requests_per_second)
        self.http = HttpClient(base_url, platform=PLATFORM, policy=policy,
                               classify=lambda r: classify(r, auth_model=auth_model, channel=channel,
                                                           unlicensed_patterns=unlicensed_patterns))

    @property
    def calls(self) -> int:
        return self.http.calls

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None = None, json_body: Any = None, *,
              idempotent: bool = True) -> Reply:
        target = path_with_query(path, params)

        # The body is serialised here, once, so a signed Digest covers exactly the bytes sent.
        body = None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode("utf-8")

        def prepare() -> dict[str, Any]:
            self.pacer.wait()
            headers = self.auth.headers(method, target, body)
            if body is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            return {"headers": headers}

        return self.http.request(method, target, data=body, prepare=prepare, idempotent=idempotent)

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
        """Record a self-shipped fulfillment with a tracking number (201 with the fulfillment).

        State-changing: sent once (``idempotent=False``); a lost answer raises OutcomeUnknown.
        """
        reply = self._send("POST", f"/v1/orders/{quote(str(order_id), safe='')}/fulfillments/custom_shipping",
                           json_body=dict(body), idempotent=False)
        return dict(reply.body or {})
