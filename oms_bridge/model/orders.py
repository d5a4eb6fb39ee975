"""The canonical order: what every adapter produces, the store keeps and every destination consumes.

It lives here, below the marketplace package and the store, so the store (and the destinations) depend on
the order's shape without reaching into :mod:`platforms`; the platform contract (:mod:`platforms.base`)
re-exports these types as part of the surface an adapter implements.

Canonical values:

- times are timezone-aware UTC ``datetime`` (local strings are converted at the adapter edge);
- money is ``Decimal`` with the currency's decimals (TWD has none), never ``float``;
- ``status`` is one of :data:`CANONICAL_STATUSES`; ``platform_status`` keeps the raw value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["CANONICAL_STATUSES", "Address", "Buyer", "OrderLine", "CancelRequest", "Order", "UnmappableOrder",
           "require_aware", "require_decimal"]

CANONICAL_STATUSES = ("unpaid", "paid", "ready_to_ship", "shipped", "delivered", "completed", "cancelled", "returned")


def require_aware(name: str, value: datetime | None) -> None:
    """Refuse a naive datetime: inside the bridge every time is aware UTC."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware UTC, got naive {value!r}")


def require_decimal(name: str, value: Any) -> None:
    """Refuse money that is not ``Decimal`` (a float would round)."""
    if value is not None and not isinstance(value, Decimal):
        raise TypeError(f"{name} must be Decimal, got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class Address:
    """A shipping address. Masked fields (e.g. Shopee TW ``"****"``) are kept as masked, not invented."""

    name: str | None = None
    phone: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, e.g. "TW"
    state: str | None = None
    city: str | None = None  # 縣市
    district: str | None = None  # 鄉鎮市區
    zip: str | None = None
    line1: str | None = None
    line2: str | None = None
    full: str | None = None  # the platform's one-line form when it gives one
    masked: bool = False


@dataclass(frozen=True)
class Buyer:
    """Who bought: platform user id, name, email, phone (any may be missing or masked)."""

    id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class OrderLine:
    """One line. ``discount`` is the line's total discount; ``unit_price`` is before discount."""

    sku: str | None
    name: str | None
    qty: Decimal
    unit_price: Decimal
    discount: Decimal = Decimal("0")
    external_line_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("qty", "unit_price", "discount"):
            require_decimal(f"OrderLine.{name}", getattr(self, name))


@dataclass(frozen=True)
class CancelRequest:
    """A buyer's or the marketplace's request to cancel or stop shipping, which the seller may refuse.

    Not a cancellation: Shopee ``IN_CANCEL`` (the seller may reject it) and momo ``stopSendingQuery`` rows
    (攔貨, stop-shipping requests answered with ``stopSendingConfirm``) both mean "do not ship this if you
    still can". Destinations hold the order while a request is open; only an accepted (intercepted)
    request makes the order ``cancelled``, a refused ("too late") one follows the return path.
    ``reference`` is what the platform needs to answer it (momo: the completeOrderNo), ``reason`` the
    platform's text, ``allowed`` whether the platform lets the seller intercept (momo ``allowExecuteYN``).
    """

    requested_at: datetime | None = None
    reason: str | None = None
    reference: str | None = None
    allowed: bool | None = None

    def __post_init__(self) -> None:
        require_aware("CancelRequest.requested_at", self.requested_at)


@dataclass(frozen=True)
class Order:
    """The canonical order every destination consumes."""

    external_id: str
    status: str
    platform_status: str
    created_at: datetime
    updated_at: datetime
    currency: str
    lines: tuple[OrderLine, ...]
    total: Decimal | None = None
    shipping_fee: Decimal = Decimal("0")
    discount: Decimal = Decimal("0")
    paid_at: datetime | None = None
    payment_method: str | None = None
    buyer: Buyer = field(default_factory=Buyer)
    shipping_address: Address = field(default_factory=Address)
    note: str | None = None
    # Package / shipment numbers known to the platform (Shopee package_number, ...).
    packages: tuple[str, ...] = ()
    # The platform's payload as received (JSON-compatible); kept verbatim in the store.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    channel: str | None = None
    # An open cancellation / stop-shipping request the seller may still refuse (None: there is none).
    cancel_request: CancelRequest | None = None
    # The tracking number the marketplace already holds for the order's shipment (arranged or shipped there,
    # e.g. Shopee PROCESSED); None when it has none or the adapter did not read it.
    tracking_number: str | None = None
    # True when the platform listed the order only for its cancel_request (momo's stop list carries no prices,
    # address or times): the store applies the request to the order it already has and keeps its content.
    request_only: bool = False

    def __post_init__(self) -> None:
        if self.status not in CANONICAL_STATUSES:
            raise ValueError(f"status {self.status!r} is not canonical ({', '.join(CANONICAL_STATUSES)})")
        for name in ("created_at", "updated_at", "paid_at"):
            require_aware(f"Order.{name}", getattr(self, name))
        for name in ("total", "shipping_fee", "discount"):
            require_decimal(f"Order.{name}", getattr(self, name))
        if not self.external_id:
            raise ValueError("Order.external_id is empty")


@dataclass(frozen=True)
class UnmappableOrder:
    """An order the platform returned that cannot be mapped; GetOrder holds it with ``reason``."""

    external_id: str | None
    raw: Mapping[str, Any] | str
    reason: str
