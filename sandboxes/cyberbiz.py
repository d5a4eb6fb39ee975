"""A local Cyberbiz: V1 behind Kong hmac-auth, V2 OAuth tokens, static API tokens, orders and custom_shipping.

It behaves like the real API as the public record shows it (``shared/specs/contract-evidence.md`` first,
then ``shared/specs/marketplaces.md`` §2; facts and sources in ``docs/contracts/cyberbiz.md``):

- **V1 (Kong hmac-auth, kong/plugins/hmac-auth/access.lua)**: ``Authorization: hmac username=…,
  algorithm=…, headers=…, signature=…`` verified over the listed headers; the ``request-line`` is
  checked against the path WITH its query and, failing that, against the bare path (Kong's deprecated
  second try, ``ngx.var.uri``). X-Date or Date within ``clock_skew`` (300 s) of the sandbox clock.
  Kong's answers: 401 ``{"message":"Unauthorized"}`` without credentials; for HMAC failures
  ``"HMAC signature cannot be verified, a valid date or x-date header is required for HMAC
  Authentication"`` (missing or skewed date), ``"HMAC signature cannot be verified"`` (unknown key,
  unparsable header, unsupported algorithm) and ``"HMAC signature does not match"`` (also a body whose
  ``Digest`` does not match, and with ``require_digest=True`` (``validate_request_body``) a body sent
  without a digest), with status 401 (current Kong; ``kong_status=403`` imitates Kong before 1.0).
- **V2 OAuth**: on the shop's domain, served here under ``/_shops/{shop}`` (the adapter's
  ``shop_url_template``): ``GET /admin/oauth/authorize`` answers the merchant's approval with a 302
  to ``redirect_uri?code&state&shop``; ``POST /admin/oauth/token`` with ``authorization_code`` or
  ``refresh_token`` grants. Access and refresh tokens expire (``access_ttl``/``refresh_ttl`` on the
  sandbox clock); a refresh rotates both tokens and the used refresh token is dead (``invalid_grant``);
  the previous access token stays valid until its own expiry (unknown in the spec; the gentler choice).
  Rotation itself is unknown too: ``rotate_refresh=False`` answers a refresh with a new access token
  only and keeps the refresh token usable.
- **Static API token** (``add_shop(auth_model="token")``; actinc/cyberbiz-sdk CONTEXT.md: one Shop has
  one API Token, a Bearer JWT carrying the shop's id, domain and scopes, copied from the shop admin):
  a JWT-shaped token that never expires; :meth:`rotate_api_token` plays the merchant issuing a new one
  (the old one is dead at once).
- **Bearer answers** (cyberbiz-openapi-v1.yaml conventions): an unknown, expired or revoked token, and a
  token without the scope the call needs (``read_orders`` for GETs, ``write_orders`` for writes), get 401
  ``{"error":["無權使用該 API"]}`` (the recorded 401 body). A feature the shop has not licensed
  (:meth:`unlicense`) gets 401 ``{"error":["無「<feature>」功能，請聯絡您的開店顧問"]}`` (recorded
  bodies of GET /v1/order_etickets and /v1/inventory_sync_groups/{id}), or the plugin form
  ``{"error":"Must have <name> plugin"}`` (recorded for GET /v1/pos_shop_coupons).
- **Limits**: at most ``rate_limit`` (5) requests per second per token / HMAC key, else 429
  ``{"message":"API rate limit exceeded"}`` with ``Retry-After``.
- **Orders**: ``GET /v1/orders`` filters ``updated_at_start_time``/``_end_time`` as Asia/Taipei local
  strings, inclusive at both ends; status filters (comma = union); ``page``/``per_page`` (clamped to
  50)/``offset``; ordered by id; bare JSON array; ``X-Page, X-Per-Page, X-Offset, X-Total,
  X-Total-Pages, X-Next-Page, X-Prev-Page`` headers ("" when there is none). ``GET /v1/orders/{id}``
  (404 ``{"error":["無此資源"]}``; ``missing_order="null"``/``"206"`` answers ``200 null``/``206 []``
  instead, as some Cyberbiz lookups do), ``GET /v1/orders/{id}/fulfillments``,
  ``POST /v1/orders/{id}/fulfillments/custom_shipping`` (201 with the yaml's ``OrderFulfillments``
  shape; 422 ``{"error":[…]}`` for missing fields, unknown carrier or line, a line already shipped, a
  cancelled order).
- **Payloads** follow the recorded order (testdata/golden/v1/GET_v1_orders.json): money as JSON floats,
  times as Taipei strings, ``line_items[]`` with ``item_type``, ``tax_type_id`` and ``related_items``;
  ``generate_orders(..., combo=True)`` adds a combo product line the way the recording shows one:
  ``sku: null``, ``item_type: "normal"``, the real SKUs under ``related_items[].items[].sku`` with their
  list ``price`` and a ``combo_product_price_difference`` such that the children's ``price - difference``
  sum to the combo's price. Deterministic orders with Traditional Chinese names and Taiwanese addresses
  (:mod:`sandboxes.data`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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

from platforms.cyberbiz.carriers import TRACKING_COMPANIES
from platforms.cyberbiz.signing import body_digest, parse_authorization, parse_http_date, signature
from sandboxes import data as sandbox_data
from sandboxes.server import Fault, RateLimiter, Sandbox, SandboxClock, bearer_token, json_response

__all__ = ["CyberbizSandbox", "TRACKING_COMPANIES", "CANONICAL_TO_AXES", "API_REFUSED", "FEATURE_MISSING",
           "PLUGIN_MISSING"]

TAIPEI = ZoneInfo("Asia/Taipei")
LOCAL = "%Y-%m-%d %H:%M:%S"
NOT_FOUND = {"error": ["無此資源"]}
#: the recorded 401 body (actinc/cyberbiz-sdk gendocs: ``{"error":["無權使用該 API"]}`` → 401)
API_REFUSED = {"error": ["無權使用該 API"]}
#: an unlicensed feature, as recorded for /v1/order_etickets ("電子票券") and /v1/inventory_sync_groups
FEATURE_MISSING = "無「{feature}」功能，請聯絡您的開店顧問"
#: the plugin form, as recorded for /v1/pos_shop_coupons
PLUGIN_MISSING = "Must have {feature} plugin"
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
_ALGORITHMS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
               "hmac-sha512": hashlib.sha512}


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


def _product_id(sku: str) -> int:
    return 68_700_000 + zlib.crc32(sku.encode()) % 10_000


def _error(messages: str | list[str], status: int) -> Response:
    return json_response({"error": messages if isinstance(messages, list) else [messages]}, status)


@dataclass
class _Shop:
    domain: str
    auth_model: str
    shop_id: int = 0
    username: str | None = None
    secret: str | None = None
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    updated: dict[int, datetime] = field(default_factory=dict)
    # path prefix -> (status, error body) for features the shop has not licensed
    unlicensed: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)


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
                 rotate_refresh: bool = True, kong_status: int = 401):
        super().__init__(clock=clock, seed=seed)
        if missing_order not in ("404", "null", "206"):
            raise ValueError("missing_order must be '404', 'null' or '206'")
        self.missing_order = missing_order
        self.require_digest = require_digest
        self.kong_status = kong_status
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
        self._api_tokens: dict[str, _Token] = {}  # static API tokens (never expire; replaced by rotation)
        self._notified: dict[int, bool] = {}  # fulfillment id -> notify_customer as sent (not in the answer)
        self._next_order_id = 56_900_000 + seed * 10_000
        self._next_number = 1001
        self._next_line_id = 126_000_000 + seed * 100_000
        self._next_fulfillment_id = 7_700_000

    # ================================================================================ admin helpers
    def platform_fields(self) -> dict[str, Any]:
        return {"host": self.base_url, "app_id": self.client_id, "app_secret": self.client_secret,
                "settings": {"v1_host": self.base_url, "shop_url_template": self.base_url + "/_shops/{shop}"}}

    def add_shop(self, **options: Any) -> dict[str, Any]:
        """A store: ``auth_model="v1"`` returns HMAC credentials, ``"token"`` the shop's API token (a JWT,
        ``scopes=`` what it carries, default read and write orders), ``"v2"`` (default) needs consent()."""
        auth_model = options.get("auth_model", "v2")
        if auth_model not in ("v1", "v2", "token"):
            raise ValueError("auth_model must be 'v1', 'v2' or 'token'")
        with self._lock:
            domain = options.get("domain") or f"shop{len(self._shops) + 1}-s{self.seed}.cyberbiz.co"
            shop = _Shop(domain, auth_model, shop_id=26_700 + self.seed * 100 + len(self._shops) + 1)
            if auth_model == "v1":
                shop.username = options.get("username") or f"cbz-key-{len(self._shops) + 1}"
                shop.secret = options.get("secret") or hashlib.sha256(f"{self.seed}:{domain}".encode()).hexdigest()
            self._shops[domain] = shop
            credentials: dict[str, Any] = {}
            if auth_model == "v1":
                credentials = {"username": shop.username, "secret": shop.secret}
            elif auth_model == "token":
                scopes = frozenset(options.get("scopes") or _Token.scopes)
                credentials = {"access_token": self._new_api_token(shop, scopes)}
        return {"shop_id": domain, "credentials": credentials, "settings": {"auth_model": auth_model}}

    def _new_api_token(self, shop: _Shop, scopes: frozenset[str]) -> str:
        """A JWT-shaped API token carrying the shop's id, domain and scopes (claim names inferred)."""
        def b64(data: dict[str, Any]) -> str:
            raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        header = b64({"alg": "HS256", "typ": "JWT"})
        claims = b64({"shop_id": shop.shop_id, "domain": shop.domain, "scopes": sorted(scopes),
                      "iat": int(self.clock.now().timestamp()), "jti": secrets.token_hex(8)})
        mac = hashlib.sha256(f"{self.client_secret}.{header}.{claims}".encode()).digest()
        token = f"{header}.{claims}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        self._api_tokens[token] = _Token(shop.domain, datetime.max.replace(tzinfo=UTC), scopes=scopes)
        return token

    def rotate_api_token(self, shop_id: str, *, scopes: Any = None) -> str:
        """The merchant issues a new API token in the shop admin: the old one is refused from now on."""
        with self._lock:
            shop = self._shop(shop_id)
            old = [t for t, entry in self._api_tokens.items() if entry.shop == shop.domain]
            for token in old:
                del self._api_tokens[token]
            return self._new_api_token(shop, frozenset(scopes or _Token.scopes))

    def unlicense(self, shop_id: str, path: str = "/v1/orders", *, feature: str = "訂單API", status: int = 401,
                  plugin: bool = False) -> dict[str, Any]:
        """The shop's plan lacks a feature: calls under ``path`` get Cyberbiz's "no such feature" answer.

        The wording is the recorded one (``無「電子票券」功能，請聯絡您的開店顧問``); ``plugin=True`` answers
        the plugin form (``{"error": "Must have pos_shop_coupon plugin"}``). Returns the body served.
        """
        body: dict[str, Any] = ({"error": PLUGIN_MISSING.format(feature=feature)} if plugin
                                else {"error": [FEATURE_MISSING.format(feature=feature)]})
        with self._lock:
            self._shop(shop_id).unlicensed[path] = (status, body)
        return body

    def license(self, shop_id: str, path: str = "/v1/orders") -> None:
        """The merchant's consultant enabled the feature again."""
        with self._lock:
            self._shop(shop_id).unlicensed.pop(path, None)

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
                    "notify_customer": self._notified.get(last["id"]), "fulfilled_at": last["fulfilled_at"]}

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
            price = float(product.price)
            line_discount = float(round(price * qty * 0.1)) if rng.random() < 0.25 else 0.0  # a 9-折 collection
            lines.append(self._line(product.name, None if options.get("null_sku") else product.sku,
                                    _product_id(product.sku), price, qty, line_discount, local=_local(when)))
        if options.get("combo"):
            lines.insert(0, self._combo_line(rng, int(options.get("combo_quantity", 1)), _local(when)))
        subtotal = sum(line["total_price_after_discounts"] for line in lines)
        shipping = 0.0 if subtotal >= 1000 else 60.0
        coupon = 50.0 if subtotal >= 800 and rng.random() < 0.3 else 0.0
        name = sandbox_data.person_name(rng)
        phone = sandbox_data.mobile(rng)
        address = sandbox_data.tw_address(rng)
        cvs = options.get("cvs", rng.random() < 0.2)
        local = _local(when)
        cvs_store = f"{rng.randrange(100000, 999999)}" if cvs else None
        payment = "貨到付款" if cod else rng.choice(_PAYMENTS)
        order = {
            "id": order_id, "order_number": number, "order_name": f"#{number}", "created_at": local,
            "updated_at": local, "subtotal_price": subtotal,
            "customer": {"id": 42_000_000 + number, "name": name, "email": f"buyer{number}@example.com.tw",
                         "mobile": phone},
            "buyer": {"email": f"buyer{number}@example.com.tw", "mobile": None},
            "receiver": {"name": name, "phone": phone, "address": address["full"],
                         "detail_address": {"zip": address["zip"], "city": address["city"],
                                            "district": address["district"], "address1": address["line1"]},
                         "cvs_store_id": cvs_store},
            "line_items": lines,
            "shipping_type": "cyberbiz", "shipping_name": "7-11 超商取貨" if cvs else "宅配",
            "shipping_vendor": {"type": "custom", "name": "7-11" if cvs else "黑貓宅急便"}, "logistics_id": None,
            "fulfillments": [], "payment_name": payment, "payment_method": payment, "multiple_payment_infos": [],
            "prices": {"total_line_items_price": subtotal, "shipping_rate_price": shipping,
                       "discounts": {"special_collection_discount": 0, "vip_discount": 0.0, "shop_discount": None,
                                     "coupon_discount": coupon or None, "coupon_discounts": [],
                                     "bonus_consumed": 0.0, "vip_shipping_discount": 0,
                                     "coupon_shipping_discount": 0, "price_discount": 0,
                                     "third_party_discount": 0},
                       "total_price": subtotal + shipping - coupon},
            "statuses": dict(zip(_AXES, axes, strict=True)),
            "timings": {"request_return_at": None, "return_at": None, "refund_at": None, "closed_at": None,
                        "cancelled_at": None, "expired_at": None, "confirmed_at": local},
            "return_histories": [], "note": "", "branch_store": None, "total_bonus_redemption_price": 0.0,
            "exchange_histories": [], "tags": [], "shipping_status": None, "extra_info": None,
            "from_device": "桌機", "serial_numbers": [], "warehouse_type_id": None, "utm_tracking": None,
        }
        shop.orders[order_id] = order
        shop.updated[order_id] = when
        return order_id

    def _line(self, title: str, sku: str | None, product_id: int, price: float, qty: int, discount: float, *,
              local: str, related: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One ``line_items[]`` entry in the recorded shape (golden GET_v1_orders.json)."""
        line_id = self._next_line_id
        self._next_line_id += 1
        before = price * qty
        return {"id": line_id, "product_id": product_id, "product_variant_id": 83_600_000 + line_id % 100_000,
                "title": title, "variant_title": "", "sku": sku, "qc": None, "vendor": None, "price": price,
                "cost": None, "quantity": qty, "item_type": "normal", "return_status": None,
                "discount_name": "特惠 9 折" if discount else "", "discounts": [],
                "total_price_before_discounts": before, "total_discount": discount,
                "total_price_after_discounts": before - discount, "tax_type_id": "inclusive_tax",
                "bonus_redemption_price": None, "related_items": related or [], "created_at": local,
                "channel": None, "weight": 0.0, "custom_fields": []}

    def _combo_line(self, rng: random.Random, quantity: int, local: str) -> dict[str, Any]:
        """A combo product line as recorded: ``sku: null`` and the real SKUs under ``related_items``.

        Each child keeps its list ``price``; ``combo_product_price_difference`` is what the combo takes off
        that child, so ``sum(price - difference)`` over the children is the combo's ``price`` (9999 =
        (14990 - 9991) + (14990 - 9990) in the recording). One group (``quantity: 1``) as recorded.
        """
        children = []
        combo_price = 0.0
        for product in rng.sample(sandbox_data.PRODUCTS, 2):
            list_price = float(product.price)
            difference = float(round(list_price * 0.15))
            combo_price += list_price - difference
            pid = _product_id(product.sku)
            variant = 83_700_000 + pid % 100_000
            children.append({"id": variant, "product_id": pid, "product_variant_id": variant, "title": product.name,
                             "variant_title": f"{product.name} - 標準", "sku": product.sku, "qc": None,
                             "vendor": None, "price": list_price, "cost": None, "quantity": 1,
                             "combo_product_price_difference": int(difference),
                             "combo_product_price_diff_details": [int(difference)]})
        return self._line("超值組合", None, 68_790_000 + rng.randrange(1000), combo_price, quantity, 0.0, local=local,
                          related=[{"quantity": 1, "items": children}])

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

    def is_detail_read(self, request: Request) -> bool:
        """``GET /v1/orders/<id>``: one order by number (the listing is ``GET /v1/orders``)."""
        parts = request.path.strip("/").split("/")
        return request.method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "orders"]

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
            for prefix, (status, body) in shop.unlicensed.items():
                if request.path.startswith(prefix):
                    return json_response(body, status)
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
        """A live OAuth or API token carrying the scope the call needs (``read_*`` for GET, ``write_*`` else).

        Every refusal is the recorded 401 ``{"error":["無權使用該 API"]}``: the yaml's 401 covers a missing,
        invalid or expired token and a token lacking the scope alike.
        """
        with self._lock:
            entry = self._access.get(token) or self._api_tokens.get(token)
            if entry is None or entry.expires_at <= self.clock.now():
                return None, "", json_response(API_REFUSED, 401)
            needed = "read_orders" if method == "GET" else "write_orders"
            if needed not in entry.scopes:
                return None, "", json_response(API_REFUSED, 401)
            return self._shops[entry.shop], "bearer:" + token, None

    def _kong(self, message: str) -> tuple[None, str, Response]:
        return None, "", json_response({"message": message}, self.kong_status)

    def _hmac(self, request: Request, header: str) -> tuple[_Shop | None, str, Response | None]:
        """Kong hmac-auth (access.lua): date and clock skew first, then parameters, credential, signature."""
        if not (self._date_ok(request.headers.get("X-Date")) or self._date_ok(request.headers.get("Date"))):
            return self._kong(KONG_DATE)
        params = parse_authorization(header)
        if params is None or params.get("algorithm", "hmac-sha256") not in _ALGORITHMS:
            return self._kong(KONG_INVALID)
        with self._lock:
            shop = next((s for s in self._shops.values() if s.username == params["username"]), None)
        if shop is None or shop.secret is None:
            return self._kong(KONG_INVALID)
        names = (params.get("headers") or "date").split()
        raw_uri = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        # Kong checks the path with its query first, then (deprecated, still there) the bare path.
        candidates = [self._signature(shop.secret, params["algorithm"], request, names, uri)
                      for uri in dict.fromkeys((raw_uri, request.path))]
        if not any(secrets.compare_digest(c, params["signature"]) for c in candidates):
            return self._kong(KONG_MISMATCH)
        if not self._body_digest_ok(request):
            return self._kong(KONG_MISMATCH)
        return shop, "hmac:" + shop.username, None

    def _date_ok(self, value: str | None) -> bool:
        sent = parse_http_date(value) if value else None
        return sent is not None and abs((self.clock.now() - sent).total_seconds()) <= self.clock_skew

    @staticmethod
    def _signature(secret: str, algorithm: str, request: Request, names: list[str], uri: str) -> str:
        lines = []
        for name in names:
            if name == "request-line":
                lines.append(f"{request.method} {uri} {request.environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}")
            else:
                lines.append(f"{name}: {request.headers.get(name, '')}")
        if algorithm == "hmac-sha256":
            return signature(secret, "\n".join(lines))
        digest = hmac.new(secret.encode(), "\n".join(lines).encode(), _ALGORITHMS[algorithm]).digest()
        return base64.b64encode(digest).decode("ascii")

    def _body_digest_ok(self, request: Request) -> bool:
        """Kong ``validate_request_body``: a Digest header must match the body; with the check on, a body
        without a digest is refused (no digest and no body is fine)."""
        sent = request.headers.get("Digest")
        body = request.get_data(cache=True)
        if sent is not None:
            return secrets.compare_digest(sent, body_digest(body))
        return not (self.require_digest and body)

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
        }
        self._notified[fulfillment["id"]] = bool(body["notify_customer"])
        self._next_fulfillment_id += 1
        order["fulfillments"].append(fulfillment)
        done = shipped | set(wanted)
        order["statuses"]["fulfillment_status"] = "fulfilled" if done >= set(lines) else "partial"
        self._touch(shop, order, now)
        return json_response(fulfillment, 201)
