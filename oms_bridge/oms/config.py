"""Configurable choices of the OMS destination, read from the ``[oms_bridge.oms]`` table of config.toml.

The Akinon documents leave several things open (shared/specs/akinon-oms.md §8). Each open point is
a setting here with the most plausible default; docs/oms.md explains every one:

- ``status_codes``: canonical order status → Omnitron order status code (string). Defaults follow
  the confirmed table (300 payment_waiting, 400 approved, 500 shipped, 100 canceled) and the inferred
  codes above 545 (550 delivered, 600 refunded).
- ``package_states``: OMS ``PackageStatus`` enum value → our slug. Confirmed: 100, 200, 400, 500, 920,
  1100. The numbers of shipped, delivered, cancelled, … are not public; the defaults are our guess
  and the webhook's event type (``package.status.<slug>``) is trusted when the code is unknown.
- ``ship_states``: slugs that push a tracking number to the marketplace (default ``shipped``).
- ``cancel_request_code``: the order status code served while the marketplace's cancellation request is open
  (default ``50`` cancellation_waiting, confirmed in the Omnitron status table): the OMS must not ship it.
- ``cancel_item_codes`` / ``refund_item_codes``: item status codes that complete a cancellation or
  refund plan when the OMS reports them through ``order_item_bulk_update``.
- ``channel_mode``: ``static`` (default, the seed's "single static channel" with
  ``channel_id``/``channel_code``/``channel_name``) or ``per_channel`` (each marketplace channel is
  its own OMS channel: id = oms_channel id, code = ``oms_channel_code`` or the channel's value).
- ``supplier_code``: what the OMS admin enters as the Seller Center ``supplier_code``.
- ``hmac_header``: header carrying the webhook signature, ``sha256=<hex HMAC-SHA256 of the raw body>``
  (default ``X-Whisperer-Signature``, what Akinon's webhook library dj-whisperer sends).
- ``webhook_username``: the user name of HTTP basic auth on the package webhooks (a whisperer
  subscription's ``config.auth``; the password is the ``webhooks`` token).
- ``product_reference``: ``off`` / ``warn`` (default) / ``hold``: whether order items must carry an
  Omnitron product id (``product.pk``, from the SKU map of :mod:`oms_bridge.oms.products`); unknown.
- ``order_notify``: ``pull`` (default: the OMS reads ``orders/``) or ``push`` (the bridge sends
  whisperer-style ``order.created`` / ``order.updated`` events to ``push_url`` + ``push_path_created``
  / ``push_path_updated``); how the OMS learns of Seller Center orders is not public.
- ``public_base_url``: the URL the OMS reaches the bridge at (default: the ``base_url`` setting).
- ``default_country``: ISO code assumed when an order has no country (``TW``).
- ``tax_rate``: the items' ``tax_rate`` (Taiwan VAT, prices include it: ``5.00``); ``language_code``.

Example::

    [oms_bridge.oms]
    supplier_code = "ACME-TW"
    channel_mode = "per_channel"
    [oms_bridge.oms.status_codes]
    ready_to_ship = "450"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oms_bridge.settings import Settings, SettingsError

__all__ = ["OmsConfig", "oms_config", "ENDPOINTS", "WEBHOOK_ENDPOINT", "HMAC_SECRET_NAME", "API_PREFIX",
           "DEFAULT_STATUS_CODES", "DEFAULT_PACKAGE_STATES", "SIGNATURE_HEADER", "PRODUCT_REFERENCE_MODES",
           "ORDER_NOTIFY_MODES", "PUSH_TOKEN_NAME", "PUSH_SECRET_NAME"]

API_PREFIX = "/api/v1/applications/oms"
# The endpoint_conf names of OMNITRON_CLIENT_SETTINGS, in the seed's order; each has its own token.
ENDPOINTS = ("order_item_bulk_update", "orders", "orderitem_set", "cancellation_plans", "countries",
             "countries_count", "countries_with_code", "cities", "townships", "townships_count", "districts",
             "districts_count")
# The token the OMS sends (additional_headers) with the package webhooks.
WEBHOOK_ENDPOINT = "webhooks"
# Name of the (encrypted) webhook HMAC secret in oms_api_token.
HMAC_SECRET_NAME = "webhook_hmac"
# The encrypted credentials of the order push (order_notify = "push"), also rows of oms_api_token.
PUSH_TOKEN_NAME = "push_token"
PUSH_SECRET_NAME = "push_secret"
# dj-whisperer (whisperer/client.py) signs every webhook with this header: sha256=<hex>.
SIGNATURE_HEADER = "X-Whisperer-Signature"
PRODUCT_REFERENCE_MODES = ("off", "warn", "hold")
ORDER_NOTIFY_MODES = ("pull", "push")
# Where the OMS takes order events: not public. By analogy with Omnitron's cancellation_plan.created,
# which goes to the OMS's /api/v1/oms/cancellation_plan/ (spec §6), the guess is /api/v1/oms/order/.
DEFAULT_PUSH_PATH = "/api/v1/oms/order/"

DEFAULT_STATUS_CODES = {
    "unpaid": "300", "paid": "400", "ready_to_ship": "400", "shipped": "500", "delivered": "550",
    "completed": "550", "cancelled": "100", "returned": "600",
}
DEFAULT_PACKAGE_STATES = {
    "100": "waiting", "200": "preparing", "300": "transitioned", "400": "ready_for_packaging", "500": "packed",
    "600": "shipped", "650": "attempted_delivery", "660": "delivery_failed", "700": "delivered",
    "750": "ready_for_customer_pickup", "800": "cancelled", "920": "out_of_stock", "1100": "packed_for_refund",
}


@dataclass(frozen=True)
class OmsConfig:
    """The OMS destination's settings (see module doc)."""

    supplier_code: str = "OMS-BRIDGE"
    channel_mode: str = "static"
    channel_id: int = 1
    channel_code: str = "oms-bridge"
    channel_name: str = "oms-bridge"
    status_codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STATUS_CODES))
    package_states: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PACKAGE_STATES))
    ship_states: tuple[str, ...] = ("shipped",)
    cancel_request_code: str = "50"
    cancel_item_codes: tuple[str, ...] = ("100",)
    refund_item_codes: tuple[str, ...] = ("600", "100")
    hmac_header: str = SIGNATURE_HEADER
    webhook_username: str = "oms-bridge"
    product_reference: str = "warn"
    order_notify: str = "pull"
    push_url: str = ""
    push_path_created: str = DEFAULT_PUSH_PATH
    push_path_updated: str = DEFAULT_PUSH_PATH
    push_headers: Mapping[str, str] = field(default_factory=dict)
    push_timeout_seconds: float = 10.0
    push_batch_size: int = 20
    public_base_url: str = ""
    default_country: str = "TW"
    tax_rate: str = "5.00"
    language_code: str = "zh-tw"
    max_page_size: int = 500
    default_page_size: int = 10

    def status_code(self, canonical: str | None) -> str:
        """The Omnitron code of a canonical status ('200' waiting when unknown or empty)."""
        return self.status_codes.get(canonical or "", "200")

    def package_slug(self, code: str | None) -> str | None:
        return self.package_states.get(str(code)) if code is not None else None

    def push_target(self, event_type: str) -> str:
        """The URL an order event goes to ('' when ``push_url`` is not set)."""
        if not self.push_url:
            return ""
        path = self.push_path_created if event_type == "order.created" else self.push_path_updated
        return self.push_url.rstrip("/") + "/" + path.lstrip("/")


