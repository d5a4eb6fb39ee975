"""Shopline adapter: bearer token, UTC ``updated_after/before`` paging, OAuth on the developers host, shipments.

Every fact it relies on is in docs/contracts/shopline.md (confirmed / inferred / unknown). Settings
(``ChannelConfig.settings`` override ``PlatformConfig.settings`` override :data:`DEFAULTS`):

- ``user_agent`` (no default, required): the app's handle code. "OpenAPI request example" makes the
  User-Agent a must-have header carrying it; a missing setting stops every API call with a sentence
  saying what to set.
- ``auth_model`` (``"token"``): ``"token"`` = an Open API token the merchant pastes (or the app installation
  token), no refresh, a 401 means the token is wrong (:class:`CredentialsInvalid`); ``"oauth"`` = app
  authorization at ``oauth_host`` (``https://developers.shoplineapp.com``) ``authorize_path``
  (``/oauth/authorize``) and ``token_path`` (``/oauth/token``). The token answer's ``expires_in`` (about
  6 months) sets the access token's life (``access_token_ttl``, 15778476 s, only when it is missing);
  ``resource_owner_id`` is the merchant id and becomes the channel's shop id.
- ``redirect_uri`` (none): the callback URL registered on the app's App Keys page. The refresh grant
  needs it (the refresh-token page lists it); without the setting the URL used at authorization is
  reused while the adapter lives, else refresh stops with a sentence saying what to set.
- ``refresh_grace`` (86400 s): "The refresh token will expire within one day after the access token has
  expired" (shopline-developers.readme.io/docs/refresh-token). :meth:`refresh` past that point raises
  :class:`ReauthRequired` without calling Shopline. A refresh grant is retried on transient errors like any
  read: Doorkeeper keeps the used refresh token alive until the new access token is first used (inferred).
- ``per_page`` (50, the docs' advice), ``max_pages`` (10000, loop guard), ``reread_by_list`` (True:
  ``get_orders`` asks ``GET /v1/orders?order_ids[]=…``, falling back to ``GET /v1/orders/{id}`` when the
  listing answers orders it was not asked for).
- ``cents_per_unit`` (``{"TWD": 1}``) and ``decimals``: how money objects are read
  (:mod:`platforms.shopline.mapping`). ``extra_discount_fields`` (none): order money fields added to the
  discount besides ``order_discount`` (``user_credit``, ``order_points_to_cash``): whether ``total`` already
  deducts store credit and points is not public, so by default they are kept in the raw payload only.
- ``archived_flag`` (``"archived"``): the key that marks an archived order in Get Orders (the mark's shape
  is not public). Marked orders are left out of fetches, listings and re-reads: their data lives in Get
  Archived Orders (orders over two years old, or deleted), the stored copy stays as it is, never held.
- ``shipment_call`` (``"auto"``): ``auto`` picks the call from the region type of the order's delivery
  option (one ``GET /v1/delivery_options/{id}`` per option and adapter): ``execute_shipment`` for the
  carriers in ``execute_shipment_region_types`` (documented list), ``bulk_execute_shipment`` (Bulk Execute
  Shipment, one order a call) for those in ``bulk_execute_region_types`` (7-11 Cross Border, FamilyMart Freeze),
  ``order_delivery_status`` for deliveries without carrier integration; ``execute_shipment`` /
  ``bulk_execute_shipment`` / ``order_delivery_status`` force one call. The other ``integrated_region_types``
  (documented list: Kerry, YTO, 7-11 returns) no API call ships: held with the reason.
- ``mail_notify`` (False, the documented default): whether Shopline mails the buyer on the status change.
- ``tracking_write`` (``"none"``): no documented call stores a tracking number for a delivery without
  carrier integration, so the OMS's number stays in the bridge (``oms_package_push``) and the run says so.
  ``"update_order"`` writes it with ``PATCH /v1/orders/{id}`` ``{tracking_number, delivery_provider_name}``,
  as one public client does (JasonSung0724/bagel_shopline), before the status change.

Windows: the filters are inclusive and second-granular, so ``[since, until)`` is sent as
``updated_after=floor(since)``, ``updated_before=ceil(until)`` and orders are kept only when
``since <= updated_at < until``. Pages are numbered over a list sorted by creation time; an order updated
while we page leaves the window and shifts every later order up by one place. So the pass reads page 1
(for the page count), then the last page back to page 2, then page 1 again: an order can only move towards
page 1, ahead of the reader, and none is skipped; ids read twice are yielded once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from oms_bridge.remote.http import RetryPolicy
from platforms.base import (
    Adapter,
    AuthExpired,
    CredentialsInvalid,
    Order,
    OrderRef,
    PermanentError,
    ReauthRequired,
    Shipment,
    ShipResult,
    TokenSet,
    UnmappableOrder,
)
from platforms.oauth import callback_code, expires_after
from platforms.settings import as_flag, lookup_setting
from platforms.shopline import delivery
from platforms.shopline.client import PLATFORM, ShoplineClient, ShoplineOAuth
from platforms.shopline.mapping import is_archived_mark, map_order, order_ref

__all__ = ["ShoplineAdapter", "DEFAULTS", "filter_bounds", "NOT_STORED_NOTE"]

log = logging.getLogger("oms_bridge.platforms.shopline")

DEFAULTS: dict[str, Any] = {
    "auth_model": "token", "oauth_host": "https://developers.shoplineapp.com", "authorize_path": "/oauth/authorize",
    "token_path": "/oauth/token", "oauth_scope": "orders", "redirect_uri": None, "access_token_ttl": 15778476,
    "refresh_grace": 86400, "per_page": 50, "max_pages": 10000, "user_agent": None, "cents_per_unit": None,
    "decimals": None, "extra_discount_fields": None, "reread_by_list": True, "archived_flag": "archived",
    "shipment_call": "auto", "integrated_region_types": None, "execute_shipment_region_types": None,
    "bulk_execute_region_types": None,
    "mail_notify": False, "tracking_write": "none",
}
SHIPMENT_CALLS = ("auto", delivery.EXECUTE, delivery.BULK, delivery.STATUS)
TRACKING_WRITES = ("none", "update_order")
#: what a run reports when Shopline cannot hold the OMS's tracking number (no order data: a run message)
NOT_STORED_NOTE = ("Shopline has no documented call that stores a tracking number for a delivery without carrier "
                   "integration: the order is marked shipped there and the OMS's tracking number is kept in the "
                   "bridge (oms_package_push); tracking_write 'update_order' writes it with PATCH /v1/orders/{id}")
BULK_BOOKED_NOTE = ("Shopline booked its integrated carrier (Bulk Execute Shipment): the parcel carries Shopline's "
                    "tracking number, not the OMS's")
BOOKED_NOTE = ("Shopline booked its integrated carrier (execute_shipment): the parcel carries Shopline's tracking "
               "number, not the OMS's")


def _floor_second(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def _ceil_second(when: datetime) -> datetime:
    floor = _floor_second(when)
    return floor if floor == when else floor + timedelta(seconds=1)


def filter_bounds(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """``updated_after``/``updated_before`` for ``[since, until)``: second-granular and inclusive, so
    widened to whole seconds; the adapter then keeps only ``since <= updated_at < until``."""
    return _floor_second(since), _ceil_second(until)


class ShoplineAdapter(Adapter):
    """Shopline Open API (open.shopline.io): see the module docstring for the choices made."""

    platform_type = "shopline"
    display_name = "Shopline"
    credential_fields: ClassVar[Mapping[str, str]] = {
        "access_token": "Open API token from Shopline admin (auth_model 'token'; leave empty for OAuth apps)",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client: ShoplineClient | None = None
        self._oauth: ShoplineOAuth | None = None
        self._region_types: dict[str, str] = {}  # delivery option id -> region type

    # -- configuration ----------------------------------------------------------------------------
    def setting(self, name: str) -> Any:
        """A setting: channel overrides platform overrides the documented default."""
        return lookup_setting(name, self.channel.settings, self.platform.settings, DEFAULTS[name],
                              blank_is_unset=True)

    @property
    def auth_model(self) -> str:
        model = str(self.setting("auth_model")).strip().lower()
        if model not in ("token", "oauth"):
            raise PermanentError(f"Shopline auth_model {model!r} is not 'token' or 'oauth'", platform=PLATFORM)
        return model

    def _choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = str(self.setting(name)).strip()
        if value not in allowed:
            raise PermanentError(f"Shopline {name} {value!r} is not one of {', '.join(allowed)}", platform=PLATFORM)
        return value

    def _region_set(self, name: str, default: Collection[str]) -> frozenset[str]:
        value = self.setting(name)
        if value is None:
            return frozenset(default)
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise PermanentError(f"Shopline {name} must be a list of region types", platform=PLATFORM)
        return frozenset(str(v) for v in value)

    def _policy(self) -> RetryPolicy:
        return self.policy or RetryPolicy()

    def _user_agent(self) -> str:
        agent = str(self.setting("user_agent") or "").strip()
        if not agent:
            raise PermanentError(
                "Shopline requires a User-Agent carrying the app's handle code on every Open API call: set the "
                "platform setting user_agent (oms-bridge platform update <platform> --settings-json "
                "'{..., \"user_agent\": \"<handle code>\"}', the whole settings object)", platform=PLATFORM,
                code="user_agent")
        return agent

    @property
    def client(self) -> ShoplineClient:
        if self._client is None:
            self._client = ShoplineClient(self.platform.host, self._access_token, policy=self._policy(),
                                          user_agent=self._user_agent())
        return self._client

    @property
    def oauth(self) -> ShoplineOAuth:
        if self._oauth is None:
            self._oauth = ShoplineOAuth(str(self.setting("oauth_host")), self.platform.app_id,
                                        self.platform.app_secret, policy=self._policy(),
                                        authorize_path=self.setting("authorize_path"),
                                        token_path=self.setting("token_path"),
                                        user_agent=self.setting("user_agent"))
        return self._oauth

    def call_counters(self) -> Iterable[Any]:
        return (getattr(self, "_client", None), getattr(self, "_oauth", None))

    # -- auth -----------------------------------------------------------------------------------------
    @property
    def uses_oauth(self) -> bool:
        return self.auth_model == "oauth"

    def _access_token(self) -> str:
        if self.auth_model == "token":
            token = str(self.channel.credentials.get("access_token") or "").strip()
            if not token:
                raise CredentialsInvalid("Shopline channel has no access_token credential (auth_model 'token')",
                                         platform=PLATFORM)
            return token
        if self.tokens is None or not self.tokens.access_token:
            raise ReauthRequired("Shopline channel is not authorized yet: run the OAuth authorization",
                                 platform=PLATFORM)
        return self.tokens.access_token

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a client call; with a static token a rejected token is a credentials problem."""
        try:
            return fn(*args, **kwargs)
        except AuthExpired as exc:
            if self.auth_model == "token":
                raise CredentialsInvalid(f"Shopline rejected the API token: {exc.message}", platform=PLATFORM,
                                         status=exc.status) from exc
            raise

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        self._require_oauth()
        extra = {"merchant_id": self.channel.shop_id} if self.channel.shop_id else {}
        return self.oauth.authorize_url(redirect_uri, state, str(self.setting("oauth_scope")), extra)

    def exchange_code(self, params: Mapping[str, str], redirect_uri: str | None = None) -> TokenSet:
        """The code grant; ``redirect_uri`` must be the one of the authorize step (the token page lists it)."""
        self._require_oauth()
        code = callback_code(params, platform=PLATFORM)
        redirect = redirect_uri or self.setting("redirect_uri")
        if not redirect:
            raise PermanentError("Shopline's code grant needs the redirect URI of the authorization",
                                 platform=PLATFORM)
        tokens = self._token_set(self.oauth.grant(grant_type="authorization_code", code=code,
                                                  redirect_uri=str(redirect)), redirect_uri=str(redirect))
        owner = tokens.extra.get("resource_owner_id")
        if self.channel.shop_id and owner and owner != self.channel.shop_id:
            raise PermanentError(f"the merchant authorized Shopline merchant {owner}, but channel {self.channel.name} "
                                 f"is set up for merchant {self.channel.shop_id}: authorize again as that merchant "
                                 "(or correct the channel's shop id)", platform=PLATFORM, code="wrong_merchant")
        return tokens

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new token set (the old refresh token is dead); ReauthRequired once the refresh token died."""
        self._require_oauth()
        now = self.clock()
        if not tokens.refresh_token:
            raise ReauthRequired("Shopline channel has no refresh token: the merchant must authorize again",
                                 platform=PLATFORM)
        if tokens.refresh_expires_at is not None and now >= tokens.refresh_expires_at:
            raise ReauthRequired(
                f"Shopline refresh token expired at {tokens.refresh_expires_at.isoformat()} (one day after the "
                f"access token expired at {_iso(tokens.access_expires_at)}): the merchant must authorize the "
                "app again", platform=PLATFORM, code="refresh_token_expired")
        redirect = self.setting("redirect_uri") or tokens.extra.get("redirect_uri")
        if not redirect:
            raise PermanentError(
                "Shopline's refresh grant needs the app's redirect URI: set the platform setting redirect_uri to the "
                "callback URL registered on the App Keys page (e.g. https://<bridge>/oauth/callback/shopline)",
                platform=PLATFORM, code="redirect_uri")
        answer = self.oauth.grant(grant_type="refresh_token", refresh_token=tokens.refresh_token,
                                  redirect_uri=str(redirect))
        return self._token_set(answer, previous=tokens, redirect_uri=str(redirect))

    def _require_oauth(self) -> None:
        if self.auth_model != "oauth":
            raise PermanentError("this Shopline channel uses a static API token (auth_model 'token'); "
                                 "OAuth is not used", platform=PLATFORM)

    def _token_set(self, body: Mapping[str, Any], previous: TokenSet | None = None, *,
                   redirect_uri: str | None = None) -> TokenSet:
        now = self.clock()
        access_expires = expires_after(now, body.get("expires_in"), float(self.setting("access_token_ttl")))
        extra: dict[str, Any] = {**(previous.extra if previous is not None else {})}
        extra.update({k: body[k] for k in ("scope", "token_type", "resource_owner_id") if body.get(k)})
        if body.get("resource_owner_id"):
            # the merchant id (token info shows resource_owner_id == merchant._id): the channel's shop id
            extra["shop_id"] = str(body["resource_owner_id"])
        if redirect_uri:
            extra["redirect_uri"] = redirect_uri
        return TokenSet(access_token=str(body["access_token"]),
                        refresh_token=str(body.get("refresh_token") or "") or None,
                        access_expires_at=access_expires,
                        refresh_expires_at=access_expires + timedelta(seconds=int(self.setting("refresh_grace"))),
                        extra=extra)

    def check_credentials(self) -> str:
        """``GET /v1/token/info``: whose token this is."""
        info = self._call(self.client.token_info)
        merchant = info.get("merchant") or {}
        return (f"Shopline token accepted for merchant {merchant.get('name') or '?'} "
                f"({merchant.get('handle') or merchant.get('_id') or '?'})")

    # -- orders ---------------------------------------------------------------------------------------
    def _map(self, raw: Any) -> Order | UnmappableOrder:
        return map_order(raw, channel=self.channel.name, cents_per_unit=self.setting("cents_per_unit"),
                         decimals=self.setting("decimals"),
                         extra_discount_fields=tuple(self.setting("extra_discount_fields") or ()))

    def _archived(self, raw: Any) -> bool:
        if is_archived_mark(raw, str(self.setting("archived_flag"))):
            log.info("Shopline order %s is archived (Get Archived Orders holds it); left as stored", raw.get("id"))
            return True
        return False

    def _window_items(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """Every listed item of ``[since, until)``'s filter, none skipped (module docstring).

        An item read twice (moved up a page between two reads, or on page 1 at both ends of the pass) is
        yielded once: the ids of page 1 and of the last two pages read are remembered, so memory stays flat.
        More than a page of orders leaving the window between two reads could still repeat one; the store's
        upsert absorbs that.
        """
        per_page, max_pages = int(self.setting("per_page")), int(self.setting("max_pages"))
        after, before = filter_bounds(since, until)
        first: set[str] = set()
        recent: deque[set[str]] = deque(maxlen=2)
        pages = [0]  # total_pages of the latest answer

        def page(number: int) -> Iterator[dict[str, Any]]:
            body = self._call(self.client.list_orders, updated_after=after, updated_before=before, page=number,
                              per_page=per_page)
            read: set[str] = set()
            for raw in body["items"]:
                key = str(raw.get("id")) if isinstance(raw, Mapping) else repr(raw)
                if key not in read and key not in first and not any(key in ids for ids in recent):
                    yield raw
                read.add(key)
            recent.append(read)
            pages[0] = int((body.get("pagination") or {}).get("total_pages") or 0)

        yield from page(1)
        first.update(recent[-1])
        total = pages[0]
        if total > max_pages:
            raise PermanentError(f"Shopline paging did not end after {max_pages} pages (max_pages)",
                                 platform=PLATFORM)
        if total > 1:
            for number in range(total, 1, -1):
                yield from page(number)
            yield from page(1)

    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        """Orders with ``since <= updated_at < until`` (see the module docstring for the paging)."""
        for raw in self._window_items(since, until):
            if self._archived(raw):
                continue
            order = self._map(raw)
            if isinstance(order, Order) and not since <= order.updated_at < until:
                continue
            yield order

    def list_orders(self, since: datetime, until: datetime) -> Iterator[OrderRef]:
        """The same pass as :meth:`fetch_orders` without mapping: the listing's ids, times and statuses."""
        for raw in self._window_items(since, until):
            if self._archived(raw):
                continue
            ref = order_ref(raw)
            if ref is None or (ref.updated_at is not None and not since <= ref.updated_at < until):
                continue
            yield ref

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        """Re-read orders, ``per_page`` at a time through ``GET /v1/orders?order_ids[]=…`` (minimal calls).

        A missing or archived order is left out and logged, rather than returned as unmappable: the
        stored copy of an archived order is still right and must neither be held nor replaced. Should
        Shopline ignore ``order_ids[]`` (it answers other orders), that batch is read with
        ``GET /v1/orders/{id}`` instead (``reread_by_list`` False: always that way).
        """
        ids = [str(i) for i in external_ids]
        if not as_flag(self.setting("reread_by_list"), True):
            return self._get_each(ids)
        per_page = int(self.setting("per_page"))
        found: dict[str, Order | UnmappableOrder] = {}
        for start in range(0, len(ids), per_page):
            batch = ids[start:start + per_page]
            items = self._listed(batch, per_page)
            if items is None:
                log.warning("Shopline ignored order_ids[]; re-reading %d orders one by one", len(batch))
                found.update((o.external_id, o) for o in self._get_each(batch))
                continue
            for raw in items:
                if not self._archived(raw):
                    found[str(raw.get("id"))] = self._map(raw)
        missing = [i for i in ids if i not in found]
        if missing:
            log.warning("Shopline orders %s not re-read: not found or archived", ", ".join(missing))
        return [found[i] for i in ids if i in found]

    def _listed(self, batch: list[str], per_page: int) -> list[dict[str, Any]] | None:
        """The listed orders of one batch, or None when the answer holds orders we did not ask for."""
        wanted, items, page = set(batch), [], 1
        while True:
            body = self._call(self.client.list_orders, order_ids=batch, page=page, per_page=per_page)
            if any(str(raw.get("id")) not in wanted for raw in body["items"] if isinstance(raw, Mapping)):
                return None
            items.extend(raw for raw in body["items"] if isinstance(raw, Mapping))
            if not body["items"] or page >= int((body.get("pagination") or {}).get("total_pages") or 0):
                return items
            page += 1

    def _get_each(self, external_ids: list[str]) -> list[Order | UnmappableOrder]:
        """``GET /v1/orders/{id}`` per order; 404/410 left out and logged."""
        found: list[Order | UnmappableOrder] = []
        for external_id in external_ids:
            try:
                found.append(self._map(self._call(self.client.get_order, external_id)))
            except PermanentError as exc:
                if isinstance(exc, CredentialsInvalid) or exc.status not in (404, 410):
                    raise
                log.warning("Shopline order %s not re-read: %s", external_id, exc)
        return found

    # -- logistics ------------------------------------------------------------------------------------
    def _region_type(self, order: Order) -> str | None:
        """The region type of the order's delivery option (cached per option for this adapter's life)."""
        order_delivery = order.raw.get("order_delivery") if isinstance(order.raw, Mapping) else None
        option_id = str((order_delivery or {}).get("delivery_option_id") or "")
        if not option_id:
            return None
        if option_id not in self._region_types:
            option = self._call(self.client.delivery_option, option_id)
            self._region_types[option_id] = str(option.get("region_type") or "")
        return self._region_types[option_id] or None

    def _shipment_call(self, order: Order) -> tuple[str, str | None]:
        forced = self._choice("shipment_call", SHIPMENT_CALLS)
        if forced != "auto":
            return forced, None
        region = self._region_type(order)
        call = delivery.shipment_call(
            region, integrated=self._region_set("integrated_region_types", delivery.INTEGRATED_REGION_TYPES),
            executable=self._region_set("execute_shipment_region_types", delivery.EXECUTE_SHIPMENT_REGION_TYPES),
            bulk=self._region_set("bulk_execute_region_types", delivery.BULK_EXECUTE_REGION_TYPES))
        return call, region

    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """Tell Shopline the order shipped, with the call its delivery needs (module docstring).

        Both calls change state on Shopline and are sent once (``idempotent=False``); a lost answer raises
        :class:`~platforms.base.OutcomeUnknown` and :meth:`shipment_state` tells what happened. A refusal of
        ``execute_shipment`` is checked against the order: if Shopline already booked it (an earlier call went
        through), that booking is the result.
        """
        if order.status in ("delivered", "completed", "returned"):
            return ShipResult(tracking_number=None, note=f"Shopline already shows the order as {order.status}; "
                                                         "its delivery status was not set back to shipped")
        call, region = self._shipment_call(order)
        if call == delivery.NOT_BY_API:
            raise PermanentError(f"Shopline order {order.external_id} is delivered by {region}, an integrated "
                                 "carrier no API call books (Shopline's admin does): ship it there",
                                 platform=PLATFORM, code="integrated_carrier")
        if call == delivery.EXECUTE:
            return self._execute_shipment(order)
        if call == delivery.BULK:
            return self._bulk_execute_shipment(order)
        tracking_write = self._choice("tracking_write", TRACKING_WRITES)
        written = tracking_write == "update_order" and bool(shipment.tracking_number)
        if written:  # before the status change, which is the step shipment_state reads back
            body: dict[str, Any] = {"tracking_number": shipment.tracking_number}
            if shipment.carrier:
                body["delivery_provider_name"] = {"zh-hant": shipment.carrier}
            self._call(self.client.update_order, order.external_id, body)
        answer = self._call(self.client.update_delivery_status, order.external_id, "shipped",
                            as_flag(self.setting("mail_notify"), False))
        return ShipResult(tracking_number=shipment.tracking_number if written else None, raw=answer,
                          note=None if written else NOT_STORED_NOTE)

    def _execute_shipment(self, order: Order) -> ShipResult:
        try:
            answer = self._call(self.client.execute_shipment, order.external_id)
        except PermanentError as exc:
            if isinstance(exc, CredentialsInvalid) or exc.status != 422:
                raise
            booked = self.shipment_state(order)
            if booked is None:
                raise
            return booked
        number = str(answer.get("tracking_number") or "").strip() or None
        note = BOOKED_NOTE if number else (BOOKED_NOTE + "; Shopline assigns it later (read it from the order)")
        return ShipResult(tracking_number=number, raw=answer, note=note)

    def _bulk_execute_shipment(self, order: Order) -> ShipResult:
        """Book the order's carrier with Bulk Execute Shipment (a batch of one: the logistics run ships order by
        order, each with its own lease and outcome). The answer names the order in one outcome list; "status
        error" after an earlier call whose answer was lost means that call booked it, so the order is read back
        (:meth:`shipment_state`) before the refusal stands."""
        answer = self._call(self.client.bulk_execute_shipment, [order.external_id])
        listed = next((name for name in delivery.BULK_OUTCOMES
                       if order.external_id in {str(i) for i in answer.get(name) or ()}), None)
        if listed == "processingOrderIds":
            return ShipResult(tracking_number=None, raw=answer,
                              note=BULK_BOOKED_NOTE + "; Shopline assigns it later (read it from the order)")
        if listed == "statusErrorOrderIds":
            booked = self.shipment_state(order)
            if booked is not None:
                return booked
        reason = delivery.BULK_OUTCOMES.get(listed or "", "its answer names the order in none of its lists")
        raise PermanentError(f"Shopline did not book order {order.external_id} (Bulk Execute Shipment): {reason}",
                             platform=PLATFORM, code="bulk_execute_shipment")

    def shipment_state(self, order: Order) -> ShipResult | None:
        """What Shopline holds for the order's shipment, read with ``GET /v1/orders/{id}``: a result when the
        delivery left ``pending`` or a carrier booking exists, with ``delivery_data.tracking_number``; else None."""
        raw = self._call(self.client.get_order, order.external_id)
        if not delivery.shipment_recorded(raw):
            return None
        return ShipResult(tracking_number=delivery.tracking_number_of(raw), raw=raw)


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when else "an unknown time"
