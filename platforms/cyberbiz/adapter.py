"""Cyberbiz adapter: one channel, V1 HMAC (legacy per-shop key) or V2 bearer (App Store OAuth).

The auth model is chosen per channel by ``ChannelConfig.settings["auth_model"]`` = ``"v1"`` | ``"v2"``
(when absent: ``"v1"`` if the channel has HMAC ``username`` credentials, else ``"v2"``).

- V1 (spec §2.1): host ``platform.settings["v1_host"]`` (default ``https://api.cyberbiz.co``), every
  request HMAC-signed (:mod:`platforms.cyberbiz.signing`); credentials ``username`` + ``secret`` on
  the channel; no OAuth, no refresh (``uses_oauth`` is False).
- V2 (spec §2.2): host ``platform.host`` (default ``https://app-store-api.cyberbiz.io``), bearer access
  token; OAuth with the app's ``client_id``/``client_secret`` (``platform.app_id``/``app_secret``) on
  the shop's own domain = ``channel.shop_id`` (e.g. ``myshop.cyberbiz.co``).

Choices where the spec says UNKNOWN (all configurable in ``platform.settings``; a key in
``channel.settings`` wins over the platform's):

- ``shop_url_template`` (default ``https://{shop}``): where the shop's OAuth endpoints live;
  ``oauth_authorize_path`` (default ``/admin/oauth/authorize``) and ``oauth_token_path`` (default
  ``/admin/oauth/token``, the documented refresh endpoint; the code exchange uses it with
  ``grant_type=authorization_code``); ``oauth_scope`` (default ``read_orders,write_orders``).
- token lifetimes: ``expires_in`` / ``refresh_token_expires_in`` of the token response when given,
  else ``access_token_ttl`` (default 7200 s) and ``refresh_token_ttl`` (default 30 days). Refresh
  tokens are treated as single-use (rotation): the new refresh token always replaces the old one.
- ``max_window_days`` (default 31): ``fetch_orders`` splits longer ranges so one query's result set
  (and so its offset paging) stays small. Cyberbiz documents no window limit.
- the ``updated_at_*`` filters are taken as inclusive at whole seconds, so ``[since, until)`` is sent
  as ``ceil(since) .. ceil(until) - 1 s``: adjacent windows never return the same order twice.
- ``v1_sign_digest`` (default false): V1 POSTs also send and sign ``Digest: SHA-256=…`` (Kong's
  ``validate_request_body``; mentioned by a 3P design doc only).
- ``requests_per_second`` (default 5, the documented per-token limit; 0 = off): the client paces
  itself under it; a 429 that still happens is honoured through ``Retry-After``.
- ``GET /v1/orders`` uses offset paging: an order updated while we page moves out of the window and
  shifts later orders back one place. When fewer distinct orders came back than the first page's
  ``X-Total``, the window is paged again (at most ``repage_limit`` times, default 1) for the missed ones.
- orders that ``get_orders`` cannot find (404 / ``200 null``) are left out of its result.

Channel settings: ``currency`` (default TWD; Cyberbiz sends none), ``notify_customer`` (default
true, sent with custom_shipping), ``default_tracking_company`` (default ``other``, used when the
shipment has no carrier), ``carrier_map`` (carrier name → Cyberbiz ``tracking_company`` code; see
:mod:`platforms.cyberbiz.carriers` for how names are resolved).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from platforms.base import (
    Adapter,
    NotSupported,
    Order,
    PermanentError,
    ReauthRequired,
    Shipment,
    ShipResult,
    TokenSet,
    UnmappableOrder,
)
from platforms.cyberbiz.carriers import tracking_company
from platforms.cyberbiz.client import PER_PAGE_MAX, PLATFORM, BearerAuth, CyberbizClient
from platforms.cyberbiz.mapping import format_local, map_order
from platforms.cyberbiz.oauth import CyberbizOAuth
from platforms.cyberbiz.signing import HmacAuth
from platforms.http import RetryPolicy
from platforms.oauth import callback_code, expires_after
from platforms.settings import as_flag, lookup_setting
from platforms.windows import split_range

__all__ = ["CyberbizAdapter", "DEFAULT_V1_HOST", "DEFAULT_V2_HOST", "AUTH_MODELS"]

DEFAULT_V1_HOST = "https://api.cyberbiz.co"
DEFAULT_V2_HOST = "https://app-store-api.cyberbiz.io"
AUTH_MODELS = ("v1", "v2")
_ONE_SECOND = timedelta(seconds=1)


def _ceil_second(when: datetime) -> datetime:
    floor = when.replace(microsecond=0)
    return floor if floor == when else floor + _ONE_SECOND


class CyberbizAdapter(Adapter):
    """Cyberbiz orders (``/v1/orders``) and custom_shipping, over V1 HMAC or V2 bearer auth."""

    platform_type = "cyberbiz"
    display_name = "Cyberbiz"
    credential_fields: ClassVar[Mapping[str, str]] = {
        "username": "V1 only: the HMAC API key (username) from the Cyberbiz admin",
        "secret": "V1 only: the HMAC API secret",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # A bad setting is reported on first use (a typed PermanentError), not as a constructor crash.
        self.auth_model = str(self.channel.settings.get("auth_model") or "").strip().lower() or (
            "v1" if self.channel.credentials.get("username") else "v2")
        self._client: CyberbizClient | None = None
        self._oauth: CyberbizOAuth | None = None

    # -- configuration ---------------------------------------------------------------------------
    def _check_auth_model(self) -> None:
        if self.auth_model not in AUTH_MODELS:
            raise PermanentError(f"channel {self.channel.name}: setting auth_model {self.auth_model!r} must be "
                                 "'v1' (HMAC key) or 'v2' (App Store OAuth)", platform=PLATFORM)

    def _setting(self, name: str, default: Any) -> Any:
        """A setting from the channel, else the platform, else ``default`` (channel wins, as for Shopee)."""
        return lookup_setting(name, self.channel.settings, self.platform.settings, default, blank_is_unset=True)

    def _number(self, name: str, default: float) -> float:
        """A numeric setting; a non-number is a clear configuration error, not a traceback."""
        value = self._setting(name, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise PermanentError(f"channel {self.channel.name}: setting {name} = {value!r} is not a number",
                                 platform=PLATFORM) from None
        if number < 0:
            raise PermanentError(f"channel {self.channel.name}: setting {name} = {value!r} must not be negative",
                                 platform=PLATFORM)
        return number

    @property
    def _policy(self) -> RetryPolicy:
        return self.policy or RetryPolicy()

    @property
    def client(self) -> CyberbizClient:
        if self._client is None:
            self._check_auth_model()
            if self.auth_model == "v1":
                username = self.channel.credentials.get("username")
                secret = self.channel.credentials.get("secret")
                if not username or not secret:
                    raise PermanentError(f"channel {self.channel.name}: Cyberbiz V1 needs credentials "
                                         "'username' and 'secret' (HMAC key and secret)", platform=PLATFORM)
                auth: Any = HmacAuth(str(username), str(secret), lambda: self.clock(),
                                     sign_digest=as_flag(self._setting("v1_sign_digest", None), False))
                host = self._setting("v1_host", DEFAULT_V1_HOST)
            else:
                auth = BearerAuth(lambda: self.tokens.access_token if self.tokens else None)
                host = self.platform.host or DEFAULT_V2_HOST
            self._client = CyberbizClient(host, auth, auth_model=self.auth_model, policy=self._policy,
                                          requests_per_second=self._number("requests_per_second", 5))
        return self._client

    @property
    def oauth(self) -> CyberbizOAuth:
        self._check_auth_model()
        if self.auth_model != "v2":
            raise NotSupported(f"channel {self.channel.name} uses Cyberbiz V1 (HMAC keys): no OAuth",
                               platform=PLATFORM)
        if self._oauth is None:
            if not self.platform.app_id or not self.platform.app_secret:
                raise PermanentError("the Cyberbiz platform needs app_id (client_id) and app_secret "
                                     "(client_secret) for V2 OAuth", platform=PLATFORM)
            self._oauth = CyberbizOAuth(
                self._setting("shop_url_template", "https://{shop}"), self.platform.app_id,
                self.platform.app_secret, policy=self._policy,
                authorize_path=self._setting("oauth_authorize_path", "/admin/oauth/authorize"),
                token_path=self._setting("oauth_token_path", "/admin/oauth/token"))
        return self._oauth

    def call_counters(self) -> Iterable[Any]:
        return (getattr(self, "_client", None), getattr(self, "_oauth", None))

    # -- auth ------------------------------------------------------------------------------------
    @property
    def uses_oauth(self) -> bool:
        return self.auth_model == "v2"

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        return self.oauth.authorize_url(self.channel.shop_id or "", redirect_uri, state,
                                        str(self._setting("oauth_scope", "read_orders,write_orders")))

    def exchange_code(self, params: Mapping[str, str], redirect_uri: str | None = None) -> TokenSet:
        code = callback_code(params, platform=PLATFORM)
        shop = params.get("shop") or self.channel.shop_id or ""
        if self.channel.shop_id and shop != self.channel.shop_id:
            raise PermanentError(f"the OAuth callback is for shop {shop!r}, this channel is {self.channel.shop_id!r}",
                                 platform=PLATFORM)
        body = self.oauth.exchange_code(shop, code, redirect_uri)
        return self._token_set(body, shop)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        if not tokens.refresh_token:
            raise ReauthRequired("no refresh token stored: the merchant must authorize the app again",
                                 platform=PLATFORM)
        shop = str(tokens.extra.get("shop") or self.channel.shop_id or "")
        body = self.oauth.refresh(shop, tokens.refresh_token)
        return self._token_set(body, shop, previous=tokens)

    def _token_set(self, body: Mapping[str, Any], shop: str, previous: TokenSet | None = None) -> TokenSet:
        now = self.clock()
        extra = {"shop": shop, "shop_id": shop}
        if body.get("scope"):
            extra["scope"] = body["scope"]
        if body.get("refresh_token"):
            refresh_token: str | None = str(body["refresh_token"])
            refresh_expires = expires_after(now, body.get("refresh_token_expires_in"),
                                            self._number("refresh_token_ttl", 30 * 86400))
        else:  # no rotation this time: the stored refresh token and its expiry stay as they were
            refresh_token = previous.refresh_token if previous else None
            refresh_expires = previous.refresh_expires_at if previous else None
        access_expires = expires_after(now, body.get("expires_in"), self._number("access_token_ttl", 7200))
        return TokenSet(access_token=str(body["access_token"]), refresh_token=refresh_token,
                        access_expires_at=access_expires, refresh_expires_at=refresh_expires, extra=extra)

    def check_credentials(self) -> str:
        page = self.client.list_orders(per_page=1)
        model = "V1 HMAC key" if self.auth_model == "v1" else "V2 access token"
        seen = f"{page.total} orders visible" if page.total is not None else "orders readable"
        return f"Cyberbiz {model} accepted for {self.channel.shop_id or self.channel.name} ({seen})"

    # -- orders ----------------------------------------------------------------------------------
    def _map(self, raw: Any) -> Order | UnmappableOrder:
        return map_order(raw, channel=self.channel.name, currency=str(self._setting("currency", "TWD")))

    def windows(self, since: datetime, until: datetime) -> Iterator[tuple[str, str]]:
        """Taipei-local inclusive ``(start, end)`` strings covering ``[since, until)`` in max-window steps."""
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("fetch_orders needs aware datetimes")
        step = timedelta(days=self._number("max_window_days", 31) or 31)
        for start, end in split_range(_ceil_second(since), _ceil_second(until), step):
            yield format_local(start), format_local(end - _ONE_SECOND)

    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        for start, end in self.windows(since, until):
            yield from self._fetch_window(start, end)

    def _fetch_window(self, start: str, end: str) -> Iterator[Order | UnmappableOrder]:
        """Every order of one window once, paging again if offset paging shifted orders past us.

        The ids seen are kept per window only (memory bounded by one window, not the whole range); an
        order updated during the fetch may then appear again in a later window, which the upsert absorbs.
        """
        per_page = min(max(1, int(self._number("per_page", PER_PAGE_MAX))), PER_PAGE_MAX)
        repages = int(self._number("repage_limit", 1))
        seen: set[str] = set()
        expected: int | None = None
        for _attempt in range(repages + 1):
            for page in self._pages(start, end, per_page):
                if expected is None:
                    expected = page.total
                for raw in page.orders:
                    key = str(raw.get("id")) if isinstance(raw, Mapping) else repr(raw)
                    if key not in seen:
                        seen.add(key)
                        yield self._map(raw)
            if expected is None or len(seen) >= expected:
                return

    def _pages(self, start: str, end: str, per_page: int) -> Iterator[Any]:
        page_no = 1
        for _guard in range(100_000):
            page = self.client.list_orders(updated_start=start, updated_end=end, page=page_no, per_page=per_page)
            yield page
            following = page.next_page
            if following is None and page.total_pages is not None and page_no < page.total_pages and page.orders:
                following = page_no + 1
            if following is None and page.total_pages is None and len(page.orders) >= per_page:
                following = page_no + 1
            if following is None or following <= page_no or not page.orders:
                return
            page_no = following

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        found: list[Order | UnmappableOrder] = []
        for external_id in external_ids:
            raw = self.client.get_order(str(external_id))
            if raw is not None:
                found.append(self._map(raw))
        return found

    # -- logistics -------------------------------------------------------------------------------
    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """custom_shipping with the tracking number for the shipment's lines (all lines when none are given).

        A refusal (400/409/422) is checked against the fulfillments already recorded: the same tracking
        number means an earlier attempt got through (its answer was lost) and counts as success; other
        tracking numbers are named in the error, since Cyberbiz takes one tracking number per line.
        """
        if not shipment.tracking_number:
            raise PermanentError(f"order {order.external_id}: Cyberbiz custom_shipping needs a tracking number",
                                 platform=PLATFORM)
        line_ids = list(shipment.line_ids) or [line.external_line_id for line in order.lines if line.external_line_id]
        if not line_ids:
            raise PermanentError(f"order {order.external_id} has no line item ids to ship", platform=PLATFORM)
        body = {
            "line_item_ids": ",".join(str(i) for i in line_ids),
            "tracking_number": shipment.tracking_number,
            "tracking_company": tracking_company(shipment.carrier, carrier_map=self._carrier_map(),
                                                 default=str(self._setting("default_tracking_company", "other"))),
            "notify_customer": as_flag(self._setting("notify_customer", None), True),
        }
        try:
            answer = self.client.custom_shipping(order.external_id, body)
        except PermanentError as exc:
            if exc.status not in (400, 409, 422):
                raise
            answer = self._already_recorded(order.external_id, shipment.tracking_number, exc)
        return ShipResult(tracking_number=answer.get("tracking_number") or shipment.tracking_number, raw=answer)

    def _carrier_map(self) -> Mapping[str, str]:
        value = self._setting("carrier_map", {})
        if not isinstance(value, Mapping):
            raise PermanentError(f"channel {self.channel.name}: setting carrier_map must be an object "
                                 '{"carrier name": "cyberbiz tracking_company"}', platform=PLATFORM)
        return value

    def _already_recorded(self, order_id: str, tracking_number: str, refusal: PermanentError) -> dict[str, Any]:
        """The fulfillment recorded with this tracking number, else the refusal, naming other tracking numbers."""
        recorded = self.client.fulfillments(order_id)
        for fulfillment in recorded:
            if str(fulfillment.get("tracking_number")) == tracking_number:
                return fulfillment
        others = sorted({str(f["tracking_number"]) for f in recorded if f.get("tracking_number")})
        if not others:
            raise refusal
        raise PermanentError(f"{refusal.message}; order {order_id} already shipped with tracking number(s) "
                             f"{', '.join(others)} (Cyberbiz takes one tracking number per line item)",
                             platform=PLATFORM, status=refusal.status) from refusal
