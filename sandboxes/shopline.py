"""A local Shopline: the Open API host and the developers (OAuth) host, as the public record shows them.

Two servers, as in production: the API (``open.shopline.io``, :attr:`ShoplineSandbox.base_url`) answers
``/v1/…`` only; the developers host (``developers.shoplineapp.com``, :attr:`ShoplineSandbox.developers_url`)
answers ``/oauth/…`` only. Every behaviour names its source; docs/contracts/shopline.md holds the list.

Confirmed by a source:

- OAuth (shopline-developers.readme.io): ``GET /oauth/authorize`` (client_id, redirect_uri, scope separated
  by spaces, response_type=code, optional merchant_id), a code that dies after 600 s, ``POST /oauth/token``
  whose answer is ``{access_token, token_type, expires_in: 15778476, refresh_token, scope, created_at,
  resource_owner_id}``; the refresh grant lists ``redirect_uri`` among its parameters (so it is required
  here); the refresh token dies one day after its access token expires; uninstalling revokes both.
- ``GET /oauth/token/info`` on the developers host: 401 ``MISSING_TOKEN_ERROR`` / ``TOKEN_EXPIRED`` /
  ``TOKEN_REVOKED``.
- Requests (open-api.docs.shoplineapp.com "OpenAPI request example"): a User-Agent carrying the app's handle
  code is a must-have header; 20 requests/s, then ``429 {"error": "Rate limit exceeded …",
  "code": "RateLimitExceeded"}``.
- ``GET /v1/orders``: inclusive UTC ``updated_after/before``, ``created_after/before`` (``2018-01-01
  00:00:00``), ``page``, ``per_page`` (default 24), newest first (``sort_by`` desc); ``order_ids[]``.
  Archived orders are marked in the answer; ``GET /v1/orders/:id`` answers 410 for them.
- ``PATCH /v1/orders/:id/execute_shipment``: only integrated carriers (7-11, FamilyMart, T-cat, SF) whose
  delivery is still pending; answers ``{delivery_status: "request_accepted", tracking_number}`` (the number
  may come later: "call Get Order to retrieve tracking_number"); failure sample ``{"error": "Order#[…]
  integrated delivery service error", "code": "0004"}``.
- ``PATCH /v1/orders/execute_shipment`` (Bulk Execute Shipment) ``{orderIds}`` (at most 24): 7-11 Cross Border,
  FamilyMart Freeze and T-cat orders whose delivery is pending are booked; every id comes back in one of
  ``processingOrderIds``, ``processingFailedOrderIds``, ``statusErrorOrderIds``, ``platformNotSupportOrderIds``,
  ``notFoundOrderIds``; more than 24 ids answer the page's failure sample ``{"message": …}``.
- ``PATCH /v1/orders/:id/order_delivery_status`` ``{status, mail_notify}``: the seven documented statuses,
  refused for integrated region types and for completed orders; answers ``{order_id, status, updated_at}``.
- Money objects, order and delivery option shapes: :mod:`sandboxes.shopline_orders`.

Inferred (no source shows it; chosen so the client is tested against something plausible):

- error bodies as ``{"error": <message>, "code": <CODE>}`` (the shape of the documented 429 and
  execute_shipment failures) with HTTP 401/403/404/410/422; a User-Agent without the handle code answers 403;
  the OAuth endpoints answer Doorkeeper's errors (``invalid_grant`` …), as the JWT issuer and
  ``/oauth/token/info`` suggest a Doorkeeper server;
- the archived mark in Get Orders is ``{"id": …, "archived": true}`` in place of the order;
- the used refresh token dies when the new access token is first used (Doorkeeper's
  ``refresh_token_revoked_on_use``); delivery changes do not bump the order's ``updated_at`` (older spec);
- ``PATCH /v1/orders/:id`` with ``tracking_number`` / ``tracking_url`` / ``delivery_provider_name`` stores
  them in ``delivery_data`` (a public client does this: JasonSung0724/bagel_shopline
  src/repositories/shopline_repository.py ``update_tracking_info``; no official page shows it);
- ``GET /v1/delivery_options/:id`` answers one delivery option (the docs name a "Get Delivery Option API").
"""

