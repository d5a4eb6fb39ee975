"""Cyberbiz adapter: one channel, over a static API token, V2 OAuth bearer tokens, or V1 HMAC keys.

The auth model is chosen per channel by ``ChannelConfig.settings["auth_model"]`` (:data:`AUTH_MODELS`;
when absent: ``"v1"`` if the channel has HMAC ``username`` credentials, ``"token"`` if it has an
``access_token`` credential, else ``"v2"``). A value outside :data:`AUTH_MODELS` is refused by
:meth:`CyberbizAdapter.required_credentials` and :attr:`~CyberbizAdapter.uses_oauth`, so ``channel add`` /
``channel update`` report a typo at once.

- ``token`` (actinc/cyberbiz-sdk CONTEXT.md: one Shop has one API Token, a Bearer JWT carrying the shop and
  its scopes, copied from the shop admin): host ``platform.host`` (default
  ``https://app-store-api.cyberbiz.io``), ``Authorization: Bearer <credentials["access_token"]>``; no OAuth,
  no refresh (``uses_oauth`` is False, so no RefreshToken job); a 401 is :class:`CredentialsInvalid`
  with the fix (paste the token again).
- ``v2`` (spec §2.2): the same host, bearer access token from OAuth with the app's
  ``client_id``/``client_secret`` (``platform.app_id``/``app_secret``) on the shop's own domain =
  ``channel.shop_id`` (e.g. ``myshop.cyberbiz.co``); a 401 is :class:`AuthExpired` (refresh, retry once).
- ``v1`` (spec §2.1): host ``platform.settings["v1_host"]`` (default ``https://api.cyberbiz.co``), every
  request HMAC-signed through Kong (:mod:`platforms.cyberbiz.signing`); credentials ``username`` +
  ``secret``; no OAuth, no refresh.

With any model, a refusal that names a feature the shop has not licensed is
:class:`~platforms.cyberbiz.refusals.FeatureNotLicensed` (permanent, never a refresh).

Choices where the sources say nothing (all settings; a key in ``channel.settings`` wins over
``platform.settings``; every one is listed with its default in ``docs/contracts/cyberbiz.md``):

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
- combo products: ``combo_lines`` (``expand``), ``combo_quantity_rule`` (``auto``),
  ``combo_price_fallback`` (``proportional``); see :mod:`platforms.cyberbiz.combos`.
- ``unlicensed_patterns`` (default none): extra regular expressions that mark a refusal as an
  unlicensed feature, beside the recorded wordings (:mod:`platforms.cyberbiz.refusals`).

Channel settings: ``currency`` (default TWD; Cyberbiz sends none), ``notify_customer`` (default
true, sent with custom_shipping), ``default_tracking_company`` (default ``other``, used when the
shipment has no carrier), ``carrier_map`` (carrier name → Cyberbiz ``tracking_company`` code; see
:mod:`platforms.cyberbiz.carriers` for how names are resolved).

Shipping is ``custom_shipping`` per Cyberbiz line item: a combo's products are one Cyberbiz line, so
shipping any of them ships the combo line (:func:`~platforms.cyberbiz.combos.parent_line_id`). The POST is
sent once; after a lost answer :meth:`CyberbizAdapter.shipment_state` reads the order's fulfillments.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from oms_bridge.remote.http import RetryPolicy
from platforms.base import (
    Adapter,
    AuthExpired,
    CredentialsInvalid,
    NotSupported,
    Order,
    OrderRef,
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    ReauthRequired,
    Shipment,
    ShipResult,
    TokenSet,
    TransientError,
    UnmappableOrder,
)
from platforms.cyberbiz.carriers import tracking_company
from platforms.cyberbiz.client import PER_PAGE_MAX, PLATFORM, TOKEN_FIX, BearerAuth, CyberbizClient
from platforms.cyberbiz.combos import ComboRules, parent_line_id
from platforms.cyberbiz.mapping import MappingError, format_local, map_order, parse_local_optional, platform_status
from platforms.cyberbiz.oauth import CyberbizOAuth
from platforms.cyberbiz.signing import HmacAuth
from platforms.oauth import callback_code, expires_after
from platforms.settings import as_flag, lookup_setting
from platforms.windows import split_range

__all__ = ["CyberbizAdapter", "DEFAULT_V1_HOST", "DEFAULT_V2_HOST", "AUTH_MODELS", "resolve_auth_model",
           "token_claims"]

DEFAULT_V1_HOST = "https://api.cyberbiz.co"
DEFAULT_V2_HOST = "https://app-store-api.cyberbiz.io"
#: auth model -> what it is, for messages and the admin's choice
AUTH_MODELS: Mapping[str, str] = {
    "token": "the shop's API token, pasted from the CYBERBIZ admin (a JWT; no OAuth, no refresh)",
    "v2": "App Store OAuth (the merchant authorizes the app; tokens refreshed by RefreshToken)",
    "v1": "legacy HMAC key and secret (api.cyberbiz.co behind Kong hmac-auth)",
}
_CREDENTIALS = {
    "token": ("access_token",),
    "v2": (),
    "v1": ("username", "secret"),
}
_ONE_SECOND = timedelta(seconds=1)


def _ceil_second(when: datetime) -> datetime:
    floor = when.replace(microsecond=0)
    return floor if floor == when else floor + _ONE_SECOND


def resolve_auth_model(settings: Mapping[str, Any], credentials: Iterable[str] = ()) -> str:
    """The channel's auth model: the ``auth_model`` setting, else inferred from the credentials it holds.

    Not checked here (a bad value is reported where it matters, with the channel named).
    """
    model = str(settings.get("auth_model") or "").strip().lower()
    if model:
        return model
    names = set(credentials)
    return "v1" if "username" in names else "token" if "access_token" in names else "v2"


def _refuse_auth_model(model: str, channel: str = "") -> PermanentError:
    where = f"channel {channel}: " if channel else ""
    choices = "; ".join(f"'{name}' = {what}" for name, what in AUTH_MODELS.items())
    return PermanentError(f"{where}setting auth_model {model!r} must be one of: {choices}", platform=PLATFORM)


def token_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT-shaped API token, or {} when it is not one.

    Only read to tell the admin which shop and scopes a pasted token carries; never trusted for access.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _scopes_of(claims: Mapping[str, Any]) -> set[str] | None:
    value = claims.get("scopes", claims.get("scope"))
    if isinstance(value, str):
        return set(value.replace(",", " ").split())
    if isinstance(value, list):
        return {str(v) for v in value}
    return None


class CyberbizAdapter(Adapter):
    """Cyberbiz orders (``/v1/orders``) and custom_shipping, over an API token, V2 OAuth or V1 HMAC."""

    platform_type = "cyberbiz"
    display_name = "Cyberbiz"
    credential_fields: ClassVar[Mapping[str, str]] = {
        "access_token": "auth_model 'token': the shop's API token from the CYBERBIZ admin (a long JWT)",
        "username": "auth_model 'v1': the HMAC API key (username) from the Cyberbiz admin",
        "secret": "auth_model 'v1': the HMAC API secret",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # A bad setting is reported on use (a typed PermanentError), not as a constructor crash.
        self.auth_model = resolve_auth_model(self.channel.settings, self.channel.credentials)
        self._client: CyberbizClient | None = None
        self._oauth: CyberbizOAuth | None = None

    @classmethod
    def required_credentials(cls, settings: Mapping[str, Any],
                             credentials: Iterable[str] = ()) -> Mapping[str, str]:
        """Per auth model: ``access_token`` (token), ``username`` + ``secret`` (v1), none (v2: OAuth)."""
        model = resolve_auth_model(settings, credentials)
        if model not in AUTH_MODELS:
            raise _refuse_auth_model(model)
        return {name: cls.credential_fields[name] for name in _CREDENTIALS[model]}

    # -- configuration ---------------------------------------------------------------------------
    def _check_auth_model(self) -> None:
        if self.auth_model not in AUTH_MODELS:
            raise _refuse_auth_model(self.auth_model, self.channel.name)

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

    def _patterns(self) -> tuple[str, ...]:
        value = self._setting("unlicensed_patterns", ())
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise PermanentError(f"channel {self.channel.name}: setting unlicensed_patterns must be a list of "
                                 "regular expressions", platform=PLATFORM)
        return tuple(value)

    def _combo_rules(self) -> ComboRules:
        try:
            return ComboRules(lines=str(self._setting("combo_lines", "expand")),
                              quantity=str(self._setting("combo_quantity_rule", "auto")),
                              price_fallback=str(self._setting("combo_price_fallback", "proportional")))
        except ValueError as exc:
            raise PermanentError(f"channel {self.channel.name}: {exc}", platform=PLATFORM) from None

    @property
    def _policy(self) -> RetryPolicy:
        return self.policy or RetryPolicy()

    def _api_token(self) -> str:
        return str(self.channel.credentials.get("access_token") or "").strip()

    def _no_api_token(self) -> Exception:
        return CredentialsInvalid(f"channel {self.channel.name} (auth_model 'token') has no API token: "
                                  + TOKEN_FIX.format(channel=self.channel.name), platform=PLATFORM)

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
            elif self.auth_model == "token":
                auth = BearerAuth(self._api_token, missing=self._no_api_token)
                host = self.platform.host or DEFAULT_V2_HOST
            else:
                auth = BearerAuth(lambda: self.tokens.access_token if self.tokens else None)
                host = self.platform.host or DEFAULT_V2_HOST
            self._client = CyberbizClient(host, auth, auth_model=self.auth_model, policy=self._policy,
                                          requests_per_second=self._number("requests_per_second", 5),
                                          channel=self.channel.name, unlicensed_patterns=self._patterns())
        return self._client

    @property
    def oauth(self) -> CyberbizOAuth:
        self._check_auth_model()
        if self.auth_model != "v2":
            raise NotSupported(f"channel {self.channel.name} uses auth_model {self.auth_model!r} "
                               f"({AUTH_MODELS[self.auth_model]}): no OAuth", platform=PLATFORM)
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
        self._check_auth_model()
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
        try:
            body = self.oauth.exchange_code(shop, code, redirect_uri)
        except OutcomeUnknown as exc:
            raise TransientError(f"the answer to the code exchange was lost ({exc.message}); the code may be "
                                 "used up: start the authorization again", platform=PLATFORM) from None
        return self._token_set(body, shop)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        self._check_auth_model()
        if self.auth_model != "v2":
            raise NotSupported(f"channel {self.channel.name} uses auth_model {self.auth_model!r}: there is no "
                               "token to refresh", platform=PLATFORM)
        if not tokens.refresh_token:
            raise ReauthRequired("no refresh token stored: the merchant must authorize the app again",
                                 platform=PLATFORM)
        shop = str(tokens.extra.get("shop") or self.channel.shop_id or "")
        try:
            body = self.oauth.refresh(shop, tokens.refresh_token)
        except OutcomeUnknown as exc:
            # Not re-sent blindly: the next RefreshToken run presents the stored refresh token again, which
            # either works (nothing was rotated) or is refused as used (then the merchant must authorize again).
            raise TransientError(f"the answer to the token refresh was lost ({exc.message}); the stored tokens are "
                                 "unchanged and the next RefreshToken run finds out whether Cyberbiz rotated them",
                                 platform=PLATFORM) from None
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
        seen = f"{page.total} orders visible" if page.total is not None else "orders readable"
        where = self.channel.shop_id or self.channel.name
        if self.auth_model == "v1":
            return f"Cyberbiz V1 HMAC key accepted for {where} ({seen})"
        if self.auth_model == "v2":
            return f"Cyberbiz V2 access token accepted for {where} ({seen})"
        return f"Cyberbiz API token accepted for {where} ({seen}{self._token_note()})"

    def _token_note(self) -> str:
        """What the pasted token says of itself (shop, scopes), when it is a readable JWT."""
        claims = token_claims(self._api_token())
        notes = []
        domain = claims.get("domain") or claims.get("shop_domain")
        if domain and self.channel.shop_id and str(domain) != self.channel.shop_id:
            notes.append(f"the token names shop {domain}, the channel's shop id is {self.channel.shop_id}")
        scopes = _scopes_of(claims)
        if scopes is not None:
            notes.append("scopes " + (", ".join(sorted(scopes)) or "none"))
            if "write_orders" not in scopes:
                notes.append("without write_orders shipments cannot be reported to Cyberbiz")
        return "; " + "; ".join(notes) if notes else ""

    # -- orders ----------------------------------------------------------------------------------
    def _map(self, raw: Any) -> Order | UnmappableOrder:
        return map_order(raw, channel=self.channel.name, currency=str(self._setting("currency", "TWD")),
                         combos=self._combo_rules())

    def windows(self, since: datetime, until: datetime) -> Iterator[tuple[str, str]]:
        """Taipei-local inclusive ``(start, end)`` strings covering ``[since, until)`` in max-window steps."""
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("fetch_orders needs aware datetimes")
        step = timedelta(days=self._number("max_window_days", 31) or 31)
        for start, end in split_range(_ceil_second(since), _ceil_second(until), step):
            yield format_local(start), format_local(end - _ONE_SECOND)

    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        rules = self._combo_rules()  # a bad setting fails before the first call
        currency = str(self._setting("currency", "TWD"))
        for start, end in self.windows(since, until):
            for raw in self._window(start, end):
                yield map_order(raw, channel=self.channel.name, currency=currency, combos=rules)

    def list_orders(self, since: datetime, until: datetime) -> Iterator[OrderRef]:
        """The listing of ``[since, until)`` as :class:`OrderRef` (the list calls alone: they carry whole orders)."""
        for start, end in self.windows(since, until):
            for raw in self._window(start, end):
                if isinstance(raw, Mapping) and raw.get("id") is not None:
                    yield _ref(raw)

    def _window(self, start: str, end: str) -> Iterator[Any]:
        """Every raw order of one window once, paging again if offset paging shifted orders past us.

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
                        yield raw
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

        Sent once (a lost answer raises :class:`OutcomeUnknown`; :meth:`shipment_state` tells what happened).
        A refusal (400/409/422) is checked against the fulfillments already recorded: the same tracking
        number means an earlier attempt got through and counts as success; other tracking numbers are named
        in the error, since Cyberbiz takes one tracking number per line. Combo products ship as their combo
        line (Cyberbiz's line item).
        """
        if not shipment.tracking_number:
            raise PermanentError(f"order {order.external_id}: Cyberbiz custom_shipping needs a tracking number",
                                 platform=PLATFORM)
        wanted = list(shipment.line_ids) or [line.external_line_id for line in order.lines if line.external_line_id]
        line_ids = list(dict.fromkeys(parent_line_id(str(i)) for i in wanted))
        if not line_ids:
            raise PermanentError(f"order {order.external_id} has no line item ids to ship", platform=PLATFORM)
        body = {
            "line_item_ids": ",".join(line_ids),
            "tracking_number": shipment.tracking_number,
            "tracking_company": tracking_company(shipment.carrier, carrier_map=self._carrier_map(),
                                                 default=str(self._setting("default_tracking_company", "other"))),
            "notify_customer": as_flag(self._setting("notify_customer", None), True),
        }
        try:
            answer = self.client.custom_shipping(order.external_id, body)
        except AuthExpired as exc:
            raise self._write_refused(exc) from exc
        except PermanentError as exc:
            if exc.status not in (400, 409, 422):
                raise
            answer = self._already_recorded(order.external_id, shipment.tracking_number, exc)
        return ShipResult(tracking_number=answer.get("tracking_number") or shipment.tracking_number, raw=answer)

    def _write_refused(self, exc: AuthExpired) -> PlatformError:
        """A V2 token refused for a write it was never granted needs a new consent, not a refresh."""
        granted = _scopes_of(self.tokens.extra) if self.tokens else None
        if granted is not None and "write_orders" not in granted:
            return ReauthRequired(f"{exc.message}: the merchant granted only {', '.join(sorted(granted)) or 'no'} "
                                  "scope(s); authorize the app again granting write_orders (a refresh keeps the "
                                  "same scopes)", platform=PLATFORM, status=exc.status)
        return exc

    def shipment_state(self, order: Order) -> ShipResult | None:
        """The order's recorded fulfillments, read back (after a lost custom_shipping answer, or before a resend).

        ``None`` when Cyberbiz has no fulfillment for the order; else the latest fulfillment's tracking
        number, with every fulfillment in ``raw["fulfillments"]``.
        """
        recorded = [f for f in self.client.fulfillments(order.external_id) if isinstance(f, Mapping)]
        if not recorded:
            return None
        latest = recorded[-1]
        number = latest.get("tracking_number")
        return ShipResult(tracking_number=str(number) if number else None,
                          raw={"fulfillments": recorded, "latest": latest})

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


def _ref(raw: Mapping[str, Any]) -> OrderRef:
    """One listed order as a reference; an unreadable time is left out rather than failing the pass."""
    times = {}
    for name in ("updated_at", "created_at"):
        try:
            times[name] = parse_local_optional(raw.get(name), name)
        except MappingError:
            times[name] = None
    return OrderRef(external_id=str(raw["id"]), updated_at=times["updated_at"], created_at=times["created_at"],
                    platform_status=platform_status(raw))
