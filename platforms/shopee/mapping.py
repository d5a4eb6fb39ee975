"""Shopee order detail → canonical :class:`~platforms.base.Order`. Pure: no network, no database.

ref: shared/specs/marketplaces.md §1 "get_order_detail"; the meanings are Shopee's (V2.0 Data Definition,
guide 31: see docs/contracts/shopee.md).

Status table (:data:`STATUS_MAP`):

- ``UNPAID`` → unpaid; ``READY_TO_SHIP``/``RETRY_SHIP`` → ready_to_ship (paid, the seller can arrange shipment);
- ``PROCESSED`` ("Seller has arranged shipment online and got tracking number from 3PL") → shipped: Shopee
  refuses to arrange it again, so no destination may offer it as shippable; the adapter adds the tracking
  number Shopee holds (``Order.tracking_number``);
- ``SHIPPED`` (handed to the 3PL) → shipped; ``TO_CONFIRM_RECEIVE`` ("The order has been received by buyer")
  → delivered; ``COMPLETED`` → completed; ``CANCELLED`` → cancelled; ``TO_RETURN`` → returned;
- ``IN_CANCEL`` ("The order's cancelation is under processing") is a request the seller may reject
  (``v2.order.handle_buyer_cancellation`` ACCEPT/REJECT), not a cancellation: the order keeps the status its
  package shows (:func:`in_cancel_status`) and carries :class:`~platforms.base.CancelRequest`
  (``Order.cancel_request``), which makes the destinations hold it;
- ``INVOICE_PENDING``/``PENDING`` → ``paid`` when ``pay_time`` is set, else ``unpaid``.

Money: Shopee sends floats; each is read through ``str()`` (never float arithmetic) and quantized to
the currency's decimals (:data:`CURRENCY_DECIMALS`; TWD, VND, IDR… have none, others two), half-up.
``total_amount`` exists only after payment, so ``Order.total`` is None before. A line's ``discount``
is ``(model_original_price - model_discounted_price) × qty``. Shipping fee: ``actual_shipping_fee``
if present, else ``estimated_shipping_fee``, else 0.

Recipient: Shopee masks TW integrated-channel addresses (``"****"``) and partially masks others
(``"P******n"``). Masked values are kept verbatim and ``Address.masked`` is True; nothing is invented.

Anything that cannot be read (missing order_sn, unknown status, bad time or amount) gives an
:class:`~platforms.base.UnmappableOrder` with the reason, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from platforms.amounts import AmountError, decimal_amount, round_to_places
from platforms.base import Address, Buyer, CancelRequest, Order, OrderLine, UnmappableOrder

__all__ = ["STATUS_MAP", "CURRENCY_DECIMALS", "ARRANGED_STATUSES", "canonical_status", "in_cancel_status",
           "map_order", "money", "utc_from_unix", "is_masked"]

STATUS_MAP: dict[str, str] = {
    "UNPAID": "unpaid",
    "READY_TO_SHIP": "ready_to_ship",
    "RETRY_SHIP": "ready_to_ship",
    "PROCESSED": "shipped",
    "SHIPPED": "shipped",
    "TO_CONFIRM_RECEIVE": "delivered",
    "COMPLETED": "completed",
    "CANCELLED": "cancelled",
    "TO_RETURN": "returned",
}
_PAY_DEPENDENT = frozenset({"INVOICE_PENDING", "PENDING"})
#: order statuses whose shipment Shopee has arranged already (ship_order refuses them; a tracking number exists)
ARRANGED_STATUSES = frozenset({"PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED", "TO_RETURN"})
#: package logistics_status (guide 31, Package Fulfillment Status) → the status an IN_CANCEL order really has
_PACKAGE_STATUS = {"LOGISTICS_REQUEST_CREATED": "shipped", "LOGISTICS_PICKUP_DONE": "shipped",
                   "LOGISTICS_DELIVERY_DONE": "delivered"}

CURRENCY_DECIMALS: dict[str, int] = {"TWD": 0, "VND": 0, "IDR": 0, "JPY": 0, "KRW": 0, "CLP": 0, "COP": 0}


class _Unmappable(ValueError):
    """Internal: why a field cannot be read."""


def canonical_status(raw_status: str, pay_time: Any = None, packages: Any = None) -> str:
    """The canonical status for Shopee's ``order_status`` (``pay_time`` decides the pending states; the
    ``package_list`` decides what an IN_CANCEL order really is)."""
    if raw_status in STATUS_MAP:
        return STATUS_MAP[raw_status]
    if raw_status in _PAY_DEPENDENT:
        return "paid" if pay_time else "unpaid"
    if raw_status == "IN_CANCEL":
        return in_cancel_status(pay_time, packages)
    raise _Unmappable(f"unknown Shopee order_status {raw_status!r}")


def in_cancel_status(pay_time: Any, packages: Any) -> str:
    """An IN_CANCEL order's status while the request is open, read from its packages (inferred, see module doc).

    The furthest package decides: arranged or handed over → shipped, delivered → delivered; otherwise the
    order waits for shipment (ready_to_ship) once paid, else it is unpaid.
    """
    rank = {"ready_to_ship": 0, "shipped": 1, "delivered": 2}
    best = "ready_to_ship" if pay_time else "unpaid"
    for package in packages or ():
        found = _PACKAGE_STATUS.get(package.get("logistics_status")) if isinstance(package, Mapping) else None
        if found and rank[found] > rank.get(best, -1):
            best = found
    return best


def _cancel_request(raw: Mapping[str, Any]) -> CancelRequest | None:
    """IN_CANCEL → the open request (reference: the order_sn that handle_buyer_cancellation answers)."""
    if raw.get("order_status") != "IN_CANCEL":
        return None
    reason = raw.get("buyer_cancel_reason") or raw.get("cancel_reason") or None
    return CancelRequest(requested_at=utc_from_unix(raw.get("update_time"), "update_time"), reason=reason,
                         reference=str(raw["order_sn"]), allowed=True)


def utc_from_unix(value: Any, field: str) -> datetime:
    """Unix seconds → aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unmappable(f"{field} is not a Unix timestamp: {value!r}")
    return datetime.fromtimestamp(int(value), tz=UTC)


