"""Shopline adapter: bearer token, UTC ``updated_after/before`` paging, optional OAuth with refresh.

Settings (``ChannelConfig.settings`` override ``PlatformConfig.settings`` override the default),
each a choice where spec §4 says unknown:

- ``auth_model`` (``"token"``): ``"token"`` = a static API token the merchant pastes
  (``credentials["access_token"]``), no refresh, ``uses_oauth`` False, a 401 means the token is wrong
  (:class:`CredentialsInvalid`); ``"oauth"`` = app authorization: authorize page, code grant and
  refresh at ``oauth_host`` (default ``platform.host``) ``authorize_path`` (``/oauth/authorize``) and
  ``token_path`` (``/oauth/token``), Doorkeeper-style (``grant_type=refresh_token``).
- ``access_token_ttl`` (86400 s) when the token answer has no ``expires_in``. The refresh token
  dies one day after the access token expires (Shopline's docs): ``refresh_expires_at`` =
  ``access_expires_at + refresh_grace`` (86400 s), and :meth:`refresh` past it raises
  :class:`ReauthRequired` saying so, without calling Shopline.
  A refresh grant is retried on transient errors like any call: safe with Doorkeeper's
  ``refresh_token_revoked_on_use`` (the used refresh token dies when the new access token is first
  used), which is what the sandbox does; were Shopline to revoke on use, a lost answer ends in
  ReauthRequired with Shopline's ``invalid_grant`` message.
- ``per_page`` (50; the maximum is unconfirmed), ``max_pages`` (10000, loop guard).
- ``shipment_call`` (``"execute_shipment"``): ``POST /v1/orders/{id}/execute_shipment`` (the OMS
  plugin) or ``"order_delivery"``: ``PUT /v1/order_deliveries/{delivery_id}`` with ``tracking_number``
  (third-party MCP servers). Sources disagree; both are implemented.
- ``user_agent`` (``"oms-bridge"``; the OMS plugin sends ``OneEC``; whether it is required is unknown).
- ``decimals``: currency minor-unit overrides for money (see :mod:`platforms.shopline.mapping`).
- ``reread_by_list`` (True): ``get_orders`` asks ``GET /v1/orders?order_ids[]=…`` for ``per_page``
  orders per call (falls back to one ``GET /v1/orders/{id}`` each if Shopline ignores the filter).

Windows: the filters are inclusive and second-granular, so ``[since, until)`` is sent as
``updated_after=floor(since)``, ``updated_before=ceil(until)`` and the mapped orders are kept only when
``since <= updated_at < until``: adjacent windows never yield an order twice (and the channel's
upsert would absorb it anyway). An order updated while we page moves past ``until`` and can shift
another off a page; it is re-read by the next run because its new ``updated_at`` is later than this
run's ``until``. ``order_delivery`` changes do not bump ``updated_at`` (spec): shipping progress is
seen on the next order-level change or through ``get_orders``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from platforms.base import (
    Adapter,
    AuthExpired,
    CredentialsInvalid,
    Order,
    PermanentError,
    ReauthRequired,
    Shipment,
    ShipResult,
    TokenSet,
    UnmappableOrder,
)
from platforms.http import RetryPolicy
from platforms.oauth import callback_code, expires_after
from platforms.settings import as_flag, lookup_setting
from platforms.shopline.client import PLATFORM, ShoplineClient, ShoplineOAuth
from platforms.shopline.mapping import map_order

__all__ = ["ShoplineAdapter", "DEFAULTS", "filter_bounds"]

log = logging.getLogger("oms_bridge.platforms.shopline")

DEFAULTS: dict[str, Any] = {
    "auth_model": "token", "oauth_host": None, "authorize_path": "/oauth/authorize", "token_path": "/oauth/token",
    "oauth_scope": "orders", "access_token_ttl": 86400, "refresh_grace": 86400, "per_page": 50, "max_pages": 10000,
    "shipment_call": "execute_shipment", "user_agent": "oms-bridge", "decimals": None, "reread_by_list": True,
}
SHIPMENT_CALLS = ("execute_shipment", "order_delivery")


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
        "access_token": "API token from Shopline admin (auth_model 'token'; leave empty for OAuth apps)",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client: ShoplineClient | None = None
        self._oauth: ShoplineOAuth | None = None

    # -- configuration ----------------------------------------------------------------------------
    def setting(self, name: str) -> Any:
        """A setting: channel overrides platform overrides the documented default."""
        return lookup_setting(name, self.channel.settings, self.platform.settings, DEFAULTS[name])

    @property
    def auth_model(self) -> str:
        model = str(self.setting("auth_model")).strip().lower()
        if model not in ("token", "oauth"):
            raise PermanentError(f"Shopline auth_model {model!r} is not 'token' or 'oauth'", platform=PLATFORM)
        return model

    def _policy(self) -> RetryPolicy:
        return self.policy or RetryPolicy()

    @property
    def client(self) -> ShoplineClient:
        if self._client is None:
            self._client = ShoplineClient(self.platform.host, self._access_token, policy=self._policy(),
                                          user_agent=self.setting("user_agent"))
        return self._client

    @property
    def oauth(self) -> ShoplineOAuth:
        if self._oauth is None:
            self._oauth = ShoplineOAuth(self.setting("oauth_host") or self.platform.host, self.platform.app_id,
                                        self.platform.app_secret, policy=self._policy(),
                                        authorize_path=self.setting("authorize_path"),
                                        token_path=self.setting("token_path"), user_agent=self.setting("user_agent"))
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
        self._require_oauth()
        code = callback_code(params, platform=PLATFORM)
        fields = {"grant_type": "authorization_code", "code": code}
        if redirect_uri:
            fields["redirect_uri"] = redirect_uri
        return self._token_set(self.oauth.grant(**fields))

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
        return self._token_set(self.oauth.grant(grant_type="refresh_token", refresh_token=tokens.refresh_token),
                               previous=tokens)

    def _require_oauth(self) -> None:
        if self.auth_model != "oauth":
            raise PermanentError("this Shopline channel uses a static API token (auth_model 'token'); "
                                 "OAuth is not used", platform=PLATFORM)

    def _token_set(self, body: Mapping[str, Any], previous: TokenSet | None = None) -> TokenSet:
        now = self.clock()
        access_expires = expires_after(now, body.get("expires_in"), float(self.setting("access_token_ttl")))
        extra = {k: body[k] for k in ("scope", "token_type", "merchant_id") if k in body}
        if body.get("merchant_id"):
            extra["shop_id"] = str(body["merchant_id"])  # the channel's shop id, when the admin left it empty
        if previous is not None:
            extra = {**previous.extra, **extra}
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
        return map_order(raw, channel=self.channel.name, decimals=self.setting("decimals"))

    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        """Orders with ``since <= updated_at < until``, page by page (see the module docstring)."""
        per_page = int(self.setting("per_page"))
        after, before = filter_bounds(since, until)
        page, max_pages = 1, int(self.setting("max_pages"))
        while page <= max_pages:
            body = self._call(self.client.list_orders, updated_after=after, updated_before=before, page=page,
                              per_page=per_page)
            for raw in body["items"]:
                order = self._map(raw)
                if isinstance(order, Order) and not since <= order.updated_at < until:
                    continue
                yield order
            pagination = body.get("pagination") or {}
            total_pages = int(pagination.get("total_pages") or 0)
            if not body["items"] or page >= total_pages:
                return
            page += 1
        raise PermanentError(f"Shopline paging did not end after {max_pages} pages (max_pages)", platform=PLATFORM)

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        """Re-read orders, ``per_page`` at a time through ``GET /v1/orders?order_ids[]=…`` (minimal calls).

        A missing or archived order is left out and logged, rather than returned as unmappable: the
        stored copy of an archived order is still right and must not be replaced by a held
        placeholder. Should Shopline ignore ``order_ids[]`` (it answers other orders), that batch is
        read with ``GET /v1/orders/{id}`` instead (``reread_by_list`` False: always that way).
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
    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """Record the tracking number with the configured ``shipment_call``.

        A refusal is checked against the order itself: when Shopline already holds this tracking
        number (our earlier call went through but its answer was lost), it is a success.
        """
        call = str(self.setting("shipment_call"))
        if call not in SHIPMENT_CALLS:
            raise PermanentError(f"Shopline shipment_call {call!r} is not one of {SHIPMENT_CALLS}", platform=PLATFORM)
        if not shipment.tracking_number:
            raise PermanentError("Shopline shipment needs a tracking number", platform=PLATFORM)
        try:
            if call == "execute_shipment":
                body = {"tracking_number": shipment.tracking_number}
                if shipment.carrier:
                    body["delivery_provider_name"] = shipment.carrier
                raw = self._call(self.client.execute_shipment, order.external_id, body)
            else:
                delivery_id = shipment.package_number or (order.packages[0] if order.packages else None)
                if not delivery_id:
                    raise PermanentError(f"Shopline order {order.external_id} has no order_delivery id to update",
                                         platform=PLATFORM)
                raw = self._call(self.client.update_delivery, delivery_id,
                                 {"tracking_number": shipment.tracking_number})
        except PermanentError as exc:
            if isinstance(exc, CredentialsInvalid) or exc.status != 422:
                raise
            current = self._call(self.client.get_order, order.external_id)
            if (current.get("order_delivery") or {}).get("tracking_number") != shipment.tracking_number:
                raise
            raw = current
        return ShipResult(tracking_number=shipment.tracking_number, raw=raw)


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when else "an unknown time"
