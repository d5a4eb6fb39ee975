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
  text, page_size 1..100, an opaque string cursor, ``more``/``next_cursor``. Paging is by *offset* under that
  cursor (contract-evidence.md, Shopee): an order whose update moves it out of the window while pages are being
  read shifts every later order one place up, so the first order of the next page is not returned in that pass
  (:meth:`ShopeeSandbox.on_list_page` lets a test change orders between two pages);
- ``get_order_detail``: 1..50 order numbers, only the optional fields asked for; TW recipient fields masked
  ``"****"`` (per shop: ``add_shop(mask_address=...)``); one unknown order number fails the whole call with
  ``error_not_found`` "Wrong parameters, detail: the order is not found." (contract-evidence.md; guide 229 FAQ);
- one package per order (Shopee creates one; only a split, :meth:`ShopeeSandbox.split_order`, makes more);
- logistics: only READY_TO_SHIP/RETRY_SHIP orders ship; ``get_shipping_parameter`` and ``ship_order`` refuse
  any other status (PROCESSED included) with ``logistics.error_status`` "logistic status not ready to ship", so
  ``ship_order`` is not idempotent: a second call for a shipped order is refused. ``ship_order`` with
  ``non_integrated`` moves the package to LOGISTICS_PICKUP_DONE at once (order SHIPPED); pickup/dropoff to
  LOGISTICS_REQUEST_CREATED with a tracking number (order PROCESSED) - guide 229 §8.1. A shop added with
  ``arrange_async=True`` behaves like the channels where Shopee arranges in the background: the package stays
  LOGISTICS_READY with ``is_shipment_arranged`` true and no tracking number until
  :meth:`ShopeeSandbox.finish_arrangement` (guide 229, get_package_detail). ``get_tracking_number`` /
  ``get_mass_tracking_number`` read the tracking number of any arranged package (PROCESSED and later ones
  included); ``get_package_detail`` shows ``fulfillment_status`` and ``is_shipment_arranged``;
