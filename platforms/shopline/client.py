"""Shopline Open API client: bearer auth, ``GET /v1/orders`` paging, orders, delivery options, shipment calls,
and the OAuth token endpoint on the developers host.

Only I/O lives here (mapping is in :mod:`platforms.shopline.mapping`). Retries are decided by
:mod:`oms_bridge.remote.http`; :func:`classify` only sorts answers into the error tree:

=============================================  ==================================================
answer                                         error
=============================================  ==================================================
401 (missing, expired or revoked token)        AuthExpired (refresh and retry once)
403 (e.g. User-Agent without the handle code)  PermanentError
404, 410 (archived order), 422, other 4xx      PermanentError with Shopline's message and code
429 ``{error, code: "RateLimitExceeded"}``     RateLimited (Retry-After when sent, else 1 s: the
                                               documented limit is per second)
5xx, body that is not JSON                     TransientError
=============================================  ==================================================

Every request carries the User-Agent the adapter gives (the app's handle code: a must-have header per
"OpenAPI request example"). The two shipment calls and the order update change state on Shopline and go out
with ``idempotent=False``: a lost answer is :class:`~platforms.base.OutcomeUnknown`, never a second send.

OAuth (shopline-developers.readme.io): ``POST {oauth_host}/oauth/token`` with ``grant_type``,
``client_id``, ``client_secret``, ``redirect_uri`` and the code or refresh token; a 400/401
``invalid_grant`` there means the grant or refresh token is dead: :class:`~platforms.base.ReauthRequired`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from oms_bridge.remote.http import HttpClient, RetryPolicy, json_body, json_headers, parse_retry_after
from platforms.base import AuthExpired, CredentialsInvalid, PermanentError, RateLimited, ReauthRequired, TransientError
from platforms.oauth import authorize_link, token_answer
from platforms.shopline.delivery import MAX_BULK_ORDERS

__all__ = ["ShoplineClient", "ShoplineOAuth", "classify", "classify_token", "format_time", "PLATFORM"]

PLATFORM = "shopline"
#: the documented limit is 20 requests per second: a refused request may go again in the next second
RATE_WINDOW_SECONDS = 1.0
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_time(when: datetime) -> str:
    """Shopline's filter format: UTC ``YYYY-MM-DD HH:MM:SS`` (spec §4)."""
    return when.astimezone(UTC).strftime(TIME_FORMAT)


def _body_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: requests.Response) -> str:
    body = _body_of(response)
    if body is None:
        return (response.text or "").strip()[:200] or f"HTTP {response.status_code}"
    if isinstance(body, Mapping):
        for key in ("error_description", "message", "messages", "error"):
            if body.get(key):
                value = body[key]
                return "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return str(body)[:200]


def _error_code(response: requests.Response) -> str:
    """Shopline's ``code`` (``RateLimitExceeded``, ``TOKEN_EXPIRED``, ``0004`` …), else an OAuth ``error``."""
    body = _body_of(response)
    if not isinstance(body, Mapping):
        return ""
    return str(body.get("code") or body.get("error") or "")


def classify(response: requests.Response) -> Any:
    """The JSON body of a good answer, or the typed error (table in the module docstring)."""
    status, code = response.status_code, _error_code(response)
    if status == 401:
        raise AuthExpired(f"Shopline rejected the access token: {_message(response)}", platform=PLATFORM,
                          status=status, code=code)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited(f"Shopline rate limit: {_message(response)}", platform=PLATFORM, status=status, code=code,
                          retry_after=RATE_WINDOW_SECONDS if retry_after is None else retry_after)
    if status >= 500:
        raise TransientError(f"Shopline server error HTTP {status}", platform=PLATFORM, status=status)
    if status == 410:
        raise PermanentError(f"Shopline order is archived (HTTP 410; read it with Get Archived Orders): "
                             f"{_message(response)}", platform=PLATFORM, status=status, code="archived")
    if status >= 400:
        hint = " (the platform setting user_agent must be the app's handle code)" \
            if status == 403 and "user-agent" in _message(response).lower() else ""
        raise PermanentError(f"Shopline refused the request (HTTP {status}): {_message(response)}{hint}",
                             platform=PLATFORM, status=status, code=code)
    body = json_body(response, platform=PLATFORM)
    if isinstance(body, Mapping) and _is_error_envelope(body):
        raise TransientError(f"Shopline answered HTTP {status} with an error: {_message(response)}",
                             platform=PLATFORM, status=status, code=str(body.get("code") or ""))
    return body


