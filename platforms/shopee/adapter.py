"""Shopee v2 adapter: OAuth, complete windowed listing with batched detail, and logistics push-back.

ref: shared/specs/marketplaces.md §1; every fact relied on is listed in docs/contracts/shopee.md. Configuration:

- ``PlatformConfig.host``: ``https://partner.shopeemobile.com`` (production) or the test host
  ``https://openplatform.sandbox.test-stable.shopee.sg``; only the base URL differs, never the code.
- ``PlatformConfig.app_id`` = partner_id, ``app_secret`` = partner_key.
- ``ChannelConfig.shop_id`` = the Shopee shop id (also returned by the OAuth callback).
- ``PlatformConfig.settings`` / ``ChannelConfig.settings`` (channel wins) keys, all optional:
  ``window_days`` (15: Shopee's maximum), ``page_size`` (100), ``detail_batch`` (50),
  ``ship_methods`` (order of preference, default ``["non_integrated", "dropoff", "pickup"]``),
  ``sender_real_name`` (for dropoff channels that ask for it), ``authorization_days`` (365),
  ``tracking_statuses`` (order statuses whose tracking number is read while fetching, default ``PROCESSED``),
  ``tracking_batch`` (packages per ``get_mass_tracking_number`` call, 50), ``max_list_passes`` (5: listings
  of one busy second before a run gives up, see :mod:`platforms.shopee.listing`).

Choices where Shopee is silent (tell the admin):

- ``fetch_orders(since, until)`` lists by ``update_time`` with no status filter, so every change of
  every status is seen; Shopee's ``time_from``/``time_to`` are treated as inclusive seconds, so
  each window asks ``[floor(start), ceil(end) - 1]``: an order on a window boundary is listed once.
  Offset paging can skip an order when another one changes mid-read; :mod:`platforms.shopee.listing`
  proves each window complete (details read after the last page; re-listing in halves when an order moved).
- PROCESSED orders are reported shipped with the tracking number Shopee holds (``Order.tracking_number``).
- ``authorize_url(redirect_uri, state)``: Shopee has no ``state`` parameter, so ``state`` is put in the
  redirect URL's query; Shopee appends ``code`` and ``shop_id`` and the state comes back with them.
- ``TokenSet.refresh_expires_at`` = now + 30 days (Shopee's rule, not returned by the API);
  ``auth_expires_at`` = consent + ``authorization_days`` (365) and is carried across refreshes.
- ``ship``: with a tracking number and a ``non_integrated`` option, the tracking number is passed;
  otherwise the first of ``ship_methods`` that ``get_shipping_parameter`` offers is used and its
  ``info_needed`` fields filled from the parameters Shopee returned (first slug / branch / address /
  time slot). The tracking number reported back is ``get_tracking_number``'s.
- ``answer_cancel_request``: an ``IN_CANCEL`` order's buyer request is answered with
  ``handle_buyer_cancellation`` (ACCEPT / REJECT), decided by :mod:`channels.cancel_answers` from what the OMS
  reported (accept unless the goods left).
"""

from __future__ import annotations

import logging
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from platforms.base import (
    Adapter,
    CancelAnswer,
    ChannelConfig,
    CredentialsInvalid,
    NotSupported,
    Order,
    OrderRef,
    PermanentError,
    PlatformConfig,
    PlatformError,
    ReauthRequired,
    Shipment,
    ShipResult,
    TokenSet,
    UnmappableOrder,
)
from platforms.oauth import expires_after
from platforms.settings import lookup_setting
from platforms.shopee.client import (
    MAX_DETAIL_BATCH,
    MAX_PAGE_SIZE,
    MAX_TRACKING_BATCH,
    MAX_WINDOW_SECONDS,
    TIMESTAMP_TOLERANCE_SECONDS,
    ShopeeClient,
)
from platforms.shopee.listing import WindowLister
from platforms.shopee.mapping import ARRANGED_STATUSES, map_order
from platforms.windows import split_range

__all__ = ["ShopeeAdapter", "window_bounds", "REFRESH_TOKEN_DAYS", "DEFAULT_SHIP_METHODS",
           "DEFAULT_TRACKING_STATUSES"]