- ``handle_buyer_cancellation`` ``{order_sn, operation: ACCEPT|REJECT}`` → ``{update_time}`` (a public v2
  client's types) answers an IN_CANCEL order's request: ACCEPT cancels it, REJECT puts it back to its status
  before the request (inferred); an order not IN_CANCEL is refused (its code and text are not public:
  ``error_param``, inferred). Applied answers are kept in ``ShopState.cancel_answers``;
- lost answers: the shared ``lost_answer`` fault applies the request, then drops the connection;
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
- the HTTP method and batch limit of ``get_mass_tracking_number`` (POST, 1..50 packages) and the comma-joined
  ``package_number_list`` of ``get_package_detail`` (1..50) follow Shopee's other mass/batch calls;
- a package whose shipment is arranged in the background refuses a second ``ship_order`` the same way;
- :meth:`ShopeeSandbox.consent` approves for the shop added last unless ``shop_id`` is given; the HTTP
  ``auth_partner`` page does the same and redirects (302) with ``code`` and ``shop_id``;
- push notifications are sent only when :meth:`ShopeeSandbox.push` is called (never from inside a request).

Orders are generated lazily: :meth:`generate_orders` keeps only a small index row per order (update time,
status) sorted by update time; the full detail is rebuilt from ``(seed, shop, batch, n)`` when asked, and
only orders that were changed (update_order, ship) are kept whole. 100,000 orders cost a few MB.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from werkzeug.wrappers import Request, Response

from platforms.shopee import signing
from sandboxes import data
from sandboxes.server import Fault, RateLimiter, Sandbox, SandboxClock, json_response

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
SHIPPABLE = ("READY_TO_SHIP", "RETRY_SHIP")
#: statuses whose package already has its tracking number (shipment arranged or done)
TRACKED = ("PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED", "TO_RETURN")
NOT_FOUND = "Wrong parameters, detail: the order is not found."
NOT_READY = "logistic status not ready to ship"
#: handle_buyer_cancellation for an order that is not IN_CANCEL (inferred text: Shopee's is not public)
CANCEL_NOT_OPEN = "Wrong parameters, detail: the order status is not IN_CANCEL, no cancellation to handle."
#: the order status a package's logistics status stands for, when a rejected request puts an order back
STATUS_OF_LOGISTICS = {"LOGISTICS_NOT_START": "UNPAID", "LOGISTICS_READY": "READY_TO_SHIP",
                       "LOGISTICS_REQUEST_CREATED": "PROCESSED", "LOGISTICS_PICKUP_DONE": "SHIPPED",
                       "LOGISTICS_DELIVERY_DONE": "TO_CONFIRM_RECEIVE"}
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


@dataclass
class ShopState:
    shop_id: int
    name: str
    mask_address: bool = True
    logistics: str = "non_integrated"  # non_integrated | dropoff | pickup
    arrange_async: bool = False  # integrated shipments get their tracking number later (finish_arrangement)
    authorized_until: int | None = None
    # sn -> (batch index, n, create_time, update_time, status) for generated, untouched orders
    index: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)
    by_update: list[tuple[int, str]] = field(default_factory=list)  # sorted
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)  # full orders after a change
    batches: list[_Batch] = field(default_factory=list)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)  # package_number -> shipment
    sns: list[str] = field(default_factory=list)  # order number by generation index (n) - packages name it
    cancel_answers: list[dict[str, str]] = field(default_factory=list)  # handle_buyer_cancellation calls applied


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
        self._list_hooks: list[Callable[[int, str, list[str]], None]] = []

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
    #: the calls that read orders (or their packages) by number; the listing is ``get_order_list``
    DETAIL_PATHS = ("/api/v2/order/get_order_detail", "/api/v2/order/get_package_detail",
                    "/api/v2/logistics/get_tracking_number", "/api/v2/logistics/get_mass_tracking_number")

    def is_detail_read(self, request: Request) -> bool:
        return request.path in self.DETAIL_PATHS

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
            "/api/v2/logistics/get_mass_tracking_number": self._mass_tracking_number,
            "/api/v2/order/get_package_detail": self._package_detail,
            "/api/v2/order/handle_buyer_cancellation": self._handle_buyer_cancellation,
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
        offset = _offset_of(request.args.get("cursor", ""))
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
        body = {"more": more, "next_cursor": _cursor_of(offset + page_size) if more else "", "order_list": order_list}
        for hook in list(self._list_hooks):  # a test changes orders between two pages, as a buyer would
            hook(shop.shop_id, request.args.get("cursor", ""), page)
        return self._ok(body)

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
        if not all(self._exists(shop, sn) for sn in sns):  # one unknown number fails the whole call
            raise ShopeeError("error_not_found", NOT_FOUND)
        orders = [self._public_order(shop, self._order(shop, sn), wanted) for sn in sns]
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
            hidden = ("tracking_number", "is_shipment_arranged")  # get_tracking_number / get_package_detail only
            out["package_list"] = [{k: v for k, v in p.items() if k not in hidden} for p in out["package_list"]]
        return out

    # ------------------------------------------------------------------------------ logistics
    def _shipping_parameter(self, request: Request, shop: ShopState) -> Response:
        order = self._logistics_order(shop, request.args.get("order_sn", ""))
        self._shippable(order, self._package(order, request.args.get("package_number")))
        return self._ok(self._ship_offer(shop))

    @staticmethod
    def _shippable(order: dict[str, Any], package: dict[str, Any]) -> None:
        """Only a READY_TO_SHIP/RETRY_SHIP package not yet arranged ships (PROCESSED is refused)."""
        if order["order_status"] not in SHIPPABLE or package.get("is_shipment_arranged"):
            raise ShopeeError("logistics.error_status", NOT_READY)
        if package.get("logistics_status") not in ("LOGISTICS_READY", "LOGISTICS_NOT_START", "LOGISTICS_PICKUP_RETRY"):
            raise ShopeeError("logistics.error_status", NOT_READY)

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
        self._shippable(order, package)
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
            tracking = _shopee_tracking(order["order_sn"], package["package_number"])
            package["logistics_status"] = "LOGISTICS_REQUEST_CREATED"
        package["shipping_carrier"] = CARRIERS[method]
        shop.shipments[package["package_number"]] = {
            "order_sn": order["order_sn"], "package_number": package["package_number"], "method": method,
            "tracking_number": tracking, "carrier": CARRIERS[method], "request": chosen,
        }
        if method != "non_integrated" and shop.arrange_async:
            # arranged; Shopee assigns the tracking number later (finish_arrangement); the order still reads
            # READY_TO_SHIP and the package LOGISTICS_READY with is_shipment_arranged
            package["logistics_status"], package["is_shipment_arranged"] = "LOGISTICS_READY", True
            shop.shipments[package["package_number"]]["tracking_number"] = ""
        else:
            package["tracking_number"] = tracking
            self._after_arrangement(shop, order)
        self._touch(shop, order, None)
        return self._ok()

    def _after_arrangement(self, shop: ShopState, order: dict[str, Any]) -> None:
        """The order follows its packages: all handed over → SHIPPED, all arranged → PROCESSED."""
        packages = order["package_list"]
        if all(p.get("logistics_status") == "LOGISTICS_PICKUP_DONE" for p in packages):
            self._set_status(shop, order, "SHIPPED")
        elif all(p.get("tracking_number") for p in packages):
            self._set_status(shop, order, "PROCESSED")

    def _tracking_number(self, request: Request, shop: ShopState) -> Response:
        order = self._logistics_order(shop, request.args.get("order_sn", ""))
        number = request.args.get("package_number")
        package = self._package(order, number) if number else order["package_list"][0]
        return self._ok(self._tracking_entry(package))

    @staticmethod
    def _tracking_entry(package: Mapping[str, Any]) -> dict[str, Any]:
        tracking = package.get("tracking_number") or ""
        hint = "" if tracking else "tracking number is not available yet"
        return {"tracking_number": tracking, "hint": hint, "first_mile_tracking_number": "", "pickup_code": ""}

    def _packages_by_number(self, shop: ShopState, numbers: list[str]) -> dict[str, dict[str, Any]]:
        """Package number → the package (with its ``order_sn``); unknown numbers are left out."""
        found: dict[str, dict[str, Any]] = {}
        for number in numbers:
            try:
                sn = shop.sns[int(number[8:16])] if number.startswith("OFG") else None
            except (ValueError, IndexError):
                sn = None
            if sn is None or not self._exists(shop, sn):
                continue
            for package in self._order(shop, sn)["package_list"]:
                if package["package_number"] == number:
                    found[number] = {**package, "order_sn": sn}
        return found

    def _mass_tracking_number(self, request: Request, shop: ShopState) -> Response:
        """POST ``{"package_list": [{"package_number"}]}`` (1..50) → success_list / fail_list."""
        body = self._json(request)
        numbers = [str(p.get("package_number") or "") for p in body.get("package_list") or [] if isinstance(p, dict)]
        if not 1 <= len(numbers) <= 50:
            raise ShopeeError("error_param", "Wrong parameters, detail: package_list should be between 1 and 50.")
        found = self._packages_by_number(shop, [n for n in numbers if n])
        success, fail = [], []
        for number in numbers:
            if number in found:
                success.append({"package_number": number, **self._tracking_entry(found[number])})
            else:
                fail.append({"package_number": number, "fail_error": "logistics.package_not_exist",
                             "fail_message": "The package number is not exist."})
        return self._ok({"success_list": success, "fail_list": fail})

    def _package_detail(self, request: Request, shop: ShopState) -> Response:
        numbers = [n for n in request.args.get("package_number_list", "").split(",") if n]
        if not 1 <= len(numbers) <= 50:
            raise ShopeeError("error_param",
                              "Wrong parameters, detail: package_number_list should be between 1 and 50.")
        found = self._packages_by_number(shop, numbers)
        if len(found) != len(set(numbers)):
            raise ShopeeError("error_not_found", "Wrong parameters, detail: the package is not found.")
        return self._ok({"package_list": [
            {"order_sn": found[n]["order_sn"], "package_number": n, "fulfillment_status": found[n]["logistics_status"],
             "is_shipment_arranged": bool(found[n].get("is_shipment_arranged")),
             "shipping_carrier": found[n].get("shipping_carrier", "")} for n in numbers]})

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

    # ------------------------------------------------------------------------------ cancellation requests
    def _handle_buyer_cancellation(self, request: Request, shop: ShopState) -> Response:
        """``{order_sn, operation: ACCEPT|REJECT}`` for an IN_CANCEL order → ``{update_time}``. ACCEPT cancels
        the order; REJECT puts it back where it was before the request (its package's state says where, for an
        order generated IN_CANCEL). An order not IN_CANCEL (already answered, never asked) is refused: the code
        and text of that refusal are not public (docs/contracts/shopee.md), ``error_param`` is the inferred one."""
        body = self._json(request)
        sn, operation = str(body.get("order_sn") or ""), body.get("operation")
        if operation not in ("ACCEPT", "REJECT"):
            raise ShopeeError("error_param", "Wrong parameters, detail: operation should be ACCEPT or REJECT.")
        if not sn or not self._exists(shop, sn):
            raise ShopeeError("error_not_found", NOT_FOUND)
        order = self._materialize(shop, sn)
        if order["order_status"] != "IN_CANCEL":
            raise ShopeeError("error_param", CANCEL_NOT_OPEN)
        shop.cancel_answers.append({"order_sn": sn, "operation": operation})
        if operation == "ACCEPT":
            order["cancel_reason"] = order.get("buyer_cancel_reason") or "Buyer requested"
            self._set_status(shop, order, "CANCELLED")
        else:
            self._set_status(shop, order, order.pop("_before_cancel", None) or _status_of_packages(order))
        self._touch(shop, order, None)
        return self._ok({"update_time": order["update_time"]})

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
        if status == "IN_CANCEL" and order["order_status"] != "IN_CANCEL":
            order["_before_cancel"] = order["order_status"]  # where a rejected request puts it back (not served)
        order["order_status"] = status
        if status != "UNPAID" and not order.get("pay_time"):
            order["pay_time"] = self.clock.timestamp()
            order["total_amount"] = order["_total"]
        for p in order["package_list"]:
            if status in TRACKED and not p.get("tracking_number"):
                p["tracking_number"] = _shopee_tracking(order["order_sn"], p["package_number"])
                p["is_shipment_arranged"] = False
            if status == "IN_CANCEL":
                continue  # a cancellation request leaves the package where it was
            if status not in ("PROCESSED", "SHIPPED") or p.get("logistics_status") in (
                    "LOGISTICS_READY", "LOGISTICS_NOT_START", "LOGISTICS_PICKUP_RETRY"):
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
        number = f"OFG{shop.shop_id % 100000:05d}{n:08d}0"
        package = {"package_number": number,
                   "logistics_status": LOGISTICS_OF.get(status, "LOGISTICS_NOT_START"), "shipping_carrier": "",
                   "item_list": [{"item_id": i["item_id"], "model_id": i["model_id"],
                                  "quantity": i["model_quantity_purchased"]} for i in items]}
        if status in TRACKED:
            package.update(tracking_number=_shopee_tracking(sn, number), shipping_carrier=CARRIERS["pickup"])
        packages = [package]
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
            "shipping_carrier": packages[0]["shipping_carrier"],
            "cancel_reason": "" if status != "CANCELLED" else "Out of Stock",
            "buyer_cancel_reason": "" if status != "IN_CANCEL" else "Need to Modify Order",
            "cancel_by": "" if status not in ("CANCELLED", "IN_CANCEL") else "buyer",
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
                 logistics: str = "non_integrated", arrange_async: bool = False, **options: Any) -> dict[str, Any]:
        """A shop; ``logistics`` = non_integrated | dropoff | pickup; ``mask_address`` masks TW recipients;
        ``arrange_async``: integrated shipments get their tracking number only at :meth:`finish_arrangement`."""
        if logistics not in CARRIERS:
            raise ValueError(f"logistics must be one of {', '.join(CARRIERS)}")
        with self._lock:
            sid = shop_id or 100000 + len(self.shops) + 1
            self.shops[sid] = ShopState(sid, name or f"蝦皮測試商店{sid}", mask_address, logistics, arrange_async)
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
                        **options: Any) -> list[str]:
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
                           list(mix), list(mix.values()), max_lines)
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
            shop.sns.extend(sns)
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

    def split_order(self, shop_id: str | int, external_id: str) -> list[str]:
        """The seller splits a READY_TO_SHIP order of several items into two packages (v2.order.split_order)."""
        with self._lock:
            shop = self.shops[int(shop_id)]
            order = self._materialize(shop, external_id)
            (package,) = order["package_list"]
            items = package["item_list"]
            if order["order_status"] != "READY_TO_SHIP" or len(items) < 2:
                raise ValueError("only a READY_TO_SHIP order of two or more items can be split")
            base = package["package_number"][:-1]
            order["package_list"] = [{**package, "package_number": f"{base}{p}", "item_list": items[p::2]}
                                     for p in range(2)]
            order["split_up"] = True
            self._touch(shop, order, None)
            return [p["package_number"] for p in order["package_list"]]

    def finish_arrangement(self, shop_id: str | int, external_id: str) -> None:
        """Shopee finishes a background arrangement: the tracking number appears, the order becomes PROCESSED."""
        with self._lock:
            shop = self.shops[int(shop_id)]
            order = self._materialize(shop, external_id)
            for package in order["package_list"]:
                if package.pop("is_shipment_arranged", False):
                    record = shop.shipments[package["package_number"]]
                    record["tracking_number"] = _shopee_tracking(external_id, package["package_number"])
                    package.update(tracking_number=record["tracking_number"],
                                   logistics_status="LOGISTICS_REQUEST_CREATED")
            self._after_arrangement(shop, order)
            self._touch(shop, order, None)

    def on_list_page(self, hook: Callable[[int, str, list[str]], None] | None) -> None:
        """Call ``hook(shop_id, cursor, order_sns)`` after each ``get_order_list`` page is read (None: stop).

        Runs under the sandbox lock before the answer leaves, so a change it makes (``update_order``) happens
        between this page and the next one, exactly as a buyer or Shopee changing an order mid-read would.
        """
        with self._lock:
            self._list_hooks = [hook] if hook else []

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


def _status_of_packages(order: Mapping[str, Any]) -> str:
    """The status an order generated IN_CANCEL had before its request, read off its first package (paid or not)."""
    status = STATUS_OF_LOGISTICS.get(order["package_list"][0].get("logistics_status"), "READY_TO_SHIP")
    return "UNPAID" if status == "READY_TO_SHIP" and not order.get("pay_time") else status


def _shopee_tracking(order_sn: str, package_number: str) -> str:
    """The tracking number Shopee's integrated logistics assigns (deterministic per package)."""
    return "TW" + hashlib.sha256(f"{order_sn}{package_number}".encode()).hexdigest()[:10].upper()


def _cursor_of(offset: int) -> str:
    """Shopee's cursor is opaque; this one hides an offset (the position paging really uses)."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _offset_of(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["offset"]
    except (ValueError, KeyError, TypeError):
        raise ShopeeError("error_param", "Wrong parameters, detail: cursor is invalid.") from None
    if not isinstance(offset, int) or offset < 0:
        raise ShopeeError("error_param", "Wrong parameters, detail: cursor is invalid.")
    return offset


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