def _is_error_envelope(body: Mapping[str, Any]) -> bool:
    """A success status carrying only ``{code, message}`` / ``{error, code}``: Shopline failed inside."""
    keys = set(body)
    return bool(keys) and (keys <= {"code", "message", "error", "error_description", "status"}) and (
        "error" in keys or "message" in keys)


def classify_token(response: requests.Response) -> dict[str, Any]:
    """Like :func:`classify`, but a refused grant means the merchant must authorize again."""
    body = _body_of(response)
    error = str(body.get("error") or "") if isinstance(body, Mapping) else ""
    if response.status_code in (400, 401) and error == "invalid_client":
        raise CredentialsInvalid(f"Shopline refused the app credentials ({_message(response)}): check the "
                                 "platform's app id and app secret", platform=PLATFORM,
                                 status=response.status_code, code="invalid_client")
    if response.status_code == 400 and error in ("invalid_request", "unsupported_grant_type"):
        raise PermanentError(f"Shopline refused the token request ({_message(response)}): check the platform "
                             "settings redirect_uri (the callback URL registered on the App Keys page) and "
                             "oauth_host", platform=PLATFORM, status=response.status_code, code=error)
    if response.status_code in (400, 401):
        raise ReauthRequired(f"Shopline refused the token grant ({_message(response)}): the merchant must "
                             "authorize the app again", platform=PLATFORM, status=response.status_code,
                             code="invalid_grant")
    return token_answer(classify(response), platform=PLATFORM, status=response.status_code)


def _expect_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise TransientError(f"Shopline {what} answer is {type(body).__name__}, expected an object",
                             platform=PLATFORM)
    return dict(body)