from __future__ import annotations

import json
import random
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from platforms.shopline.delivery import (
    DELIVERY_STATUSES,
    EXECUTE_SHIPMENT_REGION_TYPES,
    INTEGRATED_REGION_TYPES,
    REQUEST_STATES,
    SHIPPED_STATUSES,
)
from sandboxes import data
from sandboxes import shopline_orders as orders
from sandboxes.server import Fault, RateLimiter, Sandbox, SandboxClock, Served, bearer_token, json_response

__all__ = ["ShoplineSandbox", "CANONICAL_TO_AXES", "ACCESS_TTL"]

#: what "Bulk Execute Shipment" books (its page: 7-11 Cross Border, FMT Freeze, Tcat), as region types
BULK_REGION_TYPES = frozenset({"cross_border_711_store_pick_up", "cross_border_711_home_delivery",
                               "sl_logistics_fmt_freeze_pay", "sl_logistics_fmt_freeze_nopay", "tw_tcat_roomtemp",
                               "tw_tcat_refrigerated", "tw_tcat_frozen", "tw_tcat_roomtemp_cod",
                               "tw_tcat_refrigerated_cod", "tw_tcat_frozen_cod"})
#: its answer's lists, spelled as the page's example spells them
BULK_ANSWER_LISTS = ("processingOrderIds", "processingFailedOrderIds", "statusErrorOrderIds",
                     "platformNotSupportOrderIds", "notFoundOrderIds")

CANONICAL_TO_AXES = orders.CANONICAL_TO_AXES
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: the documented token answer's ``expires_in`` (≈ 6 months)
ACCESS_TTL = 15778476
HOST_KEY = "shopline.host"
RATE_LIMITED = {"error": "Rate limit exceeded for attempts to access Open API. please try again later",
                "code": "RateLimitExceeded"}
INVALID_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match the redirection "
                 "URI used in the authorization request, or was issued to another client.")


@dataclass
class _Token:
    access: str
    refresh: str | None
    merchant_id: str
    access_expires: datetime | None
    refresh_expires: datetime | None
    scope: str = ""
    revoked: bool = False
    previous_refresh: str | None = None  # revoked when this token is first used


@dataclass
class _Shop:
    merchant_id: str
    handle: str
    name: str
    auth_model: str
    api_token: str | None
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    archived: set[str] = field(default_factory=set)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # delivery option id -> option
    option_ids: dict[str, str] = field(default_factory=dict)  # sandbox key ("tcat") -> delivery option id


class _Reply(Exception):
    """Answer now with this response."""

    def __init__(self, response: Response):
        super().__init__()
        self.response = response


def _error(status: int, message: str, code: str | None = None) -> _Reply:
    body = {"error": message} if code is None else {"error": message, "code": code}
    return _Reply(json_response(body, status))


class _DevelopersHost(Served):
    """The second server (developers.shoplineapp.com): the same pipeline, marked as the OAuth host."""

    def __init__(self, sandbox: ShoplineSandbox):
        self.sandbox = sandbox

    def wsgi_app(self, environ, start_response):
        environ[HOST_KEY] = "developers"
        return self.sandbox.wsgi_app(environ, start_response)


