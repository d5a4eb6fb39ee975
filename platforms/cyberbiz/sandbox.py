"""A local Cyberbiz: V1 behind Kong hmac-auth, V2 bearer tokens with OAuth, orders and custom_shipping.

It behaves like the real API as documented in ``shared/specs/marketplaces.md`` §2:

- **V1 (Kong hmac-auth)**: ``Authorization: hmac username=…, algorithm=…, headers=…, signature=…``
  verified over the listed headers, ``request-line`` taken from the RAW request line (so the query
  string counts); X-Date (or Date) within ``clock_skew`` (300 s) of the sandbox clock. Kong's own
  answers: 401 ``{"message":"Unauthorized"}`` without credentials, 403 ``"HMAC signature cannot be
  verified, a valid date or x-date header is required for HMAC Authentication"`` for a missing or
  skewed date, 403 ``"HMAC signature cannot be verified"`` for an unknown key or unparsable header,
  403 ``"HMAC signature does not match"`` (also for a ``Digest`` header that does not match the body,
  and, with ``require_digest=True``, for a body sent without a signed digest).
- **V2 (bearer)**: OAuth on the shop's domain, served here under ``/_shops/{shop}`` (the adapter's
  ``shop_url_template``): ``GET /admin/oauth/authorize`` answers the merchant's approval with a 302
  to ``redirect_uri?code&state&shop``; ``POST /admin/oauth/token`` with ``authorization_code`` or
  ``refresh_token`` grants. Access and refresh tokens expire (``access_ttl``/``refresh_ttl`` on the
  sandbox clock); a refresh rotates both tokens and the used refresh token is dead (``invalid_grant``);
  the previous access token stays valid until its own expiry (unknown in the spec; the gentler choice).
  Rotation itself is unknown too: ``rotate_refresh=False`` answers a refresh with a new access token
  only and keeps the refresh token usable.
  Expired or unknown bearer tokens get 401; a token without the scope a call needs (``read_orders``
  for GETs, ``write_orders`` for writes, as granted at consent) gets 403 ``{"error":["權限不足…"]}``.
- **Limits**: at most ``rate_limit`` (5) requests per second per token / HMAC key, else 429
  ``{"message":"API rate limit exceeded"}`` with ``Retry-After``.
- **Orders**: ``GET /v1/orders`` filters ``updated_at_start_time``/``_end_time`` as Asia/Taipei local
  strings, inclusive at both ends; status filters (comma = union); ``page``/``per_page`` (clamped to
  50)/``offset``; ordered by id; bare JSON array; ``X-Page, X-Per-Page, X-Offset, X-Total,
  X-Total-Pages, X-Next-Page, X-Prev-Page`` headers ("" when there is none). ``GET /v1/orders/{id}``
  (404 ``{"error":["無此資源"]}``; ``missing_order="null"``/``"206"`` answers ``200 null``/``206 []``
  instead, as some Cyberbiz lookups do), ``GET /v1/orders/{id}/fulfillments``,
  ``POST /v1/orders/{id}/fulfillments/custom_shipping`` (201; 422 ``{"error":[…]}`` for missing
  fields, unknown carrier or line, a line already shipped, a cancelled order).
- money as JSON floats and times as Taipei strings, like the real payloads; deterministic orders with
  Traditional Chinese names and Taiwanese addresses (:mod:`platforms.sandbox_data`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from platforms import sandbox_data
from platforms.cyberbiz.carriers import TRACKING_COMPANIES
from platforms.cyberbiz.signing import body_digest, parse_authorization, parse_http_date, signature
from platforms.sandboxing import Fault, RateLimiter, Sandbox, SandboxClock, bearer_token, json_response

__all__ = ["CyberbizSandbox", "TRACKING_COMPANIES", "CANONICAL_TO_AXES"]

TAIPEI = ZoneInfo("Asia/Taipei")
LOCAL = "%Y-%m-%d %H:%M:%S"
NOT_FOUND = {"error": ["無此資源"]}
KONG_UNAUTHORIZED = "Unauthorized"
KONG_DATE = ("HMAC signature cannot be verified, a valid date or x-date header is required for "
             "HMAC Authentication")
KONG_INVALID = "HMAC signature cannot be verified"
KONG_MISMATCH = "HMAC signature does not match"

CANONICAL_TO_AXES = {
    "unpaid": ("open", "pending", "unshipped", "no_need"),
    "paid": ("open", "paid", "unshipped", "no_need"),
    "ready_to_ship": ("open", "paid", "preparing", "no_need"),
    "shipped": ("open", "paid", "fulfilled", "no_need"),
    "delivered": ("open", "paid", "arrived", "no_need"),
    "completed": ("closed", "paid", "received", "no_need"),
    "cancelled": ("cancelled", "pending", "unshipped", "no_need"),
    "returned": ("open", "refunded", "returned", "returned"),
}
_AXES = ("order_status", "financial_status", "fulfillment_status", "return_status")
_STATUS_FILTERS = {"statuses": "order_status", "financial_statuses": "financial_status",
                   "fulfillment_statuses": "fulfillment_status", "return_statuses": "return_status"}
_GENERATED_MIX = ("paid", "paid", "paid", "unpaid", "ready_to_ship", "cod")
_PAYMENTS = ("信用卡", "ATM轉帳", "LINE Pay", "街口支付")


def _local(when: datetime) -> str:
    return when.astimezone(TAIPEI).strftime(LOCAL)


def _parse_local(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, LOCAL).replace(tzinfo=TAIPEI).astimezone(UTC)
    except ValueError:
        return None


def _axes_for(status: str) -> tuple[str, str, str, str]:
    try:
        return CANONICAL_TO_AXES[status]
    except KeyError:
        raise ValueError(f"unknown status {status!r}; use one of {', '.join(CANONICAL_TO_AXES)} or 'cod'") from None


def _error(messages: str | list[str], status: int) -> Response:
    return json_response({"error": messages if isinstance(messages, list) else [messages]}, status)


@dataclass
class _Shop:
    domain: str
    auth_model: str
    username: str | None = None
    secret: str | None = None
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    updated: dict[int, datetime] = field(default_factory=dict)


@dataclass
class _Token:
    shop: str
    expires_at: datetime
    used: bool = False
    scopes: frozenset[str] = frozenset({"read_orders", "write_orders"})


class CyberbizSandbox(Sandbox):
    """A faithful local Cyberbiz (both auth models) on 127.0.0.1."""

    platform_type = "cyberbiz"

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1, rate_limit: int = 5,
                 clock_skew: int = 300, access_ttl: int = 7200, refresh_ttl: int = 30 * 86400,
                 send_expires_in: bool = True, client_id: str = "cbz-app-1001",
                 client_secret: str | None = None, missing_order: str = "404", require_digest: bool = False,
                 rotate_refresh: bool = True):
        super().__init__(clock=clock, seed=seed)
        if missing_order not in ("404", "null", "206"):
            raise ValueError("missing_order must be '404', 'null' or '206'")
        self.missing_order = missing_order
        self.require_digest = require_digest
        self.rotate_refresh = rotate_refresh
        self.clock_skew = clock_skew
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.send_expires_in = send_expires_in
        self.client_id = client_id
        self.client_secret = client_secret or hashlib.sha256(f"cbz-app-secret:{seed}".encode()).hexdigest()[:32]
        self.limiter = RateLimiter(rate_limit, self.clock)
        self._lock = threading.RLock()
        self._shops: dict[str, _Shop] = {}
        # code -> (shop, redirect_uri, expiry, scopes granted)
        self._codes: dict[str, tuple[str, str, datetime, frozenset[str]]] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._next_order_id = 56_900_000 + seed * 10_000
        self._next_number = 1001
        self._next_line_id = 126_000_000 + seed * 100_000
        self._next_fulfillment_id = 7_700_000

    # ================================================================================ admin helpers
    def platform_fields(self) -> dict[str, Any]:
        return {"host": self.base_url, "app_id": self.client_id, "app_secret": self.client_secret,
                "settings": {"v1_host": self.base_url, "shop_url_template": self.base_url + "/_shops/{shop}"}}

    def add_shop(self, **options: Any) -> dict[str, Any]:
        """A store; ``auth_model="v1"`` returns HMAC credentials, ``"v2"`` (default) needs consent()."""
        auth_model = options.get("auth_model", "v2")
        if auth_model not in ("v1", "v2"):
            raise ValueError("auth_model must be 'v1' or 'v2'")
        with self._lock:
            domain = options.get("domain") or f"shop{len(self._shops) + 1}-s{self.seed}.cyberbiz.co"
            shop = _Shop(domain, auth_model)
            if auth_model == "v1":
                shop.username = options.get("username") or f"cbz-key-{len(self._shops) + 1}"
                shop.secret = options.get("secret") or hashlib.sha256(f"{self.seed}:{domain}".encode()).hexdigest()
            self._shops[domain] = shop
        credentials = {"username": shop.username, "secret": shop.secret} if auth_model == "v1" else {}
        return {"shop_id": domain, "credentials": credentials, "settings": {"auth_model": auth_model}}

    def consent(self, authorize_url: str, *, deny: bool = False) -> dict[str, str]:
        """Open the authorize page as the merchant and approve (or deny); return the callback parameters."""
        return self.follow_authorize(authorize_url, deny=deny)

    def generate_orders(self, shop_id: str, count: int, *, start: datetime | None = None,
                        end: datetime | None = None, **options: Any) -> list[str]:
        """``count`` orders updated over [start, end) (or at ``times=[...]``); ``status=`` a canonical name."""
        now = self.clock.now().replace(microsecond=0)
        start = start or now - timedelta(hours=1)
        end = end or now
        times = options.get("times") or [start + (end - start) * i / max(count, 1) for i in range(count)]
        ids = []
        with self._lock:
            shop = self._shop(shop_id)
            for when in times:
                ids.append(str(self._new_order(shop, when.replace(microsecond=0), options)))
        return ids

    def update_order(self, shop_id: str, external_id: str, **changes: Any) -> None:
        """``status=`` canonical name or the raw axes (``financial_status=…``), ``address=``, ``note=``."""
        with self._lock:
            shop = self._shop(shop_id)
            order = shop.orders[int(external_id)]
            when = changes.pop("updated_at", None) or self.clock.now()
            self._touch(shop, order, when)
            if "status" in changes:
                self._set_axes(order, _axes_for(changes.pop("status")))
            for axis in _AXES:
                if axis in changes:
                    order["statuses"][axis] = changes.pop(axis)
            if "address" in changes:
                address = changes.pop("address")
                receiver = order["receiver"]
                if isinstance(address, str):
                    receiver["address"] = address
                    receiver["detail_address"]["address1"] = address
                else:
                    receiver["detail_address"].update({k: v for k, v in address.items() if k != "full"})
                    receiver["address"] = address.get("full", receiver["address"])
            order.update(changes)

    def shipment_of(self, shop_id: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            order = self._shop(shop_id).orders.get(int(external_id))
            if not order or not order["fulfillments"]:
                return None
            last = order["fulfillments"][-1]
            return {"tracking_number": last["tracking_number"], "carrier": last["tracking_company"],
                    "line_item_ids": [item["id"] for item in last["line_items"]],
                    "notify_customer": last.get("notify_customer"), "fulfilled_at": last["fulfilled_at"]}

    def revoke_access_tokens(self, shop_id: str) -> int:
        """Kill the shop's live access tokens early (as a revoked or unlicensed token); refresh tokens live on."""
        with self._lock:
            now = self.clock.now()
            doomed = [t for t, entry in self._access.items() if entry.shop == shop_id and entry.expires_at > now]
            for token in doomed:
                self._access[token].expires_at = now
            return len(doomed)

    def order(self, shop_id: str, external_id: str) -> dict[str, Any]:
        """The stored raw order (a copy), for tests."""
        with self._lock:
            return json.loads(json.dumps(self._shop(shop_id).orders[int(external_id)]))

    # ================================================================================ data
    def _shop(self, shop_id: str) -> _Shop:
        try:
            return self._shops[shop_id]
        except KeyError:
            raise KeyError(f"no sandbox shop {shop_id!r}") from None

    def _touch(self, shop: _Shop, order: dict[str, Any], when: datetime) -> None:
        order["updated_at"] = _local(when)
        shop.updated[order["id"]] = when.replace(microsecond=0)

    @staticmethod
    def _set_axes(order: dict[str, Any], axes: tuple[str, str, str, str]) -> None:
        order["statuses"].update(dict(zip(_AXES, axes, strict=True)))
        if axes[0] == "cancelled":
            order["timings"]["cancelled_at"] = order["updated_at"]

    def _new_order(self, shop: _Shop, when: datetime, options: dict[str, Any]) -> int:
        order_id, number = self._next_order_id, self._next_number
        self._next_order_id += 1
        self._next_number += 1
        rng = random.Random(f"{self.seed}:{shop.domain}:{number}")
        status = options.get("status") or rng.choice(_GENERATED_MIX)
        cod = status == "cod"
        axes = ("open", "cod", "unshipped", "no_need") if cod else _axes_for(status)
        lines = []
        for product, qty in sandbox_data.pick_products(rng):
            line_id = self._next_line_id
            self._next_line_id += 1
            price = float(product.price)
            before = price * qty
            line_discount = float(round(before * 0.1)) if rng.random() < 0.25 else 0.0  # a 9-折 special collection
            lines.append({"id": line_id, "product_id": 68_700_000 + zlib.crc32(product.sku.encode()) % 10_000,
                          "product_variant_id": 83_600_000 + line_id % 100_000, "title": product.name,
                          "variant_title": "", "sku": None if options.get("null_sku") else product.sku,
                          "price": price, "quantity": qty, "item_type": "normal",
                          "discount_name": "特惠 9 折" if line_discount else "", "discounts": [],
                          "total_price_before_discounts": before, "total_discount": line_discount,
                          "total_price_after_discounts": before - line_discount})
        subtotal = sum(line["total_price_after_discounts"] for line in lines)
        shipping = 0.0 if subtotal >= 1000 else 60.0
        coupon = 50.0 if subtotal >= 800 and rng.random() < 0.3 else 0.0
        name = sandbox_data.person_name(rng)
        phone = sandbox_data.mobile(rng)
        address = sandbox_data.tw_address(rng)
        cvs = options.get("cvs", rng.random() < 0.2)
        local = _local(when)
        order = {
            "id": order_id, "order_number": number, "order_name": f"#{number}", "created_at": local,
            "updated_at": local, "subtotal_price": subtotal,
            "customer": {"id": 42_000_000 + number, "name": name, "email": f"buyer{number}@example.com.tw",
                         "mobile": phone},
            "buyer": {"email": f"buyer{number}@example.com.tw", "mobile": None},
            "receiver": {"name": name, "phone": phone, "address": address["full"],
                         "detail_address": {"zip": address["zip"], "city": address["city"],
                                            "district": address["district"], "address1": address["line1"]},
                         "cvs_store_id": f"{rng.randrange(100000, 999999)}" if cvs else None},
            "line_items": lines,
            "shipping_type": "cyberbiz", "shipping_name": "7-11 超商取貨" if cvs else "宅配",
            "fulfillments": [], "payment_method": "貨到付款" if cod else rng.choice(_PAYMENTS),
            "prices": {"total_line_items_price": subtotal, "shipping_rate_price": shipping,
                       "discounts": {"coupon_discount": coupon or None, "bonus_consumed": 0.0},
                       "total_price": subtotal + shipping - coupon},
            "statuses": dict(zip(_AXES, axes, strict=True)),
            "timings": {"refund_at": None, "closed_at": None, "cancelled_at": None, "confirmed_at": local},
            "note": "", "tags": [],
        }
        shop.orders[order_id] = order
        shop.updated[order_id] = when
        return order_id

    # ================================================================================ HTTP
    def error_body(self, code: str, message: str) -> Any:
        return {"message": message}

    def apply_fault(self, fault: Fault, request: Request) -> Response | None:
        if fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return json_response({"message": "API rate limit exceeded"}, 429, headers)
        if fault.kind == "truncated_json":
            return Response('[{"id": 56943817, "order_number": 1101, "created_at": "2026-09-07 12:3',
                            status=200, content_type="application/json; charset=utf-8")
        if fault.kind == "error_envelope":
            return json_response({"error": ["系統忙碌中，請稍後再試"]}, 200)
        return super().apply_fault(fault, request)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_shops/"):
            _, _, rest = path.partition("/_shops/")
            shop, _, sub = rest.partition("/")
            return self._oauth(request, shop, "/" + sub)
        if not path.startswith("/v1/"):
            return json_response(NOT_FOUND, 404)
        shop, denied = self._authenticate(request)
        if denied is not None:
            return denied
        with self._lock:
            return self._route(request, shop)

    # -- authentication ---------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> tuple[_Shop | None, Response | None]:
        header = request.headers.get("Authorization", "")
        token = bearer_token(request)
        if token:
            shop, key, denied = self._bearer(token, request.method)
        elif header.lower().startswith("hmac "):
            shop, key, denied = self._hmac(request, header)
        else:
            return None, json_response({"message": KONG_UNAUTHORIZED}, 401)
        if denied is not None:
            return None, denied
        if not self.limiter.allow(key):
            return None, json_response({"message": "API rate limit exceeded"}, 429, {"Retry-After": "1"})
        return shop, None

    def _bearer(self, token: str, method: str) -> tuple[_Shop | None, str, Response | None]:
        """A live token for a shop, carrying the scope the call needs (``read_*`` for GET, ``write_*`` else)."""
        with self._lock:
            entry = self._access.get(token)
            if entry is None or entry.expires_at <= self.clock.now():
                return None, "", json_response({"error": "401 Unauthorized: API token 無效或已過期"}, 401)
            needed = "read_orders" if method == "GET" else "write_orders"
            if needed not in entry.scopes:
                return None, "", json_response({"error": [f"權限不足：此 API token 沒有 {needed} 權限"]}, 403)
            return self._shops[entry.shop], "bearer:" + token, None

    def _hmac(self, request: Request, header: str) -> tuple[_Shop | None, str, Response | None]:
        """Kong hmac-auth: date and clock skew first, then credential, then signature."""
        date_value = request.headers.get("X-Date") or request.headers.get("Date")
        sent = parse_http_date(date_value) if date_value else None
        if sent is None or abs((self.clock.now() - sent).total_seconds()) > self.clock_skew:
            return None, "", json_response({"message": KONG_DATE}, 403)
        params = parse_authorization(header)
        if params is None or params.get("algorithm", "hmac-sha256") != "hmac-sha256":
            return None, "", json_response({"message": KONG_INVALID}, 403)
        with self._lock:
            shop = next((s for s in self._shops.values() if s.username == params["username"]), None)
        if shop is None or shop.secret is None:
            return None, "", json_response({"message": KONG_INVALID}, 403)
        names = (params.get("headers") or "date").split()
        lines = []
        for name in names:
            if name == "request-line":
                raw_uri = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
                lines.append(f"{request.method} {raw_uri} {request.environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}")
            else:
                lines.append(f"{name}: {request.headers.get(name, '')}")
        expected = signature(shop.secret, "\n".join(lines))
        if not secrets.compare_digest(expected, params["signature"]):
            return None, "", json_response({"message": KONG_MISMATCH}, 403)
        if not self._body_digest_ok(request, names):
            return None, "", json_response({"message": KONG_MISMATCH}, 403)
        return shop, "hmac:" + shop.username, None

    def _body_digest_ok(self, request: Request, signed: list[str]) -> bool:
        """Kong ``validate_request_body``: a Digest header must match the body; required when configured."""
        sent = request.headers.get("Digest")
        body = request.get_data(cache=True)
        if sent is not None:
            return secrets.compare_digest(sent, body_digest(body))
        return not (self.require_digest and body and "digest" not in signed)

    # -- OAuth ------------------------------------------------------------------------------------
    def _oauth(self, request: Request, domain: str, sub: str) -> Response:
        with self._lock:
            shop = self._shops.get(domain)
            if shop is None:
                return json_response(NOT_FOUND, 404)
            if sub == "/admin/oauth/authorize" and request.method == "GET":
                return self._authorize(request, shop)
            if sub == "/admin/oauth/token" and request.method == "POST":
                return self._token(request, shop)
        return json_response(NOT_FOUND, 404)

    def _authorize(self, request: Request, shop: _Shop) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id:
            return _error("client_id 不正確", 400)
        if args.get("response_type") != "code" or not redirect_uri:
            return _error("response_type 必須為 code 且需要 redirect_uri", 400)
        query: dict[str, str] = {"state": args.get("state", ""), "shop": shop.domain}
        if args.get("decision") == "deny":
            query = {"error": "access_denied", "error_description": "商家拒絕授權", **query}
        else:
            code = secrets.token_urlsafe(16)
            # no scope asked: the scopes the app was registered with (both order scopes here)
            scopes = frozenset(args.get("scope", "").replace(",", " ").split()) or _Token.scopes
            self._codes[code] = (shop.domain, redirect_uri, self.clock.now() + timedelta(minutes=10), scopes)
            query = {"code": code, **query}
        sep = "&" if "?" in redirect_uri else "?"
        return Response("", status=302, headers={"Location": redirect_uri + sep + urlencode(query)})

    def _token(self, request: Request, shop: _Shop) -> Response:
        body = request.get_json(silent=True) or request.form.to_dict()
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            return json_response({"error": "invalid_client", "error_description": "client 認證失敗"}, 401)
        grant = body.get("grant_type")
        now = self.clock.now()
        if grant == "authorization_code":
            entry = self._codes.pop(str(body.get("code")), None)
            if entry is None or entry[0] != shop.domain or entry[2] <= now:
                return self._invalid_grant("授權碼無效或已過期")
            if body.get("redirect_uri") and body["redirect_uri"] != entry[1]:
                return self._invalid_grant("redirect_uri 與授權時不同")
            scopes = entry[3]
        elif grant == "refresh_token":
            entry_token = self._refresh.get(str(body.get("refresh_token")))
            if entry_token is None or entry_token.shop != shop.domain:
                return self._invalid_grant("refresh_token 無效")
            if entry_token.used:
                return self._invalid_grant("refresh_token 已使用過")
            if entry_token.expires_at <= now:
                return self._invalid_grant("refresh_token 已過期")
            scopes = entry_token.scopes
            if not self.rotate_refresh:
                return json_response(self._issue(shop, now, scopes, with_refresh=False), 200)
            entry_token.used = True
        else:
            return json_response({"error": "unsupported_grant_type"}, 400)
        return json_response(self._issue(shop, now, scopes), 200)

    @staticmethod
    def _invalid_grant(message: str) -> Response:
        return json_response({"error": "invalid_grant", "error_description": message}, 400)

    def _issue(self, shop: _Shop, now: datetime, scopes: frozenset[str], *,
               with_refresh: bool = True) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        self._access[access] = _Token(shop.domain, now + timedelta(seconds=self.access_ttl), scopes=scopes)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "scope": ",".join(sorted(scopes))}
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = _Token(shop.domain, now + timedelta(seconds=self.refresh_ttl), scopes=scopes)
            body["refresh_token"] = refresh
        if self.send_expires_in:
            body["expires_in"] = self.access_ttl
        return body

    # -- orders -----------------------------------------------------------------------------------
    def _route(self, request: Request, shop: _Shop) -> Response:
        parts = [p for p in request.path.split("/") if p]  # v1, orders, {id}, ...
        if parts[:2] != ["v1", "orders"]:
            return json_response(NOT_FOUND, 404)
        if len(parts) == 2 and request.method == "GET":
            return self._list(request, shop)
        if len(parts) < 3 or not parts[2].isdigit() or int(parts[2]) not in shop.orders:
            if len(parts) == 3 and self.missing_order == "null":
                return json_response(None, 200)
            if len(parts) == 3 and self.missing_order == "206":
                return json_response([], 206)
            return json_response(NOT_FOUND, 404)
        order = shop.orders[int(parts[2])]
        if len(parts) == 3 and request.method == "GET":
            return json_response(order)
        if parts[3:] == ["fulfillments"] and request.method == "GET":
            return json_response(order["fulfillments"])
        if parts[3:] == ["fulfillments", "custom_shipping"] and request.method == "POST":
            return self._custom_shipping(request, shop, order)
        return json_response(NOT_FOUND, 404)

    def _list(self, request: Request, shop: _Shop) -> Response:
        args = request.args
        bounds = []
        for name in ("updated_at_start_time", "updated_at_end_time"):
            value = args.get(name)
            parsed = _parse_local(value) if value else None
            if value and parsed is None:
                return _error(f"{name} 格式錯誤，應為 YYYY-MM-DD hh:mm:ss", 400)
            bounds.append(parsed)
        try:
            page = max(1, int(args.get("page", 1)))
            per_page = min(50, max(1, int(args.get("per_page", 50))))
            offset = max(0, int(args.get("offset", 0)))
        except ValueError:
            return _error("page, per_page 與 offset 必須是數字", 400)
        low, high = bounds
        wanted = [(axis, set(args[f].split(","))) for f, axis in _STATUS_FILTERS.items() if args.get(f)]
        selected = [order_id for order_id, updated in shop.updated.items()  # ids ascend with insertion
                    if (low is None or updated >= low) and (high is None or updated <= high)]
        if wanted:
            selected = [i for i in selected
                        if all(shop.orders[i]["statuses"][axis] in values for axis, values in wanted)]
        selected = selected[offset:]
        total = len(selected)
        total_pages = math.ceil(total / per_page)
        chunk = [shop.orders[i] for i in selected[(page - 1) * per_page:page * per_page]]
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Offset": str(offset), "X-Total": str(total),
                   "X-Total-Pages": str(total_pages), "X-Next-Page": str(page + 1) if page < total_pages else "",
                   "X-Prev-Page": str(page - 1) if 1 < page <= total_pages + 1 else ""}
        return json_response(chunk, 200, headers)

    def _custom_shipping(self, request: Request, shop: _Shop, order: dict[str, Any]) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error("請求內容必須是 JSON", 400)
        missing = [k for k in ("line_item_ids", "tracking_number", "tracking_company", "notify_customer")
                   if body.get(k) in (None, "")]
        if missing:
            return _error([f"缺少必要參數: {k}" for k in missing], 422)
        if body["tracking_company"] not in TRACKING_COMPANIES:
            return _error(f"tracking_company 不正確: {body['tracking_company']}", 422)
        if order["statuses"]["order_status"] == "cancelled":
            return _error("訂單已取消，無法出貨", 422)
        lines = {str(line["id"]): line for line in order["line_items"]}
        wanted = [i.strip() for i in str(body["line_item_ids"]).split(",") if i.strip()]
        unknown = [i for i in wanted if i not in lines]
        if unknown or not wanted:
            return _error(f"找不到訂單商品: {','.join(unknown) or '(空)'}", 422)
        shipped = {str(item["id"]) for f in order["fulfillments"] for item in f["line_items"]}
        already = [i for i in wanted if i in shipped]
        if already:
            return _error(f"商品已出貨: {','.join(already)}", 422)
        now = self.clock.now()
        fulfillment = {
            "id": self._next_fulfillment_id, "tracking_company": body["tracking_company"],
            "tracking_number": str(body["tracking_number"]), "fulfilled_at": _local(now), "received_at": None,
            "status": "fulfilled", "line_items": [lines[i] for i in wanted],
            "tracking_url": f"https://track.example.tw/{body['tracking_company']}/{body['tracking_number']}",
            "notify_customer": bool(body["notify_customer"]),
        }
        self._next_fulfillment_id += 1
        order["fulfillments"].append(fulfillment)
        done = shipped | set(wanted)
        order["statuses"]["fulfillment_status"] = "fulfilled" if done >= set(lines) else "partial"
        self._touch(shop, order, now)
        return json_response(fulfillment, 201)