class ShoplineClient:
    """Calls on behalf of one merchant; ``token`` returns the current access token for each attempt."""

    def __init__(self, host: str, token: Callable[[], str], *, policy: RetryPolicy | None = None,
                 user_agent: str | None = None):
        self.token = token
        self.http = HttpClient(host, platform=PLATFORM, classify=classify, policy=policy,
                               headers=json_headers(user_agent))

    @property
    def calls(self) -> int:
        return self.http.calls

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        # the token is read per attempt so a refresh between attempts is picked up
        return self.http.request(method, path, prepare=lambda: {"headers": {"Authorization": f"Bearer {self.token()}"}},
                                 **kwargs)

    def token_info(self) -> dict[str, Any]:
        """ref: docs "Get Token Info" ``GET /v1/token/info`` -> ``{staff, merchant{_id, handle, name}, user}``."""
        return _expect_object(self._request("GET", "/v1/token/info"), "token info")

    def list_orders(self, *, page: int, per_page: int, updated_after: datetime | None = None,
                    updated_before: datetime | None = None, order_ids: Sequence[str] = ()) -> dict[str, Any]:
        """ref: docs "Get Orders": one page of ``{items, pagination}`` (UTC filters, inclusive; ``order_ids[]``)."""
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if updated_after is not None:
            params["updated_after"] = format_time(updated_after)
        if updated_before is not None:
            params["updated_before"] = format_time(updated_before)
        if order_ids:
            params["order_ids[]"] = list(order_ids)
        body = _expect_object(self._request("GET", "/v1/orders", params=params), "orders")
        if not isinstance(body.get("items"), list):
            detail = body.get("message") or body.get("error") or "no items list"
            raise TransientError(f"Shopline orders answer is not a page: {detail}", platform=PLATFORM)
        return body

    def get_order(self, order_id: str) -> dict[str, Any]:
        """ref: docs "Get Order" ``GET /v1/orders/{id}`` (404 unknown, 410 archived)."""
        return _expect_object(self._request("GET", f"/v1/orders/{order_id}"), "order")

    def delivery_option(self, option_id: str) -> dict[str, Any]:
        """ref: docs "Get Delivery Option" ``GET /v1/delivery_options/{id}`` (its ``region_type`` names the carrier)."""
        return _expect_object(self._request("GET", f"/v1/delivery_options/{option_id}"), "delivery option")

    def execute_shipment(self, order_id: str) -> dict[str, Any]:
        """ref: docs "Execute Shipment" ``PATCH /v1/orders/{id}/execute_shipment`` (no body) ->
        ``{delivery_status, tracking_number}``. Books Shopline's carrier: state-changing."""
        return _expect_object(self._request("PATCH", f"/v1/orders/{order_id}/execute_shipment", idempotent=False),
                              "execute_shipment")

    def bulk_execute_shipment(self, order_ids: list[str]) -> dict[str, Any]:
        """ref: docs "Bulk Execute Shipment" ``PATCH /v1/orders/execute_shipment`` ``{orderIds}`` (1..24) ->
        the ids sorted into outcome lists (:data:`platforms.shopline.delivery.BULK_OUTCOMES`). Books carriers:
        state-changing, sent once."""
        if not 1 <= len(order_ids) <= MAX_BULK_ORDERS:
            raise ValueError(f"Bulk Execute Shipment takes 1..{MAX_BULK_ORDERS} orders, got {len(order_ids)}")
        return _expect_object(self._request("PATCH", "/v1/orders/execute_shipment", json={"orderIds": order_ids},
                                            idempotent=False), "bulk execute_shipment")

    def update_delivery_status(self, order_id: str, status: str, mail_notify: bool) -> dict[str, Any]:
        """ref: docs "Update Order Delivery Status" ``PATCH /v1/orders/{id}/order_delivery_status``
        ``{status, mail_notify}`` -> ``{order_id, status, updated_at}``. State-changing."""
        return _expect_object(self._request("PATCH", f"/v1/orders/{order_id}/order_delivery_status",
                                            json={"status": status, "mail_notify": mail_notify}, idempotent=False),
                              "order_delivery_status")

    def update_order(self, order_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PATCH /v1/orders/{id}``; ref: JasonSung0724/bagel_shopline shopline_repository.py
        ``update_tracking_info`` (tracking_number, tracking_url, delivery_provider_name). State-changing."""
        return _expect_object(self._request("PATCH", f"/v1/orders/{order_id}", json=dict(body), idempotent=False),
                              "order")


class ShoplineOAuth:
    """The app's OAuth endpoints (authorize page and token grant); paths configurable."""

    def __init__(self, host: str, client_id: str | None, client_secret: str | None, *,
                 policy: RetryPolicy | None = None, authorize_path: str = "/oauth/authorize",
                 token_path: str = "/oauth/token", user_agent: str | None = None):  # noqa: S107 - a path
        if not client_id or not client_secret:
            raise PermanentError("Shopline OAuth needs the platform's app id (client_id) and app secret",
                                 platform=PLATFORM)
        self.client_id = client_id
        self.client_secret = client_secret
        self.authorize_path = authorize_path
        self.token_path = token_path
        self.http = HttpClient(host, platform=PLATFORM, classify=classify_token, policy=policy,
                               headers=json_headers(user_agent))

    @property
    def calls(self) -> int:
        return self.http.calls

    def authorize_url(self, redirect_uri: str, state: str, scope: str, extra: Mapping[str, str]) -> str:
        return authorize_link(self.http.url(self.authorize_path), client_id=self.client_id, redirect_uri=redirect_uri,
                              state=state, scope=scope, extra=extra)

    def grant(self, **fields: str) -> dict[str, Any]:
        body = {"client_id": self.client_id, "client_secret": self.client_secret, **fields}
        return self.http.request("POST", self.token_path, json=body)