class ShoplineSandbox(Sandbox):
    """Shopline's Open API and developers host for several merchants and one app."""

    platform_type = "shopline"

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1, rate_limit: int = 20,
                 max_per_page: int = 200, access_ttl: int = ACCESS_TTL, refresh_grace: int = 86400,
                 code_ttl: int = 600, honor_order_ids: bool = True, app_handle: str = "omsbridge",
                 redirect_uris: set[str] | None = None, tracking_delay: bool = False):
        super().__init__(clock=clock, seed=seed)
        self.honor_order_ids = honor_order_ids  # False: behave like an API that ignores order_ids[]
        self.limiter = RateLimiter(rate_limit, self.clock)
        self.max_per_page = max_per_page
        self.access_ttl = access_ttl
        self.refresh_grace = refresh_grace
        self.code_ttl = code_ttl
        self.app_handle = app_handle
        # the App Keys page's whitelisted callback URLs (None: any URL, as if the test's were registered)
        self.redirect_uris = redirect_uris
        self.tracking_delay = tracking_delay  # True: execute_shipment answers before the carrier assigned a number
        rng = random.Random(f"shopline-{seed}")
        self.client_id = f"{rng.getrandbits(256):064x}"
        self.client_secret = f"{rng.getrandbits(256):064x}"
        self.shops: dict[str, _Shop] = {}
        self.tokens: dict[str, _Token] = {}  # access token -> token
        self.refresh_tokens: dict[str, _Token] = {}
        self.codes: dict[str, tuple[str, str, datetime, str]] = {}  # code -> (merchant, redirect_uri, expires, scope)
        self.user_agents: deque[str] = deque(maxlen=100)  # the latest requests' User-Agent headers
        self.mail_notifications: list[tuple[str, str]] = []  # (order id, delivery status) mailed to the buyer
        self.bulk_booked: list[str] = []  # order ids Bulk Execute Shipment booked, in order
        self.bulk_processing_fails: set[str] = set()  # order ids Bulk Execute Shipment answers as failed
        self.developers = _DevelopersHost(self)
        self._rng = rng
        self._lock = threading.RLock()
        self._order_seq = 0
        self._changes = 0  # bumped by every change that can alter a listing
        self._list_cache: tuple[Any, list[dict[str, Any]]] = (None, [])

    # -- servers ----------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> Self:
        super().start(port)
        self.developers.start()
        return self

    def stop(self) -> None:
        self.developers.stop()
        super().stop()

    @property
    def developers_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the OAuth host (developers.shoplineapp.com in production)."""
        return self.developers.server_url

    # -- wire -------------------------------------------------------------------------------------------
    def error_body(self, code: str, message: str) -> Any:
        return {"error": message, "code": code}

    def apply_fault(self, fault: Fault, request: Request) -> Response | None:
        if fault.kind == "429":  # the documented answer: no Retry-After header, blocked until the next second
            return json_response(RATE_LIMITED, 429)
        return super().apply_fault(fault, request)

    def is_detail_read(self, request: Request) -> bool:
        """``GET /v1/orders/<id>``, or the listing asked for given ``order_ids[]``: orders by number."""
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or parts[:2] != ["v1", "orders"]:
            return False
        return len(parts) == 3 or (len(parts) == 2 and bool(request.args.getlist("order_ids[]")))

    def dispatch(self, request: Request) -> Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        host = request.environ.get(HOST_KEY, "api")
        try:
            if host == "developers":
                if request.path == "/oauth/authorize" and request.method == "GET":
                    return self._authorize(request)
                if request.path == "/oauth/token" and request.method == "POST":
                    return self._token(request)
                if request.path == "/oauth/token/info" and request.method == "GET":
                    return self._token_info(request)
            elif request.path.startswith("/v1/"):
                self._check_user_agent(request)
                token = self._bearer(request)
                with self._lock:
                    return self._api(request, token)
        except _Reply as reply:
            return reply.response
        return json_response({"error": "Not Found", "code": "NOT_FOUND"}, 404)

    def _check_user_agent(self, request: Request) -> None:
        if self.app_handle not in request.headers.get("User-Agent", ""):
            raise _error(403, "User-Agent must carry the app's handle code", "INVALID_USER_AGENT")

    # -- OAuth ------------------------------------------------------------------------------------------
    def _redirect_ok(self, uri: str | None) -> bool:
        return bool(uri) and (self.redirect_uris is None or uri in self.redirect_uris)

    def _authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or not self._redirect_ok(args.get("redirect_uri")) \
                or args.get("response_type") != "code":
            return Response("<html><body>The redirect uri included is not valid.</body></html>", 400,
                            content_type="text/html")
        redirect, state = args["redirect_uri"], args.get("state", "")
        if args.get("decision") == "deny":
            query = {"error": "access_denied", "state": state}
        else:
            with self._lock:
                merchant = args.get("merchant_id") or next(
                    (m for m, s in reversed(self.shops.items()) if s.auth_model == "oauth"), None)
                if merchant not in self.shops:
                    return Response("<html><body>Unknown merchant</body></html>", 404, content_type="text/html")
                code = secrets.token_hex(32)
                self.codes[code] = (merchant, redirect, self.clock.now() + timedelta(seconds=self.code_ttl),
                                    args.get("scope", ""))
            query = {"code": code, "state": state}
        sep = "&" if urlsplit(redirect).query else "?"
        return Response("", 302, headers={"Location": f"{redirect}{sep}{urlencode(query)}"})

    @staticmethod
    def _grant_error(error: str, description: str, status: int = 400) -> _Reply:
        return _Reply(json_response({"error": error, "error_description": description}, status))

    def _token(self, request: Request) -> Response:
        body = {**request.args.to_dict(), **self._body(request)}  # the refresh page sends query parameters
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            raise self._grant_error("invalid_client", "Client authentication failed due to unknown client, no "
                                    "client authentication included, or unsupported authentication method.", 401)
        now = self.clock.now()
        with self._lock:
            grant = body.get("grant_type")
            if grant == "authorization_code":
                found = self.codes.pop(str(body.get("code") or ""), None)
                if found is None or found[2] <= now or body.get("redirect_uri") != found[1]:
                    raise self._grant_error("invalid_grant", INVALID_GRANT)
                token = self._issue(found[0], now, found[3])
            elif grant == "refresh_token":
                if not self._redirect_ok(body.get("redirect_uri")):
                    raise self._grant_error("invalid_request", "The request is missing a required parameter, "
                                            "includes an unsupported parameter value, or is otherwise malformed: "
                                            "redirect_uri")
                old = self.refresh_tokens.get(str(body.get("refresh_token") or ""))
                if old is None or old.revoked or old.refresh is None or (old.refresh_expires and
                                                                         old.refresh_expires <= now):
                    raise self._grant_error("invalid_grant", INVALID_GRANT)
                token = self._issue(old.merchant_id, now, old.scope)
                token.previous_refresh = old.refresh
            else:
                raise self._grant_error("unsupported_grant_type", "The authorization grant type is not supported by "
                                        "the authorization server.")
        return json_response({"access_token": token.access, "token_type": "Bearer", "expires_in": self.access_ttl,
                              "refresh_token": token.refresh, "scope": token.scope,
                              "created_at": int(now.timestamp()), "resource_owner_id": token.merchant_id})

    def _issue(self, merchant: str, now: datetime, scope: str) -> _Token:
        expires = now + timedelta(seconds=self.access_ttl)
        token = _Token(secrets.token_hex(32), secrets.token_hex(32), merchant, expires,
                       expires + timedelta(seconds=self.refresh_grace), scope)
        self.tokens[token.access] = token
        self.refresh_tokens[token.refresh] = token
        return token

    def _token_info(self, request: Request) -> Response:
        token = self._bearer(request, limit=False)
        shop = self.shops[token.merchant_id]
        expires_in = int((token.access_expires - self.clock.now()).total_seconds()) if token.access_expires else None
        return json_response({"resource_owner_id": shop.merchant_id, "scope": token.scope.split(),
                              "expires_in": expires_in, "application": {"uid": self.client_id},
                              "merchant": {"_id": shop.merchant_id, "handle": shop.handle, "name": shop.name}})

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.mimetype == "application/json":
            try:
                body = json.loads(request.get_data(as_text=True) or "{}")
            except ValueError:
                raise _error(400, "body is not JSON", "INVALID_JSON") from None
            return body if isinstance(body, dict) else {}
        return dict(request.form)

    def _bearer(self, request: Request, *, limit: bool = True) -> _Token:
        value = bearer_token(request)
        with self._lock:
            token = self.tokens.get(value)
            if not value:
                raise _error(401, "Token is required in the header", "MISSING_TOKEN_ERROR")
            if token is None:
                raise _error(401, "The access token is invalid", "INVALID_TOKEN")
            if token.revoked:
                raise _error(401, "Token is revoked, you may need to get a new one by authorization",
                             "TOKEN_REVOKED")
            if token.access_expires and token.access_expires <= self.clock.now():
                raise _error(401, "Token is expired, you may need to get a new by refresh token", "TOKEN_EXPIRED")
            if token.previous_refresh:
                self.refresh_tokens.pop(token.previous_refresh, None)
                token.previous_refresh = None
        if limit and not self.limiter.allow(value):
            raise _Reply(json_response(RATE_LIMITED, 429))
        return token

    # -- API --------------------------------------------------------------------------------------------
    def _api(self, request: Request, token: _Token) -> Response:
        shop = self.shops[token.merchant_id]
        path, method = request.path.rstrip("/"), request.method
        parts = path.split("/")[2:]  # after /v1
        if parts == ["token", "info"] and method == "GET":
            return json_response({"staff": {"_id": shop.merchant_id[::-1], "email": f"owner@{shop.handle}.tw"},
                                  "merchant": {"_id": shop.merchant_id, "handle": shop.handle, "name": shop.name},
                                  "user": None})
        if parts == ["orders"] and method == "GET":
            return self._list(shop, request)
        if len(parts) == 2 and parts[0] == "orders" and method == "GET":
            return json_response(self._public(self._order(shop, parts[1])))
        if parts == ["orders", "execute_shipment"] and method == "PATCH":  # before PATCH /orders/:id
            return self._bulk_execute_shipment(shop, self._body(request))
        if len(parts) == 2 and parts[0] == "orders" and method == "PATCH":
            return self._update_order(shop, parts[1], self._body(request))
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "execute_shipment" and method == "PATCH":
            return self._execute_shipment(shop, parts[1])
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "order_delivery_status" and method == "PATCH":
            return self._delivery_status(shop, parts[1], self._body(request))
        if len(parts) == 2 and parts[0] == "delivery_options" and method == "GET":
            option = shop.options.get(parts[1])
            if option is None:
                raise _error(404, "Delivery option not found", "NOT_FOUND")
            return json_response(option)
        return json_response({"error": "Not Found", "code": "NOT_FOUND"}, 404)

    def _order(self, shop: _Shop, order_id: str) -> dict[str, Any]:
        if order_id in shop.archived:
            raise _error(410, "Order has been archived, please use Get Archived Orders", "ORDER_ARCHIVED")
        order = shop.orders.get(order_id)
        if order is None:
            raise _error(404, "Order not found", "NOT_FOUND")
        return order

    @staticmethod
    def _time_arg(request: Request, name: str) -> datetime | None:
        value = request.args.get(name)
        if value is None:
            return None
        try:
            return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _error(422, f"{name} is invalid, expected format YYYY-MM-DD HH:MM:SS", "INVALID_PARAMETER") \
                from None

    def _list(self, shop: _Shop, request: Request) -> Response:
        bounds = {n: self._time_arg(request, n) for n in ("updated_after", "updated_before", "created_after",
                                                            "created_before")}
        try:
            page = int(request.args.get("page", 1))
            per_page = min(int(request.args.get("per_page", 24)), self.max_per_page)
        except ValueError:
            raise _error(422, "page and per_page must be integers", "INVALID_PARAMETER") from None
        if page < 1 or per_page < 1:
            raise _error(422, "page and per_page must be positive", "INVALID_PARAMETER")
        wanted = set(request.args.getlist("order_ids[]")) if self.honor_order_ids else set()

        def keep(order: dict[str, Any]) -> bool:
            updated, created = order["_updated"], order["_created"]
            return ((not wanted or order["id"] in wanted)
                    and (bounds["updated_after"] is None or updated >= bounds["updated_after"])
                    and (bounds["updated_before"] is None or updated <= bounds["updated_before"])
                    and (bounds["created_after"] is None or created >= bounds["created_after"])
                    and (bounds["created_before"] is None or created <= bounds["created_before"]))

        key = (shop.merchant_id, self._changes, tuple(bounds.values()), tuple(sorted(wanted)))
        if self._list_cache[0] != key:  # paging through one listing sorts once, not once per page
            self._list_cache = (key, sorted((o for o in shop.orders.values() if keep(o)),
                                            key=lambda o: (o["_created"], o["id"]), reverse=True))
        matching = self._list_cache[1]
        items = [{"id": o["id"], "archived": True} if o["id"] in shop.archived else self._public(o)
                 for o in matching[(page - 1) * per_page: page * per_page]]
        total_pages = (len(matching) + per_page - 1) // per_page
        return json_response({"items": items, "pagination": {"current_page": page, "per_page": per_page,
                                                             "total_pages": total_pages,
                                                             "total_count": len(matching)}})

    @staticmethod
    def _public(order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def _region_type(self, shop: _Shop, order: dict[str, Any]) -> str:
        option = shop.options.get(order["order_delivery"].get("delivery_option_id") or "")
        return option["region_type"] if option else ""

    def _execute_shipment(self, shop: _Shop, order_id: str) -> Response:
        order = shop.orders.get(order_id)
        if order is None or order_id in shop.archived:
            raise _error(422, f"Order#[{order_id}] is invalid", "0001")
        delivery = order["order_delivery"]
        if self._region_type(shop, order) not in EXECUTE_SHIPMENT_REGION_TYPES:
            raise _error(422, f"Order#[{order_id}] integrated delivery service error", "0004")
        if order["status"] == "cancelled" or delivery.get("status") != "pending" \
                or delivery.get("delivery_status") in REQUEST_STATES:
            raise _error(422, f"Order#[{order_id}] delivery status is not pending")
        now = orders.iso_time(self.clock.now())
        number = f"SL{self._rng.randrange(10**10):010d}"
        delivery.update(delivery_status="request_accepted", request_accepted_at=now, updated_at=now)
        order.setdefault("delivery_data", {})["tracking_number"] = number
        return json_response({"delivery_status": "request_accepted",
                              "tracking_number": "" if self.tracking_delay else number})

    def _bulk_execute_shipment(self, shop: _Shop, body: dict[str, Any]) -> Response:
        """Bulk Execute Shipment as its page shows it: ``{orderIds}`` (1..24, else the page's failure sample),
        each id answered in one list; the carriers it books are 7-11 Cross Border, FamilyMart Freeze and T-cat,
        only while the delivery is pending. Which ids fail processing is the test's choice
        (``bulk_processing_fails``)."""
        ids = body.get("orderIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return json_response({"message": 'Unable to process the changes ["orderIds" is required]'}, 422)
        if len(ids) > 24:
            return json_response({"message": 'Unable to process the changes ["orderIds" must contain less than or '
                                             'equal to 24 items]'}, 422)
        answer: dict[str, list[str]] = {name: [] for name in BULK_ANSWER_LISTS}
        for order_id in ids:
            order = shop.orders.get(order_id)
            delivery = order["order_delivery"] if order else {}
            if order is None or order_id in shop.archived:
                answer["notFoundOrderIds"].append(order_id)
            elif self._region_type(shop, order) not in BULK_REGION_TYPES:
                answer["platformNotSupportOrderIds"].append(order_id)
            elif order["status"] == "cancelled" or delivery.get("status") != "pending" \
                    or delivery.get("delivery_status") in REQUEST_STATES:
                answer["statusErrorOrderIds"].append(order_id)
            elif order_id in self.bulk_processing_fails:
                answer["processingFailedOrderIds"].append(order_id)
            else:
                now = orders.iso_time(self.clock.now())
                delivery.update(delivery_status="request_accepted", request_accepted_at=now, updated_at=now)
                order.setdefault("delivery_data", {})["tracking_number"] = f"SL{self._rng.randrange(10**10):010d}"
                self.bulk_booked.append(order_id)
                answer["processingOrderIds"].append(order_id)
        return json_response(answer)

    def _delivery_status(self, shop: _Shop, order_id: str, body: dict[str, Any]) -> Response:
        order = self._order(shop, order_id)
        status = body.get("status")
        if status not in DELIVERY_STATUSES:
            raise _error(422, f"status must be one of {', '.join(DELIVERY_STATUSES)}", "INVALID_PARAMETER")
        if self._region_type(shop, order) in INTEGRATED_REGION_TYPES:
            raise _error(422, "Order delivery status of an integrated delivery cannot be updated manually",
                         "INTEGRATED_DELIVERY")
        if order["status"] == "completed":
            raise _error(422, "Order is completed and cannot be updated", "ORDER_COMPLETED")
        delivery = order["order_delivery"]
        now = orders.iso_time(self.clock.now())
        delivery["status"] = status
        delivery["updated_at"] = now
        at = {"shipped": "shipped_at", "arrived": "arrived_at", "collected": "collected_at",
              "returned": "returned_at"}.get(status)
        if at:
            delivery[at] = now
        self._changes += 1
        if body.get("mail_notify") in (True, "true"):
            self.mail_notifications.append((order_id, status))
        return json_response({"order_id": order_id, "status": status, "updated_at": order["updated_at"]})

    def _update_order(self, shop: _Shop, order_id: str, body: dict[str, Any]) -> Response:
        order = self._order(shop, order_id)
        if order["status"] == "completed":
            raise _error(422, "Order is completed and cannot be updated", "ORDER_COMPLETED")
        delivery_data = order.setdefault("delivery_data", {})
        for key in ("tracking_number", "tracking_url"):
            if key in body:
                delivery_data[key] = body[key] or None
        if isinstance(body.get("delivery_provider_name"), dict):
            delivery_data["delivery_provider_name"] = body["delivery_provider_name"]
        if "order_remarks" in body:
            order["order_remarks"] = str(body["order_remarks"])
        self._changes += 1
        self._touch(order)
        return json_response(self._public(order))

    # -- admin helpers ------------------------------------------------------------------------------------
    def platform_fields(self) -> dict[str, Any]:
        """The platform row: API host, the app's keys, and settings pointing OAuth at the developers host."""
        return {"host": self.base_url, "app_id": self.client_id, "app_secret": self.client_secret,
                "settings": {"oauth_host": self.developers_url, "user_agent": self.app_handle,
                             "redirect_uri": f"{self.developers_url}/sandbox/callback"}}

    def add_shop(self, **options: Any) -> dict[str, Any]:
        """A merchant. ``auth_model="token"`` (default: a static API token in the credentials) or ``"oauth"``."""
        model = options.get("auth_model", "token")
        if model not in ("token", "oauth"):
            raise ValueError(f"auth_model must be 'token' or 'oauth', not {model!r}")
        with self._lock:
            merchant = orders.oid(self._rng)
            handle = options.get("handle") or f"shop{len(self.shops) + 1}"
            shop = _Shop(merchant, handle, options.get("name") or f"{data.person_name(self._rng)}的小舖", model, None)
            for key in orders.DELIVERY_OPTIONS:
                option_id = orders.oid(self._rng)
                shop.option_ids[key] = option_id
                shop.options[option_id] = orders.delivery_option(option_id, key)
            if model == "token":
                shop.api_token = secrets.token_hex(32)
                self.tokens[shop.api_token] = _Token(shop.api_token, None, merchant, None, None, "orders")
            self.shops[merchant] = shop
        credentials = {"access_token": shop.api_token} if shop.api_token else {}
        return {"shop_id": merchant, "credentials": credentials, "settings": {"auth_model": model}, "handle": handle}

    def consent(self, authorize_url: str, *, deny: bool = False) -> dict[str, str]:
        """Play the merchant approving the app: follow the authorize page, return the callback parameters."""
        return self.follow_authorize(authorize_url, deny=deny)

    def revoke(self, shop_id: str) -> None:
        """The merchant uninstalls the app: every token of the shop dies."""
        with self._lock:
            for token in list(self.tokens.values()) + list(self.refresh_tokens.values()):
                if token.merchant_id == shop_id:
                    token.revoked = True

    def generate_orders(self, shop_id: str, count: int, *, start: datetime | None = None,
                        end: datetime | None = None, **options: Any) -> list[str]:
        """``count`` orders created (and updated) over ``[start, end)`` or at ``times=[...]``.

        ``status=`` a canonical status for all (default: a deterministic mix); ``delivery=`` the delivery
        option (``custom`` — the merchant's own carrier, the default —, ``tcat``, ``711``, ``711_cross_border``,
        ``fmt_freeze``, ``kerry``).
        """
        now = self.clock.now().replace(microsecond=0)
        end = end or now
        start = start or end - timedelta(hours=1)
        times = options.get("times") or [start + (end - start) * i / max(count, 1) for i in range(count)]
        mix = ("ready_to_ship", "ready_to_ship", "paid", "unpaid", "shipped", "completed", "cancelled")
        ids = []
        with self._lock:
            shop = self.shops[shop_id]
            option = shop.options[shop.option_ids[options.get("delivery", "custom")]]
            rng = random.Random(f"{self.seed}-{shop_id}-{len(shop.orders)}")
            for when in times:
                status = options.get("status") or mix[rng.randrange(len(mix))]
                self._order_seq += 1
                when = when.astimezone(UTC).replace(microsecond=0)
                order = orders.new_order(rng, when, self._order_seq, option)
                orders.set_status(order, status, when)
                shop.orders[order["id"]] = order
                self._changes += 1
                ids.append(order["id"])
        return ids

    def put_order(self, shop_id: str, payload: dict[str, Any]) -> str:
        """Serve ``payload`` (e.g. a documented example order) as one of the shop's orders; returns its id."""
        order = json.loads(json.dumps(payload))
        created = datetime.fromisoformat(order["created_at"].replace("Z", "+00:00")).astimezone(UTC)
        updated = datetime.fromisoformat(order["updated_at"].replace("Z", "+00:00")).astimezone(UTC)
        order.update(_created=created, _updated=updated)
        with self._lock:
            self.shops[shop_id].orders[order["id"]] = order
            self._changes += 1
        return order["id"]

    def delivery_option_id(self, shop_id: str, key: str) -> str:
        """The id of the shop's delivery option ``key`` (a key of ``shopline_orders.DELIVERY_OPTIONS``)."""
        return self.shops[shop_id].option_ids[key]

    def _touch(self, order: dict[str, Any]) -> None:
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        order["_updated"], order["updated_at"] = now, orders.iso_time(now)

    def update_order(self, shop_id: str, external_id: str, **changes: Any) -> None:
        """``status=`` canonical, or raw ``order_status``/``payment_status``/``delivery_status``; ``address=``;
        ``archived=True``. Everything but a delivery-only change bumps ``updated_at`` (as Shopline does)."""
        with self._lock:
            shop = self.shops[shop_id]
            order = shop.orders[external_id]
            self._changes += 1
            bump = False
            if "status" in changes:
                orders.set_status(order, changes["status"], self.clock.now())
                bump = True
            if "order_status" in changes:
                order["status"], bump = changes["order_status"], True
            if "payment_status" in changes:
                order["order_payment"]["status"], bump = changes["payment_status"], True
            if "delivery_status" in changes:
                order["order_delivery"]["status"] = changes["delivery_status"]
            if "address" in changes:
                order["delivery_address"].update(changes["address"])
                bump = True
            if changes.get("archived"):
                shop.archived.add(external_id)
            if bump:
                self._touch(order)

    def shipment_of(self, shop_id: str, external_id: str) -> dict[str, Any] | None:
        """What Shopline shows of the shipment: None while the delivery is pending and not booked."""
        with self._lock:
            order = self.shops[shop_id].orders[external_id]
            delivery, delivery_data = order["order_delivery"], order.get("delivery_data") or {}
            if delivery.get("status") not in SHIPPED_STATUSES and delivery.get("delivery_status") not in REQUEST_STATES:
                return None
            return {"tracking_number": delivery_data.get("tracking_number"), "status": delivery.get("status"),
                    "delivery_status": delivery.get("delivery_status"),
                    "region_type": self._region_type(self.shops[shop_id], order),
                    "carrier": delivery_data.get("delivery_provider_name")}
