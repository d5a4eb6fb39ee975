"""Shopee Open Platform v2 client: I/O only, one method per endpoint, errors typed in one place.

ref: shared/specs/marketplaces.md §1. The client signs every attempt afresh (the timestamp must be
within 5 minutes of Shopee's clock), sends it through :class:`oms_bridge.remote.http.HttpClient` (the one
place that decides retry vs fail) and returns the ``response`` payload (or the whole envelope for the
auth endpoints, whose fields sit at top level). It never maps orders; :mod:`platforms.shopee.mapping`
does.

Error classification (:func:`classify`); Shopee documents neither HTTP statuses nor a rate-limit code,
so the envelope's ``error`` decides when it is present and the status decides otherwise:

- HTTP 429, or an ``error`` containing ``rate_limit``/``too_many``  → :class:`RateLimited`
  (``retry_after`` from ``Retry-After``);
- HTTP 5xx, a 2xx body that is not JSON (malformed or truncated), or ``error_server``/``error_network``/
  ``error_inner``/``error_busy``/``error_system`` → :class:`TransientError`;
- ``error_auth`` "Invalid access_token." → :class:`AuthExpired` (refresh, retry once);
  ``error_auth`` "No permission…" and ``error_permission`` → :class:`PermanentError`;
- ``error_sign`` and "Invalid partner_id" → :class:`CredentialsInvalid` (partner id/key wrong);
- anything else (``error_param``, ``error_not_found``, ``order.*``, ``logistics.*``…), and a 4xx whose body
  is not Shopee's JSON (a wrong host answering an HTML 404) → :class:`PermanentError`.

On the token endpoints (:meth:`ShopeeClient.get_token`, :meth:`ShopeeClient.refresh_access_token`) a
permanent answer that is not about the partner's own credentials or this machine's clock means the code or
refresh token is dead: :class:`ReauthRequired`.

"Invalid timestamp" means the request's ``timestamp`` is more than 5 minutes off Shopee's clock (every call
carries one, valid 5 minutes: Authorization-and-Authentication guide): :class:`ShopeeClockError`, whose
message tells the admin to check this machine's clock.

State-changing calls go out with ``idempotent=False`` (:meth:`oms_bridge.remote.http.HttpClient.request`): a lost
answer raises :class:`~platforms.base.OutcomeUnknown` after one request and is never re-sent here. They are
``ship_order`` (a second call for a shipped order is refused), ``handle_buyer_cancellation`` (a request answered
once is no longer open) and the two token calls: ``auth/token/get``
spends a single-use code and ``auth/access_token/get`` a single-use refresh token, so a blind resend after a
lost answer would be refused and blamed on the token. Reads sent as POST (``get_mass_tracking_number``) stay
idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import requests

from oms_bridge.remote.http import HttpClient, RetryPolicy, parse_retry_after
from platforms.base import (
    AuthExpired,
    CredentialsInvalid,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from platforms.shopee import signing

__all__ = ["ShopeeClient", "ShopeeClockError", "classify", "PRODUCTION_HOST", "SANDBOX_HOST",
           "DETAIL_OPTIONAL_FIELDS", "MAX_PAGE_SIZE", "MAX_DETAIL_BATCH", "MAX_WINDOW_SECONDS", "MAX_TRACKING_BATCH",
           "TIMESTAMP_TOLERANCE_SECONDS"]

PLATFORM = "shopee"
PRODUCTION_HOST = "https://partner.shopeemobile.com"
SANDBOX_HOST = "https://openplatform.sandbox.test-stable.shopee.sg"
MAX_PAGE_SIZE = 100
MAX_DETAIL_BATCH = 50
MAX_WINDOW_SECONDS = 15 * 86400
#: get_mass_tracking_number / get_package_detail take 1..50 packages (inferred from Shopee's other mass calls)
MAX_TRACKING_BATCH = 50
#: a request's timestamp (and a consent link's) is valid this long (Authorization-and-Authentication guide)
TIMESTAMP_TOLERANCE_SECONDS = 300

#: get_order_detail optional fields the canonical order needs.
DETAIL_OPTIONAL_FIELDS = (
    "buyer_user_id", "buyer_username", "recipient_address", "item_list", "package_list", "pay_time",
    "total_amount", "payment_method", "shipping_carrier", "note", "estimated_shipping_fee",
    "actual_shipping_fee", "cancel_reason", "buyer_cancel_reason", "cancel_by",
)

_TRANSIENT_CODES = ("error_server", "error_network", "error_inner", "error_busy", "error_system")


class ShopeeClockError(PermanentError):
    """Shopee refused the request's timestamp: this machine's clock is more than 5 minutes off."""


def _error_code(body: Mapping[str, Any]) -> str:
    return str(body.get("error") or "")


def _short_code(code: str) -> str:
    """``common.error_auth`` and ``error_auth`` are the same error."""
    return code.removeprefix("common.")


def classify(response: requests.Response) -> dict[str, Any]:
    """The parsed envelope of a successful call, or the typed error Shopee's answer means."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    try:
        body = response.json()
    except ValueError:
        body = None
    if status == 429:
        message = (body or {}).get("message") if isinstance(body, dict) else None
        raise RateLimited(message or "rate limited (HTTP 429)", retry_after=retry_after, platform=PLATFORM,
                          code=_error_code(body) if isinstance(body, dict) else "", status=status)
    if status >= 500:
        raise TransientError(f"server error HTTP {status}", platform=PLATFORM, status=status,
                             code=_error_code(body) if isinstance(body, dict) else "")
    if not isinstance(body, dict):
        snippet = response.text[:80].replace("\n", " ")
        if 400 <= status < 500 and status != 408:
            raise PermanentError(f"HTTP {status} with a body that is not Shopee's JSON (check the host): {snippet!r}",
                                 platform=PLATFORM, status=status)
        raise TransientError(f"unreadable response (HTTP {status}, not a JSON object): {snippet!r}",
                             platform=PLATFORM, status=status)
    code = _error_code(body)
    if not code:
        if status >= 400:
            raise PermanentError(f"HTTP {status} without an error code", platform=PLATFORM, status=status)
        return body
    raise _typed_error(code, str(body.get("message") or ""), str(body.get("request_id") or ""), status,
                       retry_after)