def money(value: Any, currency: str, field: str) -> Decimal:
    """A Shopee amount (float/int/str) as Decimal with the currency's decimals, never via float math."""
    try:
        amount = decimal_amount(value, field)
    except AmountError as exc:
        raise _Unmappable(str(exc)) from None
    return round_to_places(amount, CURRENCY_DECIMALS.get(currency, 2))


def is_masked(value: Any) -> bool:
    """Shopee masks with runs of ``*`` (``"****"``, ``"P******n"``)."""
    return isinstance(value, str) and "**" in value


def _address(raw: Mapping[str, Any] | None) -> Address:
    if not raw:
        return Address()
    fields = {k: (str(v) if v not in (None, "") else None) for k, v in raw.items()}
    return Address(
        name=fields.get("name"), phone=fields.get("phone"), country=fields.get("region"),
        state=fields.get("state"), city=fields.get("city"), district=fields.get("district") or fields.get("town"),
        zip=fields.get("zipcode"), line1=fields.get("full_address"), full=fields.get("full_address"),
        masked=any(is_masked(v) for v in raw.values()),
    )


def _line(raw: Mapping[str, Any], currency: str, index: int) -> OrderLine:
    qty_raw = raw.get("model_quantity_purchased")
    if isinstance(qty_raw, bool) or not isinstance(qty_raw, int) or qty_raw <= 0:
        raise _Unmappable(f"item_list[{index}].model_quantity_purchased is not a positive integer: {qty_raw!r}")
    qty = Decimal(qty_raw)
    original = money(raw.get("model_original_price"), currency, f"item_list[{index}].model_original_price")
    discounted_raw = raw.get("model_discounted_price")
    discounted = original if discounted_raw is None else money(
        discounted_raw, currency, f"item_list[{index}].model_discounted_price")
    names = [str(n) for n in (raw.get("item_name"), raw.get("model_name")) if n]
    line_id = raw.get("order_item_id") or f"{raw.get('item_id', '')}:{raw.get('model_id', '')}"
    return OrderLine(
        sku=(raw.get("model_sku") or raw.get("item_sku") or None), name=" ".join(names) or None,
        qty=qty, unit_price=original, discount=(original - discounted) * qty, external_line_id=str(line_id),
    )


def _shipping_fee(raw: Mapping[str, Any], currency: str) -> Decimal:
    for name in ("actual_shipping_fee", "estimated_shipping_fee"):
        if raw.get(name) is not None:
            return money(raw[name], currency, name)
    return money(0, currency, "shipping_fee")


def map_order(raw: Mapping[str, Any], channel: str | None = None, *,
              tracking_number: str | None = None) -> Order | UnmappableOrder:
    """One ``get_order_detail`` entry → canonical Order, or UnmappableOrder with the reason.

    ``tracking_number``: what ``get_(mass_)tracking_number`` returned for an arranged order (the detail itself
    carries none).
    """
    sn = raw.get("order_sn") if isinstance(raw, Mapping) else None
    try:
        if not sn or not isinstance(sn, str):
            raise _Unmappable("order has no order_sn")
        currency = raw.get("currency")
        if not currency or not isinstance(currency, str):
            raise _Unmappable("order has no currency")
        raw_status = str(raw.get("order_status") or "")
        items = raw.get("item_list")
        if not isinstance(items, list) or not items:
            raise _Unmappable("order has no item_list (was response_optional_fields=item_list requested?)")
        pay_time = raw.get("pay_time")
        total = raw.get("total_amount")
        return Order(
            external_id=sn,
            status=canonical_status(raw_status, pay_time, raw.get("package_list")),
            platform_status=raw_status,
            created_at=utc_from_unix(raw.get("create_time"), "create_time"),
            updated_at=utc_from_unix(raw.get("update_time"), "update_time"),
            paid_at=utc_from_unix(pay_time, "pay_time") if pay_time else None,
            currency=currency,
            lines=tuple(_line(item, currency, i) for i, item in enumerate(items)),
            total=money(total, currency, "total_amount") if total is not None else None,
            shipping_fee=_shipping_fee(raw, currency),
            payment_method=raw.get("payment_method") or None,
            buyer=Buyer(id=str(raw["buyer_user_id"]) if raw.get("buyer_user_id") else None,
                        name=raw.get("buyer_username") or None),
            shipping_address=_address(raw.get("recipient_address")),
            note=raw.get("note") or raw.get("message_to_seller") or None,
            packages=tuple(str(p["package_number"]) for p in raw.get("package_list") or []
                           if isinstance(p, Mapping) and p.get("package_number")),
            raw=raw,
            channel=channel,
            cancel_request=_cancel_request(raw),
            tracking_number=tracking_number or None,
        )
    except (_Unmappable, KeyError, TypeError, ValueError, AttributeError) as exc:
        return UnmappableOrder(external_id=sn if isinstance(sn, str) else None, raw=raw,
                               reason=f"Shopee order {sn or '?'} cannot be mapped: {exc}")