def _tuple(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    raise SettingsError(f"oms.{name} must be a list of strings, got {value!r}")


def _table(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"oms.{name} must be a table of code = value, got {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def oms_config(settings: Settings) -> OmsConfig:
    """Build the config from ``settings.extra['oms']`` over the defaults; bad values raise SettingsError."""
    raw = settings.extra.get("oms") or {}
    if not isinstance(raw, Mapping):
        raise SettingsError("config [oms_bridge.oms] must be a table")
    values: dict[str, Any] = {}
    for key in ("supplier_code", "channel_code", "channel_name", "hmac_header", "public_base_url", "default_country",
                "tax_rate", "language_code", "webhook_username", "push_url", "push_path_created",
                "push_path_updated", "cancel_request_code"):
        if key in raw:
            values[key] = str(raw[key])
    for key in ("channel_id", "max_page_size", "default_page_size", "push_batch_size"):
        if key in raw:
            try:
                values[key] = int(raw[key])
            except (TypeError, ValueError):
                raise SettingsError(f"oms.{key} must be an integer, got {raw[key]!r}") from None
    if "push_timeout_seconds" in raw:
        try:
            values["push_timeout_seconds"] = float(raw["push_timeout_seconds"])
        except (TypeError, ValueError):
            raise SettingsError(f"oms.push_timeout_seconds must be a number, got {raw['push_timeout_seconds']!r}"
                                ) from None
    for key, modes in (("product_reference", PRODUCT_REFERENCE_MODES), ("order_notify", ORDER_NOTIFY_MODES)):
        if key in raw:
            if raw[key] not in modes:
                raise SettingsError(f"oms.{key} must be one of {', '.join(repr(m) for m in modes)}, got {raw[key]!r}")
            values[key] = raw[key]
    if "push_headers" in raw:
        headers = _table(raw["push_headers"], "push_headers")
        if any(k.lower() == "authorization" for k in headers):
            raise SettingsError("oms.push_headers must not carry Authorization: the OMS token is a secret, set it "
                                "with `oms-bridge oms push-auth --token-stdin` (stored encrypted)")
        values["push_headers"] = headers
    if values.get("push_url") and not str(values["push_url"]).startswith(("http://", "https://")):
        raise SettingsError(f"oms.push_url must be an http(s) URL, got {values['push_url']!r}")
    if "channel_mode" in raw:
        if raw["channel_mode"] not in ("static", "per_channel"):
            raise SettingsError(f"oms.channel_mode must be 'static' or 'per_channel', got {raw['channel_mode']!r}")
        values["channel_mode"] = raw["channel_mode"]
    if "status_codes" in raw:
        table = _table(raw["status_codes"], "status_codes")
        unknown = sorted(set(table) - set(DEFAULT_STATUS_CODES))
        if unknown:
            raise SettingsError(f"oms.status_codes: {', '.join(unknown)} is not a canonical status "
                                f"({', '.join(DEFAULT_STATUS_CODES)})")
        values["status_codes"] = {**DEFAULT_STATUS_CODES, **table}
    if "package_states" in raw:
        values["package_states"] = {**DEFAULT_PACKAGE_STATES, **_table(raw["package_states"], "package_states")}
    for key in ("ship_states", "cancel_item_codes", "refund_item_codes"):
        if key in raw:
            values[key] = _tuple(raw[key], key)
    return OmsConfig(**values)