def _typed_error(code: str, message: str, request_id: str, status: int, retry_after: float | None) -> PlatformError:
    short = _short_code(code)
    kw = {"platform": PLATFORM, "code": code, "request_id": request_id, "status": status}
    text = message or code
    lowered = f"{short} {message}".lower()
    if "rate_limit" in lowered or "too_many" in lowered or "too many requests" in lowered:
        return RateLimited(text, retry_after=retry_after, **kw)
    if short in _TRANSIENT_CODES:
        return TransientError(text, **kw)
    if short == "error_auth":
        if "permission" in message.lower():
            return PermanentError(text, **kw)
        return AuthExpired(text, **kw)
    if short == "error_sign" or "invalid partner_id" in message.lower():
        return CredentialsInvalid(f"{text} (check the partner id and partner key)", **kw)
    if "invalid timestamp" in message.lower():
        return ShopeeClockError(
            f"{text}: Shopee accepts a request only within {TIMESTAMP_TOLERANCE_SECONDS // 60} minutes of its own "
            "clock; check this machine's clock and time zone (NTP) and try again", **kw)
    return PermanentError(text, **kw)


def classify_token(response: requests.Response) -> dict[str, Any]:
    """:func:`classify` for the token endpoints: a dead code or refresh token means re-authorize."""
    try:
        return classify(response)
    except (TransientError, CredentialsInvalid, ShopeeClockError):
        raise
    except PlatformError as exc:
        raise ReauthRequired(f"Shopee refused the grant, the shop must authorize again: {exc.message}",
                             platform=PLATFORM, code=exc.code, request_id=exc.request_id,
                             status=exc.status) from exc