log = logging.getLogger("oms_bridge.platforms.shopee")

REFRESH_TOKEN_DAYS = 30
DEFAULT_SHIP_METHODS = ("non_integrated", "dropoff", "pickup")
DEFAULT_TRACKING_STATUSES = ("PROCESSED",)
#: package logistics_status values that mean the shipment is arranged or done (guide 31)
_ARRANGED_PACKAGE_STATES = frozenset({"LOGISTICS_REQUEST_CREATED", "LOGISTICS_PICKUP_DONE", "LOGISTICS_DELIVERY_DONE"})


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
    # "The timestamp is only valid for 5 minutes ... the authorization link will no longer be valid"
    consent_link_ttl = timedelta(seconds=TIMESTAMP_TOLERANCE_SECONDS)

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
        """Every order updated in ``[since, until)``, none lost to orders changing while pages are read.

        Per ≤15-day window: one pass over the list pages (100 per page), then the details (50 per call) read
        *after* the last page. If a listed order's ``update_time`` has left the window, a later order may
        have been skipped (:mod:`platforms.shopee.listing`): the window is then proven half by half and the
        orders the first pass missed are read too. Quiet windows cost exactly the floor,
        ceil(N/100) list + ceil(N/50) detail calls (+ tracking numbers of PROCESSED orders, 50 per call).
        """
        self._access()  # fail before the first call when the channel was never authorized
        lister = self._lister()
        for time_from, time_to in self._windows(since, until):
            listing = lister.one_pass(time_from, time_to)
            moved, times = False, array("q")  # update_time seconds of the listed orders, as their details say
            for item in self._details(list(listing.orders)):
                updated = _update_time(item)
                if updated is None or not time_from <= updated <= time_to:
                    moved = True  # it left the window during the pass (or cannot tell): a later one may be missed
                else:
                    times.append(updated)
                yield item
            if moved and not listing.one_page:
                complete = lister.complete_in_parts(time_from, time_to, times, self._page_size())
                yield from self._details([sn for sn in complete if sn not in listing.orders])

    def list_orders(self, since: datetime, until: datetime) -> Iterator[OrderRef]:
        """Every order updated in ``[since, until)`` as the listing shows it, with the same guarantee as
        :meth:`fetch_orders` and no detail call: a window is proven by a second pass listing the same orders
        (one call for a window that fits one page), else half by half. The refs carry no time: the listing shows
        order numbers and statuses only (reconciliation takes the store's times, and places an order the store
        lacks by listing again in smaller windows: :mod:`oms_bridge.reconcile.run`)."""
        self._access()
        lister = self._lister()
        for time_from, time_to in self._windows(since, until):
            for sn, status in lister.complete(time_from, time_to).items():
                yield OrderRef(external_id=sn, platform_status=status or None)

    def _windows(self, since: datetime, until: datetime) -> Iterator[tuple[int, int]]:
        return window_bounds(since, until, self._number_setting("window_days", 15, 1 / 24, 15))

    def _page_size(self) -> int:
        return int(self._number_setting("page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE))

    def _lister(self) -> WindowLister:
        page_size = self._page_size()
        max_passes = int(self._number_setting("max_list_passes", 5, 2, 50))

        def list_page(time_from: int, time_to: int, cursor: str) -> Mapping[str, Any]:
            token, shop_id = self._access()  # per page: tokens may be swapped (set_tokens) between pages
            return self.client.get_order_list(token, shop_id, time_from=time_from, time_to=time_to, cursor=cursor,
                                              page_size=page_size)

        return WindowLister(list_page, max_passes=max_passes)

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        """Re-read orders by number; an unknown number is isolated (its batch split) and reported alone."""
        return list(self._details([str(sn) for sn in external_ids]))

    def _details(self, sns: list[str]) -> Iterator[Order | UnmappableOrder]:
        """Details in batches of ``detail_batch``; arranged orders wait (≤ one tracking batch) for their numbers."""
        batch = int(self._number_setting("detail_batch", MAX_DETAIL_BATCH, 1, MAX_DETAIL_BATCH))
        tracked = self._tracking_statuses()
        waiting: list[Mapping[str, Any]] = []
        for i in range(0, len(sns), batch):
            for raw in self._detail_batch(sns[i:i + batch]):
                if isinstance(raw, UnmappableOrder):
                    yield raw
                elif raw.get("order_status") in tracked and _package_numbers(raw):
                    waiting.append(raw)
                    if sum(len(_package_numbers(r)) for r in waiting) >= self._tracking_batch():
                        yield from self._with_tracking(waiting)
                        waiting = []
                else:
                    yield map_order(raw, self.channel.name)
        if waiting:
            yield from self._with_tracking(waiting)

    def _detail_batch(self, wanted: list[str]) -> Iterator[Mapping[str, Any] | UnmappableOrder]:
        """One get_order_detail call; Shopee fails the whole call when one number is unknown (error_not_found),
        so such a batch is split in halves until the unknown number stands alone (≈ 2·log2(50) extra calls)."""
        token, shop_id = self._access()
        try:
            found = {o.get("order_sn"): o for o in self.client.get_order_detail(token, shop_id, wanted)}
        except PermanentError as exc:
            if _short(exc.code) != "error_not_found":
                raise
            if len(wanted) == 1:
                yield UnmappableOrder(wanted[0], {}, f"Shopee order {wanted[0]} is unknown to Shopee: "
                                                     f"get_order_detail answered {exc.message!r}")
                return
            half = len(wanted) // 2
            yield from self._detail_batch(wanted[:half])
            yield from self._detail_batch(wanted[half:])
            return
        for sn in wanted:
            raw = found.get(sn)
            yield raw if raw is not None else UnmappableOrder(
                sn, {}, f"Shopee order {sn} was listed but get_order_detail did not return it")

    def _tracking_statuses(self) -> frozenset[str]:
        configured = self._setting("tracking_statuses", DEFAULT_TRACKING_STATUSES)
        values = configured.split(",") if isinstance(configured, str) else configured
        return frozenset(str(v).strip().upper() for v in values or () if str(v).strip())

    def _tracking_batch(self) -> int:
        return int(self._number_setting("tracking_batch", MAX_TRACKING_BATCH, 1, MAX_TRACKING_BATCH))

    def _with_tracking(self, raws: list[Mapping[str, Any]]) -> Iterator[Order | UnmappableOrder]:
        """Map arranged orders with the tracking number Shopee holds (get_mass_tracking_number, ≤50 packages per
        call; one order at a time through get_tracking_number if the mass call refuses a batch)."""
        numbers = {number: raw["order_sn"] for raw in raws for number in _package_numbers(raw)}
        tracking: dict[str, str] = {}
        token, shop_id = self._access()
        packages = list(numbers)
        size = self._tracking_batch()
        for i in range(0, len(packages), size):
            chunk = packages[i:i + size]
            try:
                answer = self.client.get_mass_tracking_number(token, shop_id, chunk)
            except PermanentError as exc:
                log.info("Shopee get_mass_tracking_number refused %d packages (%s); reading them one by one",
                         len(chunk), exc)
                answer = {"success_list": [self._one_tracking(token, shop_id, numbers[n], n) for n in chunk]}
            for entry in answer.get("success_list") or []:
                sn = numbers.get(str(entry.get("package_number") or ""))
                if sn and entry.get("tracking_number") and sn not in tracking:
                    tracking[sn] = str(entry["tracking_number"])
        for raw in raws:
            yield map_order(raw, self.channel.name, tracking_number=tracking.get(raw["order_sn"]))

    def _one_tracking(self, token: str, shop_id: str, sn: str, package: str) -> dict[str, Any]:
        try:
            found = self.client.get_tracking_number(token, shop_id, sn, package)
        except PermanentError:
            found = {}
        return {"package_number": package, "tracking_number": found.get("tracking_number") or ""}

    # -- logistics -------------------------------------------------------------------------------
    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """Arrange shipment of the order (or one package) and report Shopee's tracking number.

        ``ship_order`` is not idempotent: its lost answer raises :class:`~platforms.base.OutcomeUnknown`
        (never re-sent; the caller asks :meth:`shipment_state`). Once Shopee accepted it, a failing tracking
        number read does not fail the shipment: the number is left to :meth:`shipment_state` or a later read.
        """
        token, shop_id = self._access()
        sn, package = order.external_id, shipment.package_number
        params = self.client.get_shipping_parameter(token, shop_id, sn, package)
        method = self._ship_method(params, shipment)
        body: dict[str, Any] = {"order_sn": sn, **method}
        if package:
            body["package_number"] = package
        self.client.ship_order(token, shop_id, body)
        try:
            tracking = self.client.get_tracking_number(token, shop_id, sn, package)
        except PlatformError as exc:
            log.warning("Shopee accepted ship_order for %s but its tracking number could not be read (%s)", sn, exc)
            tracking = {}
        ours = shipment.tracking_number if "non_integrated" in method else None
        return ShipResult(tracking_number=tracking.get("tracking_number") or ours or None,
                          raw={"ship_order": body, "tracking": tracking})

    def shipment_state(self, order: Order) -> ShipResult | None:
        """What Shopee recorded for the order's shipment, read without changing anything.

        Arranged when the order status is PROCESSED or later, when a package is LOGISTICS_REQUEST_CREATED or
        further, or when a LOGISTICS_READY package has ``is_shipment_arranged`` (Shopee still generating its
        tracking number: the order may read READY_TO_SHIP for a while). Then a :class:`ShipResult` with the
        tracking number ``get_tracking_number`` gives (None while Shopee has none yet); else None.
        """
        token, shop_id = self._access()
        sn = order.external_id
        details = self.client.get_order_detail(token, shop_id, [sn], ("package_list",))
        raw = next((d for d in details if d.get("order_sn") == sn), None)
        if raw is None:
            raise PermanentError(f"Shopee did not return order {sn} when its shipment was read back",
                                 platform="shopee")
        status = str(raw.get("order_status") or "")
        packages = [p for p in raw.get("package_list") or [] if isinstance(p, Mapping)]
        arranged = status in ARRANGED_STATUSES or any(p.get("logistics_status") in _ARRANGED_PACKAGE_STATES
                                                       for p in packages)
        ready = [str(p["package_number"]) for p in packages
                 if p.get("logistics_status") == "LOGISTICS_READY" and p.get("package_number")]
        if not arranged and ready:
            arranged = any(d.get("is_shipment_arranged")
                           for d in self.client.get_package_detail(token, shop_id, ready[:MAX_TRACKING_BATCH]))
        if not arranged:
            return None
        tracking = self.client.get_tracking_number(token, shop_id, sn)
        return ShipResult(tracking_number=tracking.get("tracking_number") or None,
                          raw={"order_status": status, "packages": packages, "tracking": tracking})

    # -- cancellation requests ------------------------------------------------------------------------
    def answer_cancel_request(self, order: Order, accept: bool) -> CancelAnswer:
        """Answer the buyer's cancellation request of an ``IN_CANCEL`` order (``handle_buyer_cancellation``):
        ``accept`` → ACCEPT (Shopee cancels the order), otherwise REJECT (the order goes on to be shipped).

        Not idempotent: a lost answer raises :class:`~platforms.base.OutcomeUnknown` from the client and the
        caller re-reads the order before answering again (an order no longer ``IN_CANCEL`` was answered).
        """
        if order.cancel_request is None:
            raise PermanentError(f"Shopee order {order.external_id} has no open cancellation request to answer",
                                 platform="shopee")
        token, shop_id = self._access()
        answer = self.client.handle_buyer_cancellation(token, shop_id, order.external_id, accept)
        return CancelAnswer(accepted=accept, raw={"operation": "ACCEPT" if accept else "REJECT", **answer})

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


def _short(code: str) -> str:
    return (code or "").removeprefix("common.")


def _package_numbers(raw: Mapping[str, Any]) -> list[str]:
    return [str(p["package_number"]) for p in raw.get("package_list") or []
            if isinstance(p, Mapping) and p.get("package_number")]


def _update_time(item: Order | UnmappableOrder) -> int | None:
    """The order's ``update_time`` as its detail (read after the listing) gives it; None when it has none."""
    updated = item.raw.get("update_time") if isinstance(item.raw, Mapping) else None
    if isinstance(updated, bool) or not isinstance(updated, int | float):
        return None
    return int(updated)
