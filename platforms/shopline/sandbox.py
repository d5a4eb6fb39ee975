"""A local Shopline Open API: bearer tokens with lifetimes, OAuth code + refresh (the refresh token
dies one day after its access token), ``/v1/orders`` paging with inclusive UTC filters, 410 for
archived orders, the two shipment calls, rate limit, faults and a deterministic generator.

Behaviour (spec §4; where it says unknown the sandbox follows Doorkeeper, the Rails OAuth server):

- a missing, unknown, expired or revoked bearer token answers ``401 {"error":"invalid_token",
  "error_description":...}``; a refused grant ``400 {"error":"invalid_grant",...}``; a wrong app
  ``401 {"error":"invalid_client",...}``;
- a refresh rotates both tokens. As Doorkeeper's ``refresh_token_revoked_on_use`` does, the used
  refresh token dies when the *new* access token is first used (so a retry after a lost answer still
  works); the old access token lives until its own expiry; a refresh token is valid until
  ``refresh_grace`` (1 day) after the access token it came with expires;
- ``GET /v1/orders``: ``order_ids[]``, ``updated_after/before`` and ``created_after/before`` in UTC
  ``YYYY-MM-DD HH:MM:SS``, inclusive (a malformed one answers 422); ``page`` from 1, ``per_page``
  clamped to ``max_per_page``; newest first; archived orders are left out and ``GET /v1/orders/{id}``
  answers 410 for them;
- shipment calls (``execute_shipment``, ``PUT /v1/order_deliveries/{id}``) change the delivery only
  and do not bump the order's ``updated_at`` (as the spec says of ``order_delivery`` changes);
- more than ``rate_limit`` requests per second per token answer 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from platforms import sandbox_data as data
from platforms.sandboxing import RateLimiter, Sandbox, SandboxClock, bearer_token, json_response

__all__ = ["ShoplineSandbox", "CANONICAL_TO_AXES"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
INVALID_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match the redirection "
                 "URI used in the authorization request, or was issued to another client.")
#: canonical status -> (status, payment status, delivery status)
CANONICAL_TO_AXES = {
    "unpaid": ("pending", "pending", "pending"), "paid": ("pending", "completed", "pending"),
    "ready_to_ship": ("confirmed", "completed", "pending"), "shipped": ("confirmed", "completed", "shipped"),
    "delivered": ("confirmed", "completed", "arrived"), "completed": ("completed", "completed", "arrived"),
    "cancelled": ("cancelled", "refunded", "pending"), "returned": ("confirmed", "refunded", "returned"),
}
_DEFAULT_MIX = ("ready_to_ship", "ready_to_ship", "paid", "unpaid", "shipped", "completed", "cancelled")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _money(amount: Decimal, currency: str = "TWD") -> dict[str, Any]:
    return {"cents": int(amount * 100), "dollars": float(amount), "currency_iso": currency,
            "currency_symbol": "NT$", "label": f"NT${amount:,.0f}"}


def _oid(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


@dataclass
class _Token:
    access: str
    refresh: str | None
    merchant_id: str
    access_expires: datetime | None
    refresh_expires: datetime | None
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


class _Reply(Exception):
    """Answer now with this response."""

    def __init__(self, response: Response):
        super().__init__()
        self.response = response


class ShoplineSandbox(Sandbox):
    """Shopline's open API for several merchants and one OAuth app."""

    platform_type = "shopline"

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1, rate_limit: int = 20,
                 max_per_page: int = 200, access_ttl: int = 86400, refresh_grace: int = 86400,
                 honor_order_ids: bool = True):
        super().__init__(clock=clock, seed=seed)
        self.honor_order_ids = honor_order_ids  # False: behave like an API that ignores order_ids[]
        self.limiter = RateLimiter(rate_limit, self.clock)
        self.max_per_page = max_per_page
        self.access_ttl = access_ttl
        self.refresh_grace = refresh_grace
        rng = random.Random(f"shopline-{seed}")
        self.client_id = f"{rng.getrandbits(128):032x}"
        self.client_secret = f"{rng.getrandbits(160):040x}"
        self.shops: dict[str, _Shop] = {}
        self.tokens: dict[str, _Token] = {}  # access token -> token
        self.refresh_tokens: dict[str, _Token] = {}
        self.codes: dict[str, tuple[str, str, datetime]] = {}  # code -> (merchant, redirect_uri, expires)
        self.user_agents: deque[str] = deque(maxlen=100)  # the latest requests' User-Agent headers
        self._rng = rng
        self._lock = threading.RLock()
        self._order_seq = 0
        self._changes = 0  # bumped by every change that can alter a listing
        self._list_cache: tuple[Any, list[dict[str, Any]]] = (None, [])

    # -- wire -------------------------------------------------------------------------------------------
    def error_body(self, code: str, message: str) -> Any:
        return {"code": code, "message": message}

    def dispatch(self, request: Request) -> Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        try:
            if request.path == "/oauth/authorize" and request.method == "GET":
                return self._authorize(request)
            if request.path == "/oauth/token" and request.method == "POST":
                return self._token(request)
            if request.path.startswith("/v1/"):
                token = self._bearer(request)
                with self._lock:
                    return self._api(request, token)
        except _Reply as reply:
            return reply.response
        return json_response({"code": "NOT_FOUND", "message": "Not Found"}, 404)

    # -- OAuth ------------------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or not args.get("redirect_uri"):
            return Response("<html><body>Client authentication failed</body></html>", 401, content_type="text/html")
        redirect, state = args["redirect_uri"], args.get("state", "")
        if args.get("decision") == "deny":
            query = {"error": "access_denied", "state": state}
        else:
            with self._lock:
                merchant = args.get("merchant_id") or next(
                    (m for m, s in reversed(self.shops.items()) if s.auth_model == "oauth"), None)
                if merchant not in self.shops:
                    return Response("<html><body>Unknown merchant</body></html>", 404, content_type="text/html")
                code = secrets.token_hex(16)
                self.codes[code] = (merchant, redirect, self.clock.now() + timedelta(minutes=10))
            query = {"code": code, "state": state}
        sep = "&" if urlsplit(redirect).query else "?"
        return Response("", 302, headers={"Location": f"{redirect}{sep}{urlencode(query)}"})

    def _grant_error(self, error: str, description: str, status: int = 400) -> _Reply:
        return _Reply(json_response({"error": error, "error_description": description}, status))

    def _token(self, request: Request) -> Response:
        body = self._body(request)
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            raise self._grant_error("invalid_client", "Client authentication failed due to unknown client, no "
                                    "client authentication included, or unsupported authentication method.", 401)
        now = self.clock.now()
        with self._lock:
            grant = body.get("grant_type")
            if grant == "authorization_code":
                found = self.codes.pop(str(body.get("code") or ""), None)
                if found is None or found[2] <= now or (body.get("redirect_uri") not in (None, found[1])):
                    raise self._grant_error("invalid_grant", INVALID_GRANT)
                token = self._issue(found[0], now)
            elif grant == "refresh_token":
                old = self.refresh_tokens.get(str(body.get("refresh_token") or ""))
                if old is None or old.revoked or old.refresh is None or (old.refresh_expires and
                                                                         old.refresh_expires <= now):
                    raise self._grant_error("invalid_grant", INVALID_GRANT)
                token = self._issue(old.merchant_id, now)
                token.previous_refresh = old.refresh
            else:
                raise self._grant_error("unsupported_grant_type", "The authorization grant type is not supported by "
                                        "the authorization server.")
        return json_response({"access_token": token.access, "token_type": "Bearer", "expires_in": self.access_ttl,
                              "refresh_token": token.refresh, "scope": "orders", "created_at": int(now.timestamp()),
                              "merchant_id": token.merchant_id})

    def _issue(self, merchant: str, now: datetime) -> _Token:
        expires = now + timedelta(seconds=self.access_ttl)
        token = _Token(secrets.token_hex(32), secrets.token_hex(32), merchant, expires,
                       expires + timedelta(seconds=self.refresh_grace))
        self.tokens[token.access] = token
        self.refresh_tokens[token.refresh] = token
        return token

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.mimetype == "application/json":
            try:
                body = json.loads(request.get_data(as_text=True) or "{}")
            except ValueError:
                raise _Reply(json_response({"error": "invalid_request", "error_description": "bad JSON"}, 400)) \
                    from None
            return body if isinstance(body, dict) else {}
        return dict(request.form)

    def _bearer(self, request: Request) -> _Token:
        value = bearer_token(request)
        with self._lock:
            token = self.tokens.get(value)
            if token is None:
                raise self._invalid_token("The access token is invalid")
            if token.revoked:
                raise self._invalid_token("The access token was revoked")
            if token.access_expires and token.access_expires <= self.clock.now():
                raise self._invalid_token("The access token expired")
            if token.previous_refresh:
                self.refresh_tokens.pop(token.previous_refresh, None)
                token.previous_refresh = None
        if not self.limiter.allow(value):
            raise _Reply(json_response({"code": "TOO_MANY_REQUESTS", "message": "Too Many Requests"}, 429,
                                       {"Retry-After": "1"}))
        return token

    @staticmethod
    def _invalid_token(description: str) -> _Reply:
        return _Reply(json_response({"error": "invalid_token", "error_description": description}, 401,
                                    {"WWW-Authenticate": f'Bearer realm="Doorkeeper", error="invalid_token", '
                                                         f'error_description="{description}"'}))

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
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "execute_shipment" and method == "POST":
            return self._execute_shipment(shop, parts[1], self._body(request))
        if len(parts) == 2 and parts[0] == "order_deliveries" and method in ("PUT", "PATCH"):
            return self._update_delivery(shop, parts[1], self._body(request))
        return json_response({"code": "NOT_FOUND", "message": "Not Found"}, 404)

    def _order(self, shop: _Shop, order_id: str) -> dict[str, Any]:
        if order_id in shop.archived:
            raise _Reply(json_response({"code": "ARCHIVED", "message": "Order has been archived, please use Get "
                                        "Archived Orders"}, 410))
        order = shop.orders.get(order_id)
        if order is None:
            raise _Reply(json_response({"code": "NOT_FOUND", "message": "Order not found"}, 404))
        return order

    @staticmethod
    def _time_arg(request: Request, name: str) -> datetime | None:
        value = request.args.get(name)
        if value is None:
            return None
        try:
            return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _Reply(json_response({"code": "UNPROCESSABLE_ENTITY", "message": f"{name} is invalid, expected "
                                        "format YYYY-MM-DD HH:MM:SS"}, 422)) from None

    def _list(self, shop: _Shop, request: Request) -> Response:
        bounds = {n: self._time_arg(request, n) for n in ("updated_after", "updated_before", "created_after",
                                                            "created_before")}
        try:
            page = int(request.args.get("page", 1))
            per_page = min(int(request.args.get("per_page", 24)), self.max_per_page)
        except ValueError:
            raise _Reply(json_response({"code": "UNPROCESSABLE_ENTITY", "message": "page and per_page must be "
                                        "integers"}, 422)) from None
        if page < 1 or per_page < 1:
            raise _Reply(json_response({"code": "UNPROCESSABLE_ENTITY", "message": "page and per_page must be "
                                        "positive"}, 422))

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
            self._list_cache = (key, sorted((o for i, o in shop.orders.items() if i not in shop.archived and keep(o)),
                                            key=lambda o: (o["_created"], o["id"]), reverse=True))
        matching = self._list_cache[1]
        items = [self._public(o) for o in matching[(page - 1) * per_page: page * per_page]]
        total_pages = (len(matching) + per_page - 1) // per_page
        return json_response({"items": items, "pagination": {"current_page": page, "per_page": per_page,
                                                             "total_pages": total_pages,
                                                             "total_count": len(matching)}})

    @staticmethod
    def _public(order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def _execute_shipment(self, shop: _Shop, order_id: str, body: dict[str, Any]) -> Response:
        order = self._order(shop, order_id)
        delivery = order["order_delivery"]
        if order["status"] == "cancelled":
            return json_response({"code": "UNPROCESSABLE_ENTITY", "message": "Order is cancelled"}, 422)
        if delivery["status"] not in ("pending",):
            return json_response({"code": "UNPROCESSABLE_ENTITY",
                                  "message": f"Order delivery status is already {delivery['status']}"}, 422)
        delivery.update(status="shipped", tracking_number=body.get("tracking_number") or None,
                        delivery_provider_name=body.get("delivery_provider_name") or None)
        return json_response(self._public(order))

    def _update_delivery(self, shop: _Shop, delivery_id: str, body: dict[str, Any]) -> Response:
        order = next((o for o in shop.orders.values() if o["order_delivery"]["id"] == delivery_id), None)
        if order is None:
            return json_response({"code": "NOT_FOUND", "message": "Order delivery not found"}, 404)
        if not str(body.get("tracking_number") or "").strip():
            return json_response({"code": "UNPROCESSABLE_ENTITY", "message": "tracking_number can't be blank"}, 422)
        order["order_delivery"]["tracking_number"] = body["tracking_number"]
        if body.get("status"):
            order["order_delivery"]["status"] = body["status"]
        return json_response(order["order_delivery"])

    # -- admin helpers ------------------------------------------------------------------------------------
    def platform_fields(self) -> dict[str, Any]:
        return {"host": self.base_url, "app_id": self.client_id, "app_secret": self.client_secret, "settings": {}}

    def add_shop(self, **options: Any) -> dict[str, Any]:
        """A merchant. ``auth_model="token"`` (default: a static API token in the credentials) or ``"oauth"``."""
        model = options.get("auth_model", "token")
        if model not in ("token", "oauth"):
            raise ValueError(f"auth_model must be 'token' or 'oauth', not {model!r}")
        with self._lock:
            merchant = _oid(self._rng)
            handle = options.get("handle") or f"shop{len(self.shops) + 1}"
            shop = _Shop(merchant, handle, options.get("name") or f"{data.person_name(self._rng)}的小舖", model, None)
            if model == "token":
                shop.api_token = secrets.token_hex(32)
                self.tokens[shop.api_token] = _Token(shop.api_token, None, merchant, None, None)
            self.shops[merchant] = shop
        credentials = {"access_token": shop.api_token} if shop.api_token else {}
        return {"shop_id": merchant, "credentials": credentials, "settings": {"auth_model": model}}

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

        ``status=`` a canonical status for all (default: a deterministic mix).
        """
        now = self.clock.now().replace(microsecond=0)
        end = end or now
        start = start or end - timedelta(hours=1)
        times = options.get("times") or [start + (end - start) * i / max(count, 1) for i in range(count)]
        ids = []
        with self._lock:
            shop = self.shops[shop_id]
            rng = random.Random(f"{self.seed}-{shop_id}-{len(shop.orders)}")
            for i, when in enumerate(times):
                status = options.get("status") or _DEFAULT_MIX[rng.randrange(len(_DEFAULT_MIX))]
                order = self._new_order(rng, when.astimezone(UTC).replace(microsecond=0), status, i)
                shop.orders[order["id"]] = order
                self._changes += 1
                ids.append(order["id"])
        return ids

    def _new_order(self, rng: random.Random, when: datetime, status: str, index: int) -> dict[str, Any]:
        self._order_seq += 1
        name, phone, address = data.person_name(rng), data.mobile(rng), data.tw_address(rng)
        items, subtotal = [], Decimal(0)
        for product, qty in data.pick_products(rng):
            subtotal += product.price * qty
            items.append({"id": _oid(rng), "item_type": "Product", "item_id": _oid(rng), "quantity": qty,
                          "item_price": _money(product.price), "price": _money(product.price),
                          "total": _money(product.price * qty), "sku": product.sku,
                          "title_translations": {"zh-hant": product.name}})
        fee = Decimal(rng.choice((0, 60, 100)))
        discount = Decimal(rng.choice((0, 0, 50)))
        payment_type = rng.choice(("credit_card", "cash_on_delivery", "bank_transfer"))
        order = {
            "id": _oid(rng), "order_number": f"{when:%Y%m%d}{self._order_seq:05d}",
            "status": "pending", "currency_iso": "TWD", "subtotal": _money(subtotal),
            "order_discount": _money(discount), "total": _money(subtotal + fee - discount),
            "customer_id": _oid(rng), "customer_name": name, "customer_email": f"buyer{self._order_seq}@example.tw",
            "customer_phone": phone,
            "order_payment": {"id": _oid(rng), "status": "pending", "payment_type": payment_type, "paid_at": None},
            "order_delivery": {"id": _oid(rng), "status": "pending", "delivery_type": "custom",
                               "tracking_number": None, "total": _money(fee)},
            "delivery_address": {"country_code": "TW", "country": "台灣", "city": address["city"],
                                 "district": address["district"], "postcode": address["zip"],
                                 "address_1": address["line1"], "address_2": "", "recipient_name": name,
                                 "recipient_phone": phone, "state": None},
            "subtotal_items": items, "order_remarks": "",
            "created_at": _iso(when), "updated_at": _iso(when), "_created": when, "_updated": when,
        }
        self._set_status(order, status, when)
        return order

    @staticmethod
    def _set_status(order: dict[str, Any], status: str, when: datetime) -> None:
        if status not in CANONICAL_TO_AXES:
            raise ValueError(f"unknown canonical status {status!r}")
        order_status, payment, delivery = CANONICAL_TO_AXES[status]
        order["status"] = order_status
        order["order_payment"]["status"] = payment
        if payment == "completed" and not order["order_payment"]["paid_at"]:
            order["order_payment"]["paid_at"] = _iso(when)
        order["order_delivery"]["status"] = delivery

    def _touch(self, order: dict[str, Any]) -> None:
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        order["_updated"], order["updated_at"] = now, _iso(now)

    def update_order(self, shop_id: str, external_id: str, **changes: Any) -> None:
        """``status=`` canonical, or raw ``order_status``/``payment_status``/``delivery_status``; ``address=``;
        ``archived=True``. Everything but a delivery-only change bumps ``updated_at`` (as Shopline does)."""
        with self._lock:
            shop = self.shops[shop_id]
            order = shop.orders[external_id]
            self._changes += 1
            bump = False
            if "status" in changes:
                self._set_status(order, changes["status"], self.clock.now())
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
        with self._lock:
            delivery = self.shops[shop_id].orders[external_id]["order_delivery"]
            if not delivery.get("tracking_number"):
                return None
            return {"tracking_number": delivery["tracking_number"], "carrier": delivery.get("delivery_provider_name"),
                    "status": delivery["status"]}
