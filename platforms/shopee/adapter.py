"""Shopee v2 adapter: OAuth, windowed cursor fetch with batched detail, and logistics push-back.

ref: shared/specs/marketplaces.md §1. Configuration:

- ``PlatformConfig.host``: ``https://partner.shopeemobile.com`` (production) or the test host
  ``https://openplatform.sandbox.test-stable.shopee.sg``; only the base URL differs, never the code.
- ``PlatformConfig.app_id`` = partner_id, ``app_secret`` = partner_key.
- ``ChannelConfig.shop_id`` = the Shopee shop id (also returned by the OAuth callback).
- ``PlatformConfig.settings`` / ``ChannelConfig.settings`` (channel wins) keys, all optional:
  ``window_days`` (15: Shopee's maximum), ``page_size`` (100), ``detail_batch`` (50),
  ``ship_methods`` (order of preference, default ``["non_integrated", "dropoff", "pickup"]``),
  ``sender_real_name`` (for dropoff channels that ask for it), ``authorization_days`` (365).

Choices where Shopee is silent (tell the admin):

- ``fetch_orders(since, until)`` lists by ``update_time`` with no status filter, so every change of
  every status is seen; Shopee's ``time_from``/``time_to`` are treated as inclusive seconds, so
  each window asks ``[floor(start), ceil(end) - 1]``: an order on a window boundary is listed once.
- ``authorize_url(redirect_uri, state)``: Shopee has no ``state`` parameter, so ``state`` is put in the
  redirect URL's query; Shopee appends ``code`` and ``shop_id`` and the state comes back with them.
- ``TokenSet.refresh_expires_at`` = now + 30 days (Shopee's rule, not returned by the API);
  ``auth_expires_at`` = consent + ``authorization_days`` (365) and is carried across refreshes.
- ``ship``: with a tracking number and a ``non_integrated`` option, the tracking number is passed;
  otherwise the first of ``ship_methods`` that ``get_shipping_parameter`` offers is used and its
  ``info_needed`` fields filled from the parameters Shopee returned (first slug / branch / address /
  time slot). The tracking number reported back is ``get_tracking_number``'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from platforms.base import (
    Adapter,
    ChannelConfig,
    CredentialsInvalid,
    NotSupported,
    Order,
    PermanentError,
    PlatformConfig,
    ReauthRequired,
    Shipment,
    ShipResult,
    TokenSet,
    UnmappableOrder,
)
from platforms.oauth import expires_after
from platforms.settings import lookup_setting
from platforms.shopee.client import MAX_DETAIL_BATCH, MAX_PAGE_SIZE, MAX_WINDOW_SECONDS, ShopeeClient
from platforms.shopee.mapping import map_order
from platforms.windows import split_range

__all__ = ["ShopeeAdapter", "window_bounds", "REFRESH_TOKEN_DAYS", "DEFAULT_SHIP_METHODS"]

REFRESH_TOKEN_DAYS = 30
DEFAULT_SHIP_METHODS = ("non_integrated", "dropoff", "pickup")


def window_bounds(since: datetime, until: datetime, window_days: float = 15) -> Iterator[tuple[int, int]]:
    """``[since, until)`` as inclusive Unix-second pairs ``(time_from, time_to)``, each ≤ ``window_days``.

    Consecutive windows never share a second, so an order updated exactly on a boundary is listed once.
    """
    start = math.floor(since.timestamp())
    end = math.ceil(until.timestamp())  # exclusive
    span = max(1, min(int(window_days * 86400), MAX_WINDOW_SECONDS))
    for lo, hi in split_range(start, end, span):
        yield lo, hi - 1


class ShopeeAdapter(Adapter):
    """Shopee Open Platform v2 for one shop."""

    platform_type = "shopee"
    display_name = "Shopee"
    credential_fields: Mapping[str, str] = {}

    def __init__(self, platform: PlatformConfig, channel: ChannelConfig, tokens: TokenSet | None = None, *,
                 policy: Any = None, clock: Any = None):
        super().__init__(platform, channel, tokens, policy=policy, clock=clock)
        self.client = ShopeeClient(platform.host, platform.app_id or "", platform.app_secret or "",
                                   clock=self.clock, policy=policy)

    # -- settings --------------------------------------------------------------------------------
    def call_counters(self) -> Iterable[Any]:
        return (self.__dict__.get("client"),)

    def _setting(self, name: str, default: Any) -> Any:
        return lookup_setting(name, self.channel.settings, self.platform.settings, default)

    def _number_setting(self, name: str, default: float, low: float, high: float) -> float:
        """A numeric setting within Shopee's limits, or a PermanentError naming the setting (never a traceback)."""
        raw = self._setting(name, default)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = float("nan")
        if not low <= value <= high:
            raise PermanentError(f"Shopee setting {name} must be a number from {low:g} to {high:g}, got {raw!r}",
                                 platform="shopee")
        return value

    @property
    def uses_oauth(self) -> bool:
        return True

    def _shop_id(self) -> str:
        shop_id = self.channel.shop_id or (self.tokens.extra.get("shop_id") if self.tokens else None)
        if not shop_id:
            raise CredentialsInvalid(f"channel {self.channel.name!r} has no Shopee shop id", platform="shopee")
        return str(shop_id)

    def _access(self) -> tuple[str, str]:
        if not self.tokens or not self.tokens.access_token:
            raise ReauthRequired(f"channel {self.channel.name!r} is not authorized on Shopee yet",
                                 platform="shopee")
        return self.tokens.access_token, self._shop_id()

    # -- auth ------------------------------------------------------------------------------------
    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Shopee's consent page; ``state`` rides in the redirect URL (Shopee has no state parameter)."""
        parts = urlsplit(redirect_uri)
        query = "&".join(q for q in (parts.query, urlencode({"state": state})) if q)
        return self.client.auth_partner_url(urlunsplit(parts._replace(query=query)))

    def exchange_code(self, params: Mapping[str, str], redirect_uri: str | None = None) -> TokenSet:
        """Callback ``code`` + ``shop_id`` → tokens (main-account grants are not supported)."""
        code, shop_id = params.get("code"), params.get("shop_id")
        if not code:
            raise PermanentError("Shopee callback has no code", platform="shopee")
        if not shop_id:
            if params.get("main_account_id"):
                raise NotSupported("Shopee main-account authorization is not supported; authorize a single shop",
                                   platform="shopee")
            raise PermanentError("Shopee callback has no shop_id", platform="shopee")
        if self.channel.shop_id and str(self.channel.shop_id) != str(shop_id):
            raise PermanentError(f"Shopee authorized shop {shop_id}, but channel {self.channel.name!r} is shop "
                                 f"{self.channel.shop_id}", platform="shopee")
        now = self.clock()
        body = self.client.get_token(code, shop_id)
        auth_days = self._number_setting("authorization_days", 365, 1, 365)
        return self._token_set(body, shop_id, now, now + timedelta(days=auth_days))

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new pair; the old refresh token is dead from now on (single-use), so store this one first."""
        if not tokens.refresh_token:
            raise ReauthRequired("no Shopee refresh token stored; authorize again", platform="shopee")
        shop_id = str(tokens.extra.get("shop_id") or self._shop_id())
        now = self.clock()
        body = self.client.refresh_access_token(tokens.refresh_token, shop_id)
        return self._token_set(body, shop_id, now, tokens.auth_expires_at)

    @staticmethod
    def _token_set(body: Mapping[str, Any], shop_id: str, now: datetime, auth_expires_at: datetime | None
                   ) -> TokenSet:
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not access or not refresh:
            raise PermanentError("Shopee token answer has no access_token/refresh_token", platform="shopee",
                                 request_id=str(body.get("request_id") or ""))
        return TokenSet(access_token=access, refresh_token=refresh,
                        access_expires_at=expires_after(now, body.get("expire_in"), 14400),
                        refresh_expires_at=now + timedelta(days=REFRESH_TOKEN_DAYS),
                        auth_expires_at=auth_expires_at, extra={"shop_id": str(shop_id)})

    def check_credentials(self) -> str:
        token, shop_id = self._access()
        info = self.client.get_shop_info(token, shop_id)
        name = info.get("shop_name") or (info.get("response") or {}).get("shop_name") or shop_id
        return f"Shopee shop {name} ({shop_id}) answers with these credentials"

    # -- orders ----------------------------------------------------------------------------------
    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        """Every order updated in ``[since, until)``: ≤15-day windows, 100 per page, 50 per detail call."""
        self._access()  # fail before the first call when the channel was never authorized
        page_size = int(self._number_setting("page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE))
        window_days = self._number_setting("window_days", 15, 1 / 24, 15)
        for time_from, time_to in window_bounds(since, until, window_days):
            cursor = ""
            while True:
                token, shop_id = self._access()  # per page: tokens may be swapped (set_tokens) between pages
                page = self.client.get_order_list(token, shop_id, time_from=time_from, time_to=time_to,
                                                  cursor=cursor, page_size=page_size)
                sns = [str(o["order_sn"]) for o in page.get("order_list") or [] if o.get("order_sn")]
                yield from self._details(sns)
                cursor = str(page.get("next_cursor") or "")
                if not page.get("more") or not cursor:
                    break

    def _details(self, sns: list[str]) -> Iterator[Order | UnmappableOrder]:
        token, shop_id = self._access()
        batch = int(self._number_setting("detail_batch", MAX_DETAIL_BATCH, 1, MAX_DETAIL_BATCH))
        for i in range(0, len(sns), batch):
            wanted = sns[i:i + batch]
            try:
                found = {o.get("order_sn"): o for o in self.client.get_order_detail(token, shop_id, wanted)}
            except PermanentError as exc:
                if exc.code != "error_not_found":
                    raise
                found = {}
            for sn in wanted:
                raw = found.get(sn)
                if raw is None:
                    yield UnmappableOrder(sn, {}, f"Shopee order {sn} was listed but get_order_detail did not "
                                                  "return it")
                else:
                    yield map_order(raw, self.channel.name)

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        return list(self._details([str(sn) for sn in external_ids]))

    # -- logistics -------------------------------------------------------------------------------
    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """Arrange shipment of the order (or one package) and report Shopee's tracking number."""
        token, shop_id = self._access()
        sn, package = order.external_id, shipment.package_number
        params = self.client.get_shipping_parameter(token, shop_id, sn, package)
        body: dict[str, Any] = {"order_sn": sn, **self._ship_method(params, shipment)}
        if package:
            body["package_number"] = package
        self.client.ship_order(token, shop_id, body)
        tracking = self.client.get_tracking_number(token, shop_id, sn, package)
        return ShipResult(tracking_number=tracking.get("tracking_number") or shipment.tracking_number or None,
                          raw={"ship_order": body, "tracking": tracking})

    def _ship_method(self, params: Mapping[str, Any], shipment: Shipment) -> dict[str, Any]:
        """The ship_order method object: the first preferred method Shopee offers, filled per info_needed."""
        needed: Mapping[str, list[str]] = params.get("info_needed") or {}
        configured = self._setting("ship_methods", DEFAULT_SHIP_METHODS)
        preference = [m.strip() for m in (configured.split(",") if isinstance(configured, str) else configured)]
        if not shipment.tracking_number and "non_integrated" in preference:
            preference.remove("non_integrated")
        for method in preference:
            if method in needed:
                return {method: self._fill(method, needed[method] or [], params.get(method) or {}, shipment)}
        raise PermanentError(f"Shopee offers no usable ship method (offered: {', '.join(needed) or 'none'}; "
                             f"configured: {', '.join(preference)})", platform="shopee")

    def _fill(self, method: str, fields: list[str], offer: Mapping[str, Any], shipment: Shipment) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in fields:
            if name in ("tracking_number", "tracking_no"):
                if not shipment.tracking_number:
                    raise PermanentError(f"Shopee {method} shipping needs a tracking number", platform="shopee")
                out["tracking_number"] = shipment.tracking_number
            elif name == "slug":
                out["slug"] = _first(offer.get("slug_list"), "slug", method)
            elif name == "branch_id":
                out["branch_id"] = _first(offer.get("branch_list"), "branch_id", method)
            elif name == "sender_real_name":
                sender = self._setting("sender_real_name", None)
                if not sender:
                    raise PermanentError("Shopee dropoff needs sender_real_name: set it in the channel settings",
                                         platform="shopee")
                out["sender_real_name"] = sender
            elif name == "address_id":
                out["address_id"] = _first(offer.get("address_list"), "address_id", method)
            elif name == "pickup_time_id":
                addresses = offer.get("address_list") or []
                slots = addresses[0].get("time_slot_list") if addresses else None
                out["pickup_time_id"] = _first(slots, "pickup_time_id", method)
        return out


def _first(options: Any, key: str, method: str) -> Any:
    if not options:
        raise PermanentError(f"Shopee {method} shipping needs {key} but offered none", platform="shopee")
    return options[0][key]
