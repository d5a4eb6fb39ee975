"""A faithful local Shopee Open Platform v2 (real HTTP on 127.0.0.1) for tests, benchmarks and the demo.

ref: shared/specs/marketplaces.md §1. What it enforces, as Shopee documents it:

- every call: ``partner_id`` known ("Invalid partner_id"), ``timestamp`` present ("no timestamp") and within
  5 minutes of the sandbox clock ("Invalid timestamp"), ``sign`` present ("There is no sign in query") and
  right (``error_sign`` "Wrong sign."); shop calls need a live ``access_token`` for that shop
  (``error_auth`` "Invalid access_token.");
- auth: the consent link is valid 5 minutes; a ``code`` is single-use for 10 minutes; an access token lives
  4 hours; a refresh token 30 days and is single-use; after a refresh the old access token stays valid
  5 more minutes; the authorization itself ends 365 days after consent (or at :meth:`ShopeeSandbox.deauthorize`),
  after which no token of the shop works (``error_auth``);
- ``get_order_list``: ``update_time``/``create_time`` windows of at most 15 days with Shopee's exact error
  text, page_size 1..100, string cursors, ``more``/``next_cursor``;
- ``get_order_detail``: 1..50 order numbers, only the optional fields asked for; TW recipient fields masked
  ``"****"`` (per shop: ``add_shop(mask_address=...)``);
- logistics: only READY_TO_SHIP/RETRY_SHIP orders ship; ``ship_order`` moves the order to PROCESSED and
  issues a tracking number (non-integrated: the seller's); TW dropoff needs the ``slug``;
- push: :meth:`ShopeeSandbox.push` POSTs a signed notification to ``push_url``.

Choices where the spec is silent (configurable, documented for the README):

- rate limit: ``rate_limit`` requests per second per partner (default 1000; 0 turns it off); over it the
  answer is HTTP 429 with ``Retry-After: 1`` and body ``{"error": "error_rate_limit", "message": "Too many
  requests, please reduce the request rate and try again later."}`` (the Ads API's wording; the order
  API's real code is unknown);
- HTTP status of error envelopes: ``error_auth``/``error_sign``/``error_permission`` 403, ``error_param``
  400, ``error_not_found`` 404, business errors (``order.*``, ``logistics.*``) 200; set
  ``http_error_status=False`` to answer every envelope with 200 (the client reads the envelope either way);
- a dead ``code`` or refresh token answers ``error_param`` "Invalid code" / "Invalid refresh_token";
- ``time_from == time_to`` is accepted; ``time_from > time_to`` or a range over 15 days is refused;
- ship_order on a wrong status: ``logistics.ship_order_invalid_status`` "logistic status not ready to ship";
- :meth:`ShopeeSandbox.consent` approves for the shop added last unless ``shop_id`` is given; the HTTP
  ``auth_partner`` page does the same and redirects (302) with ``code`` and ``shop_id``;
- push notifications are sent only when :meth:`ShopeeSandbox.push` is called (never from inside a request).

Orders are generated lazily: :meth:`generate_orders` keeps only a small index row per order (update time,
status) sorted by update time; the full detail is rebuilt from ``(seed, shop, batch, n)`` when asked, and
only orders that were changed (update_order, ship) are kept whole. 100,000 orders cost a few MB.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from werkzeug.wrappers import Request, Response

from platforms import sandbox_data as data
from platforms.sandboxing import Fault, RateLimiter, Sandbox, SandboxClock, json_response
from platforms.shopee import signing

__all__ = ["ShopeeSandbox", "ShopState", "CANONICAL_TO_SHOPEE"]

ACCESS_TTL = 4 * 3600
REFRESH_TTL = 30 * 86400
CODE_TTL = 600
LINK_TTL = 300
GRACE_AFTER_REFRESH = 300
TIMESTAMP_SKEW = 300
MAX_WINDOW = 15 * 86400
AUTH_DAYS = 365

ALWAYS_FIELDS = ("order_sn", "region", "currency", "cod", "order_status", "message_to_seller", "create_time",
                 "update_time", "days_to_ship", "ship_by_date")
DEFAULT_STATUS_MIX = {"READY_TO_SHIP": 5, "UNPAID": 1, "PROCESSED": 1, "SHIPPED": 1, "COMPLETED": 2,
                      "CANCELLED": 1, "IN_CANCEL": 0.2, "TO_RETURN": 0.2}
#: Canonical names accepted by generate_orders/update_order so the cross-platform contract suite stays generic.
CANONICAL_TO_SHOPEE = {"unpaid": "UNPAID", "paid": "READY_TO_SHIP", "ready_to_ship": "READY_TO_SHIP",
                       "shipped": "SHIPPED", "delivered": "TO_CONFIRM_RECEIVE", "completed": "COMPLETED",
                       "cancelled": "CANCELLED", "returned": "TO_RETURN"}
LOGISTICS_OF = {"UNPAID": "LOGISTICS_NOT_START", "READY_TO_SHIP": "LOGISTICS_READY", "RETRY_SHIP": "LOGISTICS_READY",
                "PROCESSED": "LOGISTICS_REQUEST_CREATED", "SHIPPED": "LOGISTICS_PICKUP_DONE",
                "TO_CONFIRM_RECEIVE": "LOGISTICS_DELIVERY_DONE", "COMPLETED": "LOGISTICS_DELIVERY_DONE",
                "IN_CANCEL": "LOGISTICS_READY", "CANCELLED": "LOGISTICS_REQUEST_CANCELED",
                "TO_RETURN": "LOGISTICS_DELIVERY_DONE"}
ERROR_STATUS = {"error_auth": 403, "error_sign": 403, "error_permission": 403, "error_param": 400,
                "error_not_found": 404}
TW_SLUGS = [{"slug": "TW_711", "slug_name": "7-ELEVEN"}, {"slug": "TW_FAMILY", "slug_name": "全家"}]
RATE_LIMIT_MESSAGE = "Too many requests, please reduce the request rate and try again later."
CARRIERS = {"non_integrated": "賣家自行配送", "dropoff": "7-ELEVEN", "pickup": "黑貓宅急便"}


class ShopeeError(Exception):
    """An error envelope to answer with."""

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass
class _Batch:
    seed: str
    start: int
    span: int
    count: int
    statuses: list[str]
    weights: list[float]
    max_lines: int
    multi_package: float


@dataclass
class ShopState:
    shop_id: int
    name: str
    mask_address: bool = True
    logistics: str = "non_integrated"  # non_integrated | dropoff | pickup
    authorized_until: int | None = None
    # sn -> (batch index, n, create_time, update_time, status) for generated, untouched orders
    index: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)
    by_update: list[tuple[int, str]] = field(default_factory=list)  # sorted
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)  # full orders after a change
    batches: list[_Batch] = field(default_factory=list)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)  # package_number -> shipment


def _token() -> str:
    return uuid.uuid4().hex  # 32 hex characters, as Shopee's


class ShopeeSandbox(Sandbox):
    """Shopee v2 on 127.0.0.1. ``partner_id``/``partner_key`` are what the admin enters on the platform."""

    platform_type = "shopee"

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1, partner_id: int = 2001887,
                 partner_key: str = "sandbox-partner-key-0123456789abcdef", rate_limit: int = 1000,
                 http_error_status: bool = True, push_url: str | None = None):
        super().__init__(clock=clock, seed=seed)
        self.partner_id = partner_id
        self.partner_key = partner_key
        self.http_error_status = http_error_status
        self.push_url = push_url
        self.limiter = RateLimiter(rate_limit, self.clock)
        self.shops: dict[int, ShopState] = {}
        self._lock = threading.RLock()
        self._codes: dict[str, tuple[int, int]] = {}  # code -> (shop_id, expires)
        self._access: dict[str, tuple[int, int]] = {}  # token -> (shop_id, expires)
        self._refresh: dict[str, tuple[int, int, str]] = {}  # token -> (shop_id, expires, its access token)
        self.counters: dict[str, int] = {"list_calls": 0, "detail_calls": 0, "orders_detailed": 0}
        self.pushes: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------ envelopes
    def error_body(self, code: str, message: str) -> Any:
        return {"error": code, "message": message, "request_id": _token()}

    def apply_fault(self, fault: Fault, request: Request) -> Response | None:
        """Kit faults, with the 429 in the same envelope as the partner rate limit."""
        if fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return json_response(self.error_body("error_rate_limit", RATE_LIMIT_MESSAGE), 429, headers)
        return super().apply_fault(fault, request)

    def _ok(self, response: Any = None, **top: Any) -> Response:
        body: dict[str, Any] = {"request_id": _token(), "error": "", "message": ""}
        body.update(top)
        if response is not None:
            body["response"] = response
        return json_response(body)

    def _fail(self, exc: ShopeeError) -> Response:
        status = exc.http_status or (ERROR_STATUS.get(exc.code, 200) if self.http_error_status else 200)
        return json_response(self.error_body(exc.code, exc.message), status)

    # ------------------------------------------------------------------------------ dispatch
    def dispatch(self, request: Request) -> Response:
        routes = {
            "/api/v2/shop/auth_partner": self._auth_partner,
            "/api/v2/auth/token/get": self._token_get,
            "/api/v2/auth/access_token/get": self._access_token_get,
            "/api/v2/shop/get_shop_info": self._shop_info,
            "/api/v2/order/get_order_list": self._order_list,
            "/api/v2/order/get_order_detail": self._order_detail,
            "/api/v2/logistics/get_shipping_parameter": self._shipping_parameter,
            "/api/v2/logistics/ship_order": self._ship_order,
            "/api/v2/logistics/get_tracking_number": self._tracking_number,
        }
        handler = routes.get(request.path)
        if handler is None:
            return json_response(self.error_body("error_not_found", f"api {request.path} not found"), 404)
        try:
            self._check_common(request)
            if not self.limiter.allow(str(self.partner_id)):
                return json_response(self.error_body("error_rate_limit", RATE_LIMIT_MESSAGE), 429,
                                     {"Retry-After": "1"})
            with self._lock:
                if request.path in signing.PUBLIC_PATHS:
                    return handler(request)
                shop = self._check_shop(request)
                return handler(request, shop)
        except ShopeeError as exc:
            return self._fail(exc)

    def _check_common(self, request: Request) -> None:
        args = request.args
        if args.get("partner_id", "") != str(self.partner_id):
            raise ShopeeError("error_param", "Invalid partner_id")
        if not args.get("timestamp"):
            raise ShopeeError("error_param", "no timestamp")
        if not args.get("sign"):
            raise ShopeeError("error_param", "There is no sign in query")
        try:
            ts = int(args["timestamp"])
        except ValueError:
            raise ShopeeError("error_param", "Invalid timestamp") from None
        if abs(ts - self.clock.timestamp()) > TIMESTAMP_SKEW:
            raise ShopeeError("error_param", "Invalid timestamp")
        if request.path in signing.PUBLIC_PATHS:
            expected = signing.public_sign(self.partner_key, self.partner_id, request.path, ts)
        else:
            if not args.get("access_token"):
                raise ShopeeError("error_param", "There is no access_token in query")
            expected = signing.shop_sign(self.partner_key, self.partner_id, request.path, ts,
                                         args["access_token"], args.get("shop_id", ""))
        if args["sign"] != expected:
            raise ShopeeError("error_sign", "Wrong sign.")

    def _check_shop(self, request: Request) -> ShopState:
        token = request.args["access_token"]
        try:
            shop_id = int(request.args.get("shop_id", ""))
        except ValueError:
            raise ShopeeError("error_param", "Wrong parameters, detail: shop_id is invalid.") from None
        grant = self._access.get(token)
        if grant is None or grant[0] != shop_id or grant[1] <= self.clock.timestamp():
            raise ShopeeError("error_auth", "Invalid access_token.")
        shop = self.shops.get(shop_id)
        if shop is None:
            raise ShopeeError("error_shop", "shop not found")
        self._check_authorization(shop_id)
        return shop

    def _check_authorization(self, shop_id: int) -> None:
        """An authorization lasts at most 365 days (or until the seller cancels it): then nothing works."""
        shop = self.shops.get(shop_id)
        if shop is not None and shop.authorized_until is not None and shop.authorized_until <= self.clock.timestamp():
            raise ShopeeError("error_auth", "The shop authorization has expired or was cancelled.")

    # ------------------------------------------------------------------------------ auth
    def _auth_partner(self, request: Request) -> Response:
        """The consent page: auto-approves for the default shop (a browser demo follows the redirect)."""
        params = self.consent(request.url)
        redirect = request.args["redirect"]
        return Response(status=302, headers={"Location": _with_query(redirect, {k: v for k, v in params.items()
                                                                                 if k in ("code", "shop_id")})})

    def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise ShopeeError("error_param", "Wrong parameters, detail: body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ShopeeError("error_param", "Wrong parameters, detail: body must be a JSON object.")
        return body

    def _issue(self, shop_id: int) -> dict[str, Any]:
        now = self.clock.timestamp()
        access, refresh = _token(), _token()
        self._access[access] = (shop_id, now + ACCESS_TTL)
        self._refresh[refresh] = (shop_id, now + REFRESH_TTL, access)
        return {"access_token": access, "refresh_token": refresh, "expire_in": ACCESS_TTL}

    def _token_get(self, request: Request) -> Response:
        body = self._json(request)
        code, shop_id = str(body.get("code") or ""), _as_int(body.get("shop_id"))
        grant = self._codes.pop(code, None)
        if grant is None or grant[1] <= self.clock.timestamp() or grant[0] != shop_id:
            raise ShopeeError("error_param", "Invalid code")
        return self._ok(**self._issue(grant[0]))

    def _access_token_get(self, request: Request) -> Response:
        body = self._json(request)
        token, shop_id = str(body.get("refresh_token") or ""), _as_int(body.get("shop_id"))
        grant = self._refresh.get(token)
        now = self.clock.timestamp()
        if grant is None or grant[0] != shop_id or grant[1] <= now:
            raise ShopeeError("error_param", "Invalid refresh_token")
        del self._refresh[token]  # single-use
        self._check_authorization(shop_id)
        old_access = self._access.get(grant[2])
        if old_access:
            self._access[grant[2]] = (old_access[0], min(old_access[1], now + GRACE_AFTER_REFRESH))
        return self._ok(partner_id=self.partner_id, shop_id=shop_id, **self._issue(shop_id))

    def _shop_info(self, request: Request, shop: ShopState) -> Response:
        return self._ok(shop_name=shop.name, region="TW", status="NORMAL", is_cb=False,
                        expire_time=shop.authorized_until, auth_time=None)

    # ------------------------------------------------------------------------------ orders
    def _int_arg(self, request: Request, name: str, default: int | None = None) -> int:
        value = request.args.get(name)
        if value in (None, ""):
            if default is None:
                raise ShopeeError("error_param", f"Wrong parameters, detail: {name} is required.")
            return default
        try:
            return int(value)
        except ValueError:
            raise ShopeeError("error_param", f"Wrong parameters, detail: {name} must be an integer.") from None

    def _order_list(self, request: Request, shop: ShopState) -> Response:
        self.counters["list_calls"] += 1
        field_name = request.args.get("time_range_field", "")
        if field_name not in ("create_time", "update_time"):
            raise ShopeeError("error_param", "Wrong parameters, detail: time_range_field must be create_time or "
                                             "update_time.")
        time_from, time_to = self._int_arg(request, "time_from"), self._int_arg(request, "time_to")
        if time_from > time_to or time_to - time_from > MAX_WINDOW:
            raise ShopeeError("order.order_list_invalid_time",
                              "Start time must be earlier than end time and diff in 15days.")
        page_size = self._int_arg(request, "page_size")
        if not 1 <= page_size <= 100:
            raise ShopeeError("error_param", "Wrong parameters, detail: page_size should be between 1 and 100.")
        cursor = request.args.get("cursor", "")
        try:
            offset = int(cursor) if cursor else 0
        except ValueError:
            raise ShopeeError("error_param", "Wrong parameters, detail: cursor is invalid.") from None
        status_filter = request.args.get("order_status") or None
        if field_name == "update_time" and not status_filter:  # the hot path: slice the sorted index only
            lo = bisect.bisect_left(shop.by_update, (time_from, ""))
            hi = bisect.bisect_right(shop.by_update, (time_to, "\uffff"))
            page = [sn for _t, sn in shop.by_update[lo + offset:min(hi, lo + offset + page_size)]]
            more = lo + offset + page_size < hi
        else:
            sns = self._window(shop, field_name, time_from, time_to, status_filter)
            page = sns[offset:offset + page_size]
            more = offset + page_size < len(sns)
        with_status = "order_status" in request.args.get("response_optional_fields", "")
        order_list = [{"order_sn": sn, **({"order_status": self._status(shop, sn)} if with_status else {})}
                      for sn in page]
        return self._ok({"more": more, "next_cursor": str(offset + page_size) if more else "",
                         "order_list": order_list})

    def _window(self, shop: ShopState, field_name: str, time_from: int, time_to: int,
                status: str | None) -> list[str]:
        if field_name == "update_time":
            lo = bisect.bisect_left(shop.by_update, (time_from, ""))
            hi = bisect.bisect_right(shop.by_update, (time_to, "\uffff"))
            sns = [sn for _t, sn in shop.by_update[lo:hi]]
        else:
            sns = [sn for t, sn in sorted((self._create_time(shop, sn), sn) for sn in self._all_sns(shop))
                   if time_from <= t <= time_to]
        if status:
            sns = [sn for sn in sns if self._status(shop, sn) == status]
        return sns

    def _order_detail(self, request: Request, shop: ShopState) -> Response:
        self.counters["detail_calls"] += 1
        sns = [s for s in request.args.get("order_sn_list", "").split(",") if s]
        if not 1 <= len(sns) <= 50:
            raise ShopeeError("error_param", "Wrong parameters, detail: order_sn_list should be between 1 and 50.")
        wanted = {f for f in request.args.get("response_optional_fields", "").split(",") if f}
        orders = [self._public_order(shop, self._order(shop, sn), wanted) for sn in sns if self._exists(shop, sn)]
        if not orders:
            raise ShopeeError("error_not_found", "Wrong parameters, detail: the order is not found.")
        self.counters["orders_detailed"] += len(orders)
        return self._ok({"order_list": orders})

    def _public_order(self, shop: ShopState, order: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
        out = {k: order[k] for k in ALWAYS_FIELDS if k in order}
        for name in wanted:
            if name in order:
                out[name] = order[name]
        if "recipient_address" in out and shop.mask_address:
            out["recipient_address"] = {k: ("TW" if k == "region" else "****") for k in out["recipient_address"]}
        if "package_list" in out:
            out["package_list"] = [{k: v for k, v in p.items() if k != "tracking_number"} for p in out["package_list"]]
        return out

    # ------------------------------------------------------------------------------ logistics
    def _shipping_parameter(self, request: Request, shop: ShopState) -> Response:
        order = self._logistics_order(shop, request.args.get("order_sn", ""))
        self._package(order, request.args.get("package_number"))
        return self._ok(self._ship_offer(shop))

    def _ship_offer(self, shop: ShopState) -> dict[str, Any]:
        if shop.logistics == "non_integrated":
            return {"info_needed": {"non_integrated": ["tracking_number"]}}
        if shop.logistics == "dropoff":
            return {"info_needed": {"dropoff": ["slug"]},
                    "dropoff": {"branch_list": [], "slug_list": TW_SLUGS}}
        day = (self.clock.now() + timedelta(days=1)).strftime("%Y-%m-%d")
        return {"info_needed": {"pickup": ["address_id", "pickup_time_id"]},
                "pickup": {"address_list": [{"address_id": 9001, "region": "TW", "city": "臺北市",
                                             "district": "大安區", "zipcode": "106", "address": "復興南路1號",
                                             "address_flag": ["default_address", "pickup_address"],
                                             "time_slot_list": [{"date": day, "time_text": "09:00-12:00",
                                                                 "pickup_time_id": f"{day}-AM"}]}]}}

    def _ship_order(self, request: Request, shop: ShopState) -> Response:
        body = self._json(request)
        order = self._logistics_order(shop, str(body.get("order_sn") or ""))
        package = self._package(order, body.get("package_number"))
        if order["order_status"] not in ("READY_TO_SHIP", "RETRY_SHIP"):
            raise ShopeeError("logistics.ship_order_invalid_status", "logistic status not ready to ship")
        if package.get("logistics_status") not in ("LOGISTICS_READY", "LOGISTICS_NOT_START"):
            raise ShopeeError("logistics.package_already_shipped", "The package has been shipped.")
        method = shop.logistics
        chosen = body.get(method)
        if not isinstance(chosen, dict):
            raise ShopeeError("error_param", f"Wrong parameters, detail: {method} is required for this order.")
        if method == "non_integrated":
            tracking = str(chosen.get("tracking_number") or "")
            if not tracking:
                raise ShopeeError("error_param", "Wrong parameters, detail: tracking_number is required.")
            package["logistics_status"] = "LOGISTICS_PICKUP_DONE"
        else:
            if method == "dropoff" and chosen.get("slug") not in {s["slug"] for s in TW_SLUGS}:
                raise ShopeeError("error_param", "Wrong parameters, detail: slug is required for TW dropoff.")
            if method == "pickup" and (chosen.get("address_id") != 9001 or not chosen.get("pickup_time_id")):
                raise ShopeeError("error_param",
                                  "Wrong parameters, detail: address_id and pickup_time_id are required.")
            tracking = "TW" + hashlib.sha256(f"{order['order_sn']}{package['package_number']}".encode()
                                             ).hexdigest()[:10].upper()
            package["logistics_status"] = "LOGISTICS_REQUEST_CREATED"
        package["tracking_number"] = tracking
        package["shipping_carrier"] = CARRIERS[method]
        shop.shipments[package["package_number"]] = {
            "order_sn": order["order_sn"], "package_number": package["package_number"], "method": method,
            "tracking_number": tracking, "carrier": CARRIERS[method], "request": chosen,
        }
        if all(p.get("tracking_number") for p in order["package_list"]):
            self._set_status(shop, order, "PROCESSED")
        self._touch(shop, order, None)
        return self._ok()

    def _tracking_number(self, request: Request, shop: ShopState) -> Response:
        order = self._logistics_order(shop, request.args.get("order_sn", ""))
        package = self._package(order, request.args.get("package_number"))
        return self._ok({"tracking_number": package.get("tracking_number", ""), "hint": ""})

    def _logistics_order(self, shop: ShopState, sn: str) -> dict[str, Any]:
        if not sn or not self._exists(shop, sn):
            raise ShopeeError("logistics.invalid_error", "The order is not exist.")
        return self._materialize(shop, sn)

    @staticmethod
    def _package(order: dict[str, Any], number: str | None) -> dict[str, Any]:
        packages = order["package_list"]
        if not number:
            return next((p for p in packages if not p.get("tracking_number")), packages[0])
        for p in packages:
            if p["package_number"] == number:
                return p
        raise ShopeeError("logistics.package_number_not_exist", "The package number is not exist.")

    # ------------------------------------------------------------------------------ push
    def push(self, shop_id: int | str, code: int, data_: Mapping[str, Any] | None = None, *,
             url: str | None = None, timeout: float = 5.0) -> requests.Response:
        """POST a signed push notification (``Authorization`` = HMAC of ``url|body``) to ``push_url``."""
        target = url or self.push_url
        if not target:
            raise RuntimeError("ShopeeSandbox.push needs push_url")
        body = json.dumps({"shop_id": int(shop_id), "code": code, "timestamp": self.clock.timestamp(),
                           "data": dict(data_ or {})}, ensure_ascii=False)
        headers = {"Authorization": signing.push_signature(self.partner_key, target, body),
                   "Content-Type": "application/json"}
        self.pushes.append({"url": target, "body": body, "headers": headers})
        return requests.post(target, data=body.encode(), headers=headers, timeout=timeout)

    # ------------------------------------------------------------------------------ order store
    def _all_sns(self, shop: ShopState) -> list[str]:
        return [sn for _t, sn in shop.by_update]

    def _exists(self, shop: ShopState, sn: str) -> bool:
        return sn in shop.changed or sn in shop.index

    def _status(self, shop: ShopState, sn: str) -> str:
        if sn in shop.changed:
            return shop.changed[sn]["order_status"]
        return shop.index[sn][4]

    def _create_time(self, shop: ShopState, sn: str) -> int:
        if sn in shop.changed:
            return shop.changed[sn]["create_time"]
        return shop.index[sn][2]

    def _order(self, shop: ShopState, sn: str) -> dict[str, Any]:
        """The full order (a fresh build for untouched generated ones)."""
        if sn in shop.changed:
            return shop.changed[sn]
        batch_no, n, create, update, status = shop.index[sn]
        return self._build(shop, sn, shop.batches[batch_no], n, create, update, status)

    def _materialize(self, shop: ShopState, sn: str) -> dict[str, Any]:
        """The full order kept for changing (so changes survive)."""
        if sn not in shop.changed:
            shop.changed[sn] = self._order(shop, sn)
            del shop.index[sn]
        return shop.changed[sn]

    def _touch(self, shop: ShopState, order: dict[str, Any], when: int | None) -> None:
        """Bump update_time (strictly later unless ``when`` is given) and keep the index sorted."""
        old = (order["update_time"], order["order_sn"])
        new_time = when if when is not None else max(self.clock.timestamp(), order["update_time"] + 1)
        i = bisect.bisect_left(shop.by_update, old)
        if i < len(shop.by_update) and shop.by_update[i] == old:
            del shop.by_update[i]
        order["update_time"] = new_time
        bisect.insort(shop.by_update, (new_time, order["order_sn"]))

    def _set_status(self, shop: ShopState, order: dict[str, Any], status: str) -> None:
        order["order_status"] = status
        if status != "UNPAID" and not order.get("pay_time"):
            order["pay_time"] = self.clock.timestamp()
            order["total_amount"] = order["_total"]
        for p in order["package_list"]:
            if status != "PROCESSED" or not p.get("tracking_number"):
                p["logistics_status"] = LOGISTICS_OF.get(status, p["logistics_status"])

    def _build(self, shop: ShopState, sn: str, batch: _Batch, n: int, create: int, update: int,
               status: str) -> dict[str, Any]:
        rng = random.Random(f"{batch.seed}/detail/{n}")
        lines = data.pick_products(rng, batch.max_lines)
        items, total = [], 0
        for idx, (product, qty) in enumerate(lines):
            original = int(product.price)
            discounted = original if rng.random() < 0.7 else int(original * 0.9)
            total += discounted * qty
            items.append({"item_id": 100000 + data.PRODUCTS.index(product), "item_name": product.name,
                          "item_sku": product.sku.split("-")[0], "model_id": 200000 + idx,
                          "model_name": "", "model_sku": product.sku, "model_quantity_purchased": qty,
                          "model_original_price": float(original), "model_discounted_price": float(discounted),
                          "order_item_id": n * 10 + idx + 1, "weight": 0.3})
        fee = rng.choice((0, 60, 60, 100))
        packages_n = 2 if len(items) > 1 and rng.random() < batch.multi_package else 1
        packages = []
        for p in range(packages_n):
            members = items[p::packages_n]
            packages.append({"package_number": f"OFG{shop.shop_id % 100000:05d}{n:08d}{p}",
                             "logistics_status": LOGISTICS_OF.get(status, "LOGISTICS_NOT_START"),
                             "shipping_carrier": "",
                             "item_list": [{"item_id": i["item_id"], "model_id": i["model_id"],
                                            "quantity": i["model_quantity_purchased"]} for i in members]})
        addr = data.tw_address(rng)
        paid = status != "UNPAID"
        order = {
            "order_sn": sn, "region": "TW", "currency": "TWD", "cod": False, "order_status": status,
            "message_to_seller": rng.choice(("", "", "請盡快出貨", "不要放管理室")),
            "create_time": create, "update_time": update, "days_to_ship": 2, "ship_by_date": create + 3 * 86400,
            "buyer_user_id": 500000 + rng.randrange(100000), "buyer_username": f"buyer{rng.randrange(10**6):06d}",
            "recipient_address": {"name": data.person_name(rng), "phone": "886" + data.mobile(rng)[1:], "town": "",
                                  "district": addr["district"], "city": addr["city"], "state": addr["city"],
                                  "region": "TW", "zipcode": addr["zip"], "full_address": addr["full"]},
            "item_list": items, "package_list": packages,
            "pay_time": create + rng.randrange(60, 3600) if paid else None,
            "payment_method": rng.choice(("Credit Card", "ShopeePay", "Cash on Delivery")),
            "estimated_shipping_fee": float(fee), "actual_shipping_fee": float(fee), "note": "",
            "shipping_carrier": "", "cancel_reason": "" if status != "CANCELLED" else "Out of Stock",
            "_total": float(total + fee),
        }
        if order["pay_time"] is not None:
            order["pay_time"] = min(order["pay_time"], update)
            order["total_amount"] = order["_total"]
        order["cod"] = order["payment_method"] == "Cash on Delivery"
        return order

    # ------------------------------------------------------------------------------ admin helpers
    def platform_fields(self) -> dict[str, Any]:
        return {"host": self.base_url, "app_id": str(self.partner_id), "app_secret": self.partner_key,
                "settings": {}}

    def add_shop(self, *, shop_id: int | None = None, name: str | None = None, mask_address: bool = True,
                 logistics: str = "non_integrated", **options: Any) -> dict[str, Any]:
        """A shop; ``logistics`` = non_integrated | dropoff | pickup; ``mask_address`` masks TW recipients."""
        if logistics not in CARRIERS:
            raise ValueError(f"logistics must be one of {', '.join(CARRIERS)}")
        with self._lock:
            sid = shop_id or 100000 + len(self.shops) + 1
            self.shops[sid] = ShopState(sid, name or f"蝦皮測試商店{sid}", mask_address, logistics)
        return {"shop_id": str(sid), "name": self.shops[sid].name, "credentials": {}, "settings": {}}

    def consent(self, authorize_url: str, shop_id: int | str | None = None) -> dict[str, str]:
        """The merchant approves: checks the link like Shopee, issues a 10-minute single-use code."""
        parts = urlsplit(authorize_url)
        args = dict(parse_qsl(parts.query))
        if parts.path != "/api/v2/shop/auth_partner":
            raise ShopeeError("error_param", f"not an authorization link: {parts.path}")
        if args.get("partner_id") != str(self.partner_id):
            raise ShopeeError("error_param", "Invalid partner_id")
        ts = int(args.get("timestamp") or 0)
        if not 0 <= self.clock.timestamp() - ts <= LINK_TTL:
            raise ShopeeError("error_param", "Invalid timestamp")
        if args.get("sign") != signing.public_sign(self.partner_key, self.partner_id, parts.path, ts):
            raise ShopeeError("error_sign", "Wrong sign.")
        if not args.get("redirect"):
            raise ShopeeError("error_param", "Wrong parameters, detail: redirect is required.")
        with self._lock:
            if not self.shops:
                self.add_shop()
            sid = int(shop_id) if shop_id is not None else next(reversed(self.shops))
            if sid not in self.shops:
                raise ShopeeError("error_shop", f"shop {sid} not found")
            code = _token()
            now = self.clock.timestamp()
            self._codes[code] = (sid, now + CODE_TTL)
            self.shops[sid].authorized_until = now + AUTH_DAYS * 86400
        callback = dict(parse_qsl(urlsplit(args["redirect"]).query))
        callback.update({"code": code, "shop_id": str(sid)})
        return callback

    def generate_orders(self, shop_id: str | int, count: int, *, start: datetime | None = None,
                        end: datetime | None = None, status: str | None = None,
                        status_mix: Mapping[str, float] | None = None, max_lines: int = 3,
                        multi_package: float = 0.2, **options: Any) -> list[str]:
        """``count`` deterministic orders created in ``[start, end)`` (default: the last day).

        ``status`` forces one status (Shopee or canonical name); else ``status_mix`` weights Shopee statuses.
        """
        end = end or self.clock.now()
        start = start or end - timedelta(days=1)
        if status:
            mix = {CANONICAL_TO_SHOPEE.get(status, status): 1.0}
        else:
            mix = dict(status_mix or DEFAULT_STATUS_MIX)
        with self._lock:
            shop = self.shops[int(shop_id)]
            batch_no = len(shop.batches)
            t0, t1 = int(start.timestamp()), int(end.timestamp())
            batch = _Batch(f"{self.seed}/{shop.shop_id}/{batch_no}", t0, max(1, t1 - t0), count,
                           list(mix), list(mix.values()), max_lines, multi_package)
            shop.batches.append(batch)
            base = sum(b.count for b in shop.batches[:-1])
            sns = []
            rows = []
            for i in range(count):
                rng = random.Random(f"{batch.seed}/head/{i}")
                create = t0 + (i * batch.span) // count
                update = min(create + rng.randrange(0, 3600), t1 - 1) if t1 > t0 else create
                update = max(update, create)
                st = rng.choices(batch.statuses, batch.weights)[0]
                day = datetime.fromtimestamp(create, UTC).strftime("%y%m%d")
                sn = f"{day}{_b36(shop.shop_id % 1296, 2)}{_b36(base + i, 6)}"
                shop.index[sn] = (batch_no, base + i, create, update, st)
                rows.append((update, sn))
                sns.append(sn)
            shop.by_update.extend(rows)
            shop.by_update.sort()
        return sns

    def update_order(self, shop_id: str | int, external_id: str, *, status: str | None = None,
                     address: Mapping[str, Any] | None = None, update_time: datetime | None = None,
                     **changes: Any) -> None:
        """Change an order like Shopee would; bumps ``update_time`` (or sets it to ``update_time``)."""
        with self._lock:
            shop = self.shops[int(shop_id)]
            if not self._exists(shop, external_id):
                raise KeyError(f"no order {external_id} in shop {shop_id}")
            order = self._materialize(shop, external_id)
            if status:
                self._set_status(shop, order, CANONICAL_TO_SHOPEE.get(status, status))
            if address:
                names = {"line1": "full_address", "zip": "zipcode"}
                order["recipient_address"].update({names.get(k, k): v for k, v in address.items()})
            for key, value in changes.items():
                order[key] = value
            self._touch(shop, order, int(update_time.timestamp()) if update_time else None)

    def deauthorize(self, shop_id: str | int) -> None:
        """The seller cancels the app's authorization (push code 2): every token of the shop stops working."""
        with self._lock:
            self.shops[int(shop_id)].authorized_until = self.clock.timestamp()

    def shipment_of(self, shop_id: str | int, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            shop = self.shops[int(shop_id)]
            found = [s for s in shop.shipments.values() if s["order_sn"] == external_id]
        if not found:
            return None
        first = dict(found[0])
        first["packages"] = found
        return first

    def order(self, shop_id: str | int, external_id: str) -> dict[str, Any]:
        """The full unmasked order as the sandbox holds it (for assertions)."""
        with self._lock:
            return dict(self._order(self.shops[int(shop_id)], external_id))


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _b36(value: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while value:
        value, r = divmod(value, 36)
        out = digits[r] + out
    return out.rjust(width, "0")


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(dict(extra))) if q)
    return urlunsplit(parts._replace(query=query))
