"""Order, item, address and plan JSON as the OMS expects it. PURE: no database, no network.

The shape follows shared/specs/akinon-oms.md §2–§3 and §6:

- ``number`` is a string (the marketplace order number), ``status`` a string Omnitron code mapped
  from the canonical status through ``OmsConfig.status_codes``; money is a decimal string with two
  places; ``currency`` is lower case; times are ISO 8601 UTC.
- Every object carries both ``pk`` (OMS style) and ``id`` (Omnitron style).
- ``customer``, ``shipping_address`` and ``billing_address`` are nested (Get Orders documents
  dicts); the address's country/city/township/district are nested catalogue objects with ids.
  The bridge has one address per order, so billing = shipping, both with ``pk`` = the order's id;
  the customer's ``pk`` is the order's id too (marketplaces mask or omit a stable buyer identity).
- ``orderitem_set`` has one entry per unit (see items.py); a line's discount is split over its
  units to the cent, the remainder on the first unit, so the items add up to the line.
- An item's ``product`` carries ``pk``/``id`` = the SKU's Omnitron product id when the SKU map
  (:mod:`oms_bridge.oms.products`) knows it, else None.
- An item's ``status`` is the code the OMS set through ``order_item_bulk_update``; until it sets
  one, or once the marketplace cancels or returns the order (the marketplace wins for those), it
  is the order's code.
- While the marketplace's cancellation request is open the caller serves the order (and its items without a
  status of their own) with ``OmsConfig.cancel_request_code`` (``status_code`` argument) instead of the
  canonical status's code.
- Names split as Taiwanese names are written: the first character is the family name when the
  name has no space (陳怡君 → last 陳, first 怡君), otherwise the last word is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from typing import Any

from oms_bridge.oms.addresses import ResolvedAddress
from oms_bridge.oms.config import OmsConfig
from oms_bridge.store.models import Order, OrderLine
from oms_bridge.store.models.oms import (
    OmsCancellationPlan,
    OmsCity,
    OmsCountry,
    OmsDistrict,
    OmsOrderItem,
    OmsTownship,
)
from oms_bridge.store.order_items import units_of

__all__ = ["ChannelRef", "money", "iso", "split_name", "order_json", "item_json", "address_json", "country_json",
           "city_json", "township_json", "district_json", "plan_json", "items_json",
           "MARKETPLACE_WINS"]

CENT = Decimal("0.01")
# Canonical statuses where the marketplace's word overrides an item status the OMS set.
MARKETPLACE_WINS = ("cancelled", "returned")


@dataclass(frozen=True)
class ChannelRef:
    """The OMS channel an order is sent with (static, or per marketplace channel)."""

    id: int
    code: str
    name: str


def money(value: Decimal | None) -> str:
    """A decimal string with two places ("480.00"); None counts as zero."""
    return _money(value) if value else "0.00"


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (the store keeps aware UTC)."""
    if value is None:
        return None
    return _iso(value)


# A page of orders repeats the same amounts and times many times over (an order's items share its prices and were
# made at one instant): each text is worked out once. Equal values give equal texts (480 and 480.00 both "480.00";
# the same instant in any zone the same UTC text), so the caches cannot mix values up.
@lru_cache(maxsize=4096)
def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


@lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def split_name(name: str | None) -> tuple[str, str]:
    """(first_name, last_name) of a buyer name (see module doc)."""
    text = (name or "").strip()
    if not text:
        return "", ""
    if " " in text:
        first, _, last = text.rpartition(" ")
        return first.strip(), last
    if len(text) == 1:
        return text, ""
    return text[1:], text[0]


def country_json(row: OmsCountry) -> dict[str, Any]:
    return {"pk": row.id, "id": row.id, "code": row.code, "name": row.name, "is_active": bool(row.isactive),
            "latitude": None, "longitude": None}


def city_json(row: OmsCity) -> dict[str, Any]:
    return {"pk": row.id, "id": row.id, "name": row.name, "country": row.oms_country_id,
            "postcode": row.postcode, "is_active": bool(row.isactive), "latitude": None, "longitude": None,
            "priority": None}


def township_json(row: OmsTownship) -> dict[str, Any]:
    return {"pk": row.id, "id": row.id, "name": row.name, "city": row.oms_city_id, "postcode": row.postcode,
            "is_active": bool(row.isactive), "latitude": None, "longitude": None}