class ShopeeClient:
    """Signed calls to one partner app; the shop's token and id are passed per call."""

    def __init__(self, host: str, partner_id: int | str, partner_key: str, *, clock: Callable[[], datetime],
                 policy: RetryPolicy | None = None, session: requests.Session | None = None):
        if not partner_id or not partner_key:
            raise CredentialsInvalid("Shopee platform needs the partner id (app id) and partner key (app secret)",
                                     platform=PLATFORM)
        try:
            self.partner_id = int(partner_id)
        except (TypeError, ValueError):
            raise CredentialsInvalid(f"Shopee partner id must be a number, got {partner_id!r}",
                                     platform=PLATFORM) from None
        self.partner_key = partner_key
        self.clock = clock
        self.http = HttpClient(host, platform=PLATFORM, classify=classify, policy=policy, session=session)

    @property
    def calls(self) -> int:
        """HTTP requests sent, retries included."""
        return self.http.calls

    # -- signing ---------------------------------------------------------------------------------
    def _timestamp(self) -> int:
        return int(self.clock().timestamp())

    def _public_params(self, path: str) -> dict[str, Any]:
        ts = self._timestamp()
        return {"partner_id": self.partner_id, "timestamp": ts,
                "sign": signing.public_sign(self.partner_key, self.partner_id, path, ts)}

    def _shop_params(self, path: str, access_token: str, shop_id: int | str) -> dict[str, Any]:
        ts = self._timestamp()
        return {"partner_id": self.partner_id, "timestamp": ts, "access_token": access_token,
                "shop_id": int(shop_id),
                "sign": signing.shop_sign(self.partner_key, self.partner_id, path, ts, access_token, shop_id)}

    def _shop_get(self, path: str, access_token: str, shop_id: int | str, query: Mapping[str, Any]) -> dict:
        def prepare() -> dict[str, Any]:
            return {"params": {**self._shop_params(path, access_token, shop_id), **query}}

        return self.http.request("GET", path, prepare=prepare)

    def _shop_post(self, path: str, access_token: str, shop_id: int | str, body: Mapping[str, Any], *,
                   idempotent: bool) -> dict:
        def prepare() -> dict[str, Any]:
            return {"params": self._shop_params(path, access_token, shop_id)}

        return self.http.request("POST", path, json=dict(body), prepare=prepare, idempotent=idempotent)

    def _public_post(self, path: str, body: Mapping[str, Any]) -> dict:
        """The token calls: each spends a single-use code or refresh token, so they are never re-sent."""
        def prepare() -> dict[str, Any]:
            return {"params": self._public_params(path)}

        return self.http.request("POST", path, json=dict(body), prepare=prepare, classify=classify_token,
                                 idempotent=False)

    # -- auth ------------------------------------------------------------------------------------
    def auth_partner_url(self, redirect: str) -> str:
        """ref: §1 Auth flow step 1, ``GET /api/v2/shop/auth_partner`` (link valid 5 minutes)."""
        path = "/api/v2/shop/auth_partner"
        return f"{self.http.url(path)}?{urlencode({**self._public_params(path), 'redirect': redirect})}"

    def get_token(self, code: str, shop_id: int | str) -> dict[str, Any]:
        """ref: §1 Auth flow step 3, ``POST /api/v2/auth/token/get`` (code single-use, 10 minutes)."""
        return self._public_post("/api/v2/auth/token/get",
                                 {"code": code, "shop_id": int(shop_id), "partner_id": self.partner_id})

    def refresh_access_token(self, refresh_token: str, shop_id: int | str) -> dict[str, Any]:
        """ref: §1 Auth flow step 4, ``POST /api/v2/auth/access_token/get`` (refresh token single-use)."""
        return self._public_post("/api/v2/auth/access_token/get",
                                 {"refresh_token": refresh_token, "shop_id": int(shop_id),
                                  "partner_id": self.partner_id})

    def get_shop_info(self, access_token: str, shop_id: int | str) -> dict[str, Any]:
        """ref: §1 Signing example path ``GET /api/v2/shop/get_shop_info`` (cheap authenticated call)."""
        return self._shop_get("/api/v2/shop/get_shop_info", access_token, shop_id, {})

    # -- orders ----------------------------------------------------------------------------------
    def get_order_list(self, access_token: str, shop_id: int | str, *, time_from: int, time_to: int,
                       cursor: str = "", page_size: int = MAX_PAGE_SIZE, time_range_field: str = "update_time",
                       order_status: str | None = None) -> dict[str, Any]:
        """ref: §1 ``GET /api/v2/order/get_order_list`` (window ≤ 15 days, page_size 1..100, cursor)."""
        query: dict[str, Any] = {"time_range_field": time_range_field, "time_from": time_from, "time_to": time_to,
                                 "page_size": page_size, "cursor": cursor,
                                 "response_optional_fields": "order_status"}
        if order_status:
            query["order_status"] = order_status
        return self._shop_get("/api/v2/order/get_order_list", access_token, shop_id, query).get("response") or {}

    def get_order_detail(self, access_token: str, shop_id: int | str, order_sns: Iterable[str],
                         optional_fields: Iterable[str] = DETAIL_OPTIONAL_FIELDS) -> list[dict[str, Any]]:
        """ref: §1 ``GET /api/v2/order/get_order_detail`` (order_sn_list 1..50, optional fields)."""
        sns = list(order_sns)
        if not 1 <= len(sns) <= MAX_DETAIL_BATCH:
            raise ValueError(f"get_order_detail takes 1..{MAX_DETAIL_BATCH} order numbers, got {len(sns)}")
        query = {"order_sn_list": ",".join(sns), "response_optional_fields": ",".join(optional_fields)}
        payload = self._shop_get("/api/v2/order/get_order_detail", access_token, shop_id, query)
        return list((payload.get("response") or {}).get("order_list") or [])

    # -- logistics -------------------------------------------------------------------------------
    def get_shipping_parameter(self, access_token: str, shop_id: int | str, order_sn: str,
                               package_number: str | None = None) -> dict[str, Any]:
        """ref: §1 Logistics ``GET /api/v2/logistics/get_shipping_parameter``."""
        query = {"order_sn": order_sn, **({"package_number": package_number} if package_number else {})}
        return self._shop_get("/api/v2/logistics/get_shipping_parameter", access_token, shop_id,
                              query).get("response") or {}

    def ship_order(self, access_token: str, shop_id: int | str, body: Mapping[str, Any]) -> dict[str, Any]:
        """ref: §1 Logistics ``POST /api/v2/logistics/ship_order`` (success has no ``response``).

        Not idempotent (a second call for a shipped order is refused "logistic status not ready to ship"):
        a lost answer raises :class:`~platforms.base.OutcomeUnknown`; the caller reads the order's state.
        """
        return self._shop_post("/api/v2/logistics/ship_order", access_token, shop_id, body, idempotent=False)

    def handle_buyer_cancellation(self, access_token: str, shop_id: int | str, order_sn: str,
                                  accept: bool) -> dict[str, Any]:
        """ref: ``POST /api/v2/order/handle_buyer_cancellation`` ``{order_sn, operation: ACCEPT|REJECT}`` → ``response``
        ``{update_time}`` (docs/contracts/shopee.md, Cancellation requests). Answers an ``IN_CANCEL`` order's
        request.

        Not idempotent (once answered the order is no longer IN_CANCEL and a second answer is refused): a lost
        answer raises :class:`~platforms.base.OutcomeUnknown`; the caller reads the order's state.
        """
        body = {"order_sn": order_sn, "operation": "ACCEPT" if accept else "REJECT"}
        return self._shop_post("/api/v2/order/handle_buyer_cancellation", access_token, shop_id, body,
                               idempotent=False).get("response") or {}

    def get_tracking_number(self, access_token: str, shop_id: int | str, order_sn: str,
                            package_number: str | None = None) -> dict[str, Any]:
        """ref: §1 Logistics ``GET /api/v2/logistics/get_tracking_number``."""
        query = {"order_sn": order_sn, **({"package_number": package_number} if package_number else {})}
        return self._shop_get("/api/v2/logistics/get_tracking_number", access_token, shop_id,
                              query).get("response") or {}

    def get_mass_tracking_number(self, access_token: str, shop_id: int | str,
                                 package_numbers: Iterable[str]) -> dict[str, Any]:
        """ref: Order Management guide §8.1 ``POST /api/v2/logistics/get_mass_tracking_number`` (a read).

        Body ``{"package_list": [{"package_number"}]}``; answer ``success_list`` (tracking_number, hint per
        package) and ``fail_list`` (fail_error / fail_message per package).
        """
        numbers = list(package_numbers)
        if not 1 <= len(numbers) <= MAX_TRACKING_BATCH:
            raise ValueError(f"get_mass_tracking_number takes 1..{MAX_TRACKING_BATCH} packages, got {len(numbers)}")
        body = {"package_list": [{"package_number": n} for n in numbers]}
        return self._shop_post("/api/v2/logistics/get_mass_tracking_number", access_token, shop_id, body,
                               idempotent=True).get("response") or {}

    def get_package_detail(self, access_token: str, shop_id: int | str,
                           package_numbers: Iterable[str]) -> list[dict[str, Any]]:
        """ref: ``GET /api/v2/order/get_package_detail`` (``fulfillment_status``, ``is_shipment_arranged``)."""
        numbers = list(package_numbers)
        if not 1 <= len(numbers) <= MAX_TRACKING_BATCH:
            raise ValueError(f"get_package_detail takes 1..{MAX_TRACKING_BATCH} packages, got {len(numbers)}")
        payload = self._shop_get("/api/v2/order/get_package_detail", access_token, shop_id,
                                 {"package_number_list": ",".join(numbers)})
        return list((payload.get("response") or {}).get("package_list") or [])