def district_json(row: OmsDistrict) -> dict[str, Any]:
    return {"pk": row.id, "id": row.id, "name": row.name, "city": row.oms_city_id,
            "township": row.oms_township_id, "postcode": row.postcode, "is_active": bool(row.isactive),
            "latitude": None, "longitude": None}


def address_json(order: Order, where: ResolvedAddress, *, title: str) -> dict[str, Any]:
    """The order's address with nested catalogue objects."""
    first, last = split_name(order.ship_name or order.buyer_name)
    line = " ".join(p for p in (order.ship_address1, order.ship_address2) if p)
    return {
        "pk": order.id, "id": order.id, "title": title,
        "email": order.buyer_email or "", "phone_number": order.ship_phone or order.buyer_phone or "",
        "first_name": first, "last_name": last,
        "country": country_json(where.country) if where.country else None,
        "city": city_json(where.city) if where.city else None,
        "township": township_json(where.township) if where.township else None,
        "district": district_json(where.district) if where.district else None,
        "line": line, "postcode": order.ship_zip or (where.township.postcode if where.township else None),
        "notes": None, "company_name": None, "tax_office": None, "tax_no": None, "e_bill_taxpayer": False,
        "identity_number": None, "extra_field": {}, "is_active": True,
    }


def _unit_discounts(line: OrderLine) -> list[Decimal]:
    """The line discount split over its units to the cent; the remainder on the first unit."""
    n = units_of(line.qty)
    if n == 0:
        return []
    total = (line.discount or Decimal("0")).quantize(CENT)
    each = (total / n).quantize(CENT, rounding=ROUND_DOWN)
    shares = [each] * n
    shares[0] += total - each * n
    return shares


def item_json(order: Order, line: OrderLine, item: OmsOrderItem, discount: Decimal, config: OmsConfig,
              products: Mapping[str, int] | None = None, order_code: str | None = None) -> dict[str, Any]:
    """One unit of a line; ``products``: SKU → Omnitron product id (``product.pk``); ``order_code``: the order's
    served code (default its canonical status's)."""
    line_part = _LineJson(order, line, config, products)
    return line_part.item(item, discount, order_code or config.status_code(order.status),
                          order.status in MARKETPLACE_WINS)


class _LineJson:
    """What every unit of one line shares (price, product, money strings), worked out once per line: a page of
    100 orders has some 300 units, and redoing the line's part for each was most of the page's JSON time."""

    __slots__ = ("order_id", "line_no", "remote", "product", "price", "price_text", "currency", "tax_rate", "_money")

    def __init__(self, order: Order, line: OrderLine, config: OmsConfig, products: Mapping[str, int] | None) -> None:
        self.order_id = order.id
        self.line_no = line.line_no
        self.remote = f"{line.external_line_id or line.line_no}-"
        product_pk = (products or {}).get(line.sku) if line.sku else None
        self.product = {"pk": product_pk, "id": product_pk, "sku": line.sku, "base_code": line.sku, "name": line.name,
                        "barcode": None}
        self.price = line.unit_price if units_of(line.qty) == line.qty else line.unit_price * line.qty
        self.price_text = money(self.price)
        self.currency = (order.currency or "").lower()
        self.tax_rate = config.tax_rate
        self._money: dict[Decimal, tuple[str, str]] = {}

    def _amounts(self, discount: Decimal) -> tuple[str, str]:
        """(discount, net amount) as money strings; units of a line mostly share one discount."""
        found = self._money.get(discount)
        if found is None:
            found = self._money[discount] = (money(discount), money(self.price - discount))
        return found

    def item(self, item: OmsOrderItem, discount: Decimal, order_code: str, marketplace_wins: bool) -> dict[str, Any]:
        """The unit's JSON (see :func:`item_json`)."""
        status = order_code if (item.status is None or marketplace_wins) else item.status
        discount_text, net_text = self._amounts(discount)
        return {
            "pk": item.id, "id": item.id, "order": self.order_id, "remote_id": f"{self.remote}{item.unit_no}",
            "product": dict(self.product),
            "price": self.price_text, "retail_price": self.price_text, "price_currency": self.currency,
            "tax_rate": self.tax_rate, "discount_amount": discount_text, "net_amount": net_text,
            "status": status, "tracking_number": item.tracking_number, "invoice_number": item.invoice_number,
            "invoice_date": iso(item.invoice_date), "extra_field": {"line_no": self.line_no, "unit_no": item.unit_no},
            "attributes": {}, "parent": None, "price_list": None, "stock_list": None,
            "modified_date": iso(item.updated),
        }


def _unit_no(item: OmsOrderItem) -> int:
    return item.unit_no


def items_json(order: Order, lines: Sequence[OrderLine], items: Sequence[OmsOrderItem], config: OmsConfig,
               products: Mapping[str, int] | None = None, order_code: str | None = None) -> list[dict[str, Any]]:
    """``orderitem_set`` of an order (items of inactive units are left out)."""
    by_line: dict[int, list[OmsOrderItem]] = {}
    for item in items:
        if item.isactive:
            by_line.setdefault(item.oms_orderline_id, []).append(item)
    if not by_line:
        return []
    order_code = order_code or config.status_code(order.status)
    marketplace_wins = order.status in MARKETPLACE_WINS
    out = []
    for line in lines:
        units = by_line.get(line.id)
        if not units:
            continue
        units.sort(key=_unit_no)
        shares = _unit_discounts(line)
        part = _LineJson(order, line, config, products)
        for item in units:
            share = shares[item.unit_no - 1] if item.unit_no <= len(shares) else Decimal("0")
            out.append(part.item(item, share, order_code, marketplace_wins))
    return out


def order_json(order: Order, lines: Sequence[OrderLine], items: Sequence[OmsOrderItem], where: ResolvedAddress,
               channel: ChannelRef, config: OmsConfig, extra: Mapping[str, Any] | None = None,
               products: Mapping[str, int] | None = None, status_code: str | None = None) -> dict[str, Any]:
    """The whole order with customer, addresses and items (``products``: see :func:`item_json`; ``status_code``
    overrides the canonical code)."""
    first, last = split_name(order.buyer_name or order.ship_name)
    currency = (order.currency or "").lower()
    code = status_code or config.status_code(order.status)
    item_list = items_json(order, lines, items, config, products, code)
    tracking = next((i["tracking_number"] for i in item_list if i["tracking_number"]), order.tracking_number)
    shipping = address_json(order, where, title="shipping")
    invoice = next((i["invoice_number"] for i in item_list if i["invoice_number"]), None)
    return {
        "pk": order.id, "id": order.id, "number": str(order.external_id), "remote_id": str(order.external_id),
        "status": code, "external_status": order.platform_status,
        "channel": channel.id, "channel_code": channel.code, "channel_name": channel.name,
        "currency": currency, "amount": money(order.total_amount), "shipping_amount": money(order.shipping_fee),
        "shipping_tax_rate": config.tax_rate, "discount_amount": money(order.discount_amount),
        "refund_amount": money(None),
        "date_placed": iso(order.order_created), "created_date": iso(order.created),
        "modified_date": iso(order.updated),
        "customer": {"pk": order.id, "id": order.id, "email": order.buyer_email or "",
                     "first_name": first, "last_name": last,
                     "phone_number": order.buyer_phone or order.ship_phone or "",
                     "channel_code": order.buyer_id, "extra_field": {}, "is_active": True},
        "shipping_address": shipping,
        "billing_address": {**shipping, "title": "billing"},  # the same address (see module doc)
        "orderitem_set": item_list,
        "payment_option": order.payment_method, "cargo_company": None, "tracking_number": tracking,
        "invoice_number": invoice, "invoice_date": None, "notes": order.note, "language_code": config.language_code,
        "client_type": "default", "delivery_type": None, "delivery_range": None, "has_gift_box": False,
        "gift_box_note": None, "remote_addr": None, "segment": None,
        "extra_field": {"platform_status": order.platform_status, "paid_at": iso(order.paid_at),
                        "version": order.version, **(extra or {})},
    }


def plan_json(plan: OmsCancellationPlan, order: Order, item_ids: Sequence[int]) -> dict[str, Any]:
    """A cancellation plan with the items it covers."""
    return {
        "pk": plan.id, "id": plan.id, "order": order.id, "order_number": str(order.external_id),
        "plan_type": plan.plan_type, "status": plan.status, "cancellation_plan_status": plan.status,
        "reason": order.platform_status,
        "order_items": [{"pk": i, "id": i, "order_item": i, "reason": order.platform_status} for i in item_ids],
        "created_date": iso(plan.created), "modified_date": iso(plan.updated),
        "completed_date": iso(plan.completed_at),
    }
