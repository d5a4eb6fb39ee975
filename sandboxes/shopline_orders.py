"""The orders and delivery options the Shopline sandbox serves, in the shapes the public record shows.

Sources (docs/contracts/shopline.md has the full list):

- Money objects ``{"cents", "currency_symbol", "currency_iso", "label", "dollars"}`` with ``cents`` equal to
  ``dollars`` for TWD: the official "Order Subtotal_items" page (``item_price`` NT$888: cents 888,
  dollars 888.0), a captured delivery option (``fee`` NT$130: cents 130, dollars 130) and a captured
  purchase order (cents 120 / dollars 120.0). The thousands separator in ``label`` is inferred.
- Order fields: tm731531/idempiere-oms ``ShoplineGetOrderListResponse.java`` (order_delivery with
  delivery_option_id, platform, status, delivery_status; delivery_data.tracking_number; subtotal_items with
  item_price, price, total, sku, title_translations) and the official Subtotal_items page
  (``item_price`` = the final checkout price, ``object_data.price`` the original price).
- Delivery options: ``region_type`` (Update Order Delivery Status page) and the captured option
  ``{"region_type": "tw_tcat_roomtemp", "config_data": {"execute_shipment_permission": true}, ...}``.

Pure data builders: the sandbox owns the randomness (a ``random.Random`` passed in) and the clock.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from platforms.shopline.mapping import COD_TYPES
from sandboxes import data

__all__ = ["money", "iso_time", "oid", "DELIVERY_OPTIONS", "delivery_option", "new_order", "CANONICAL_TO_AXES",
           "set_status"]

#: canonical status -> (order status, payment status, delivery status)
CANONICAL_TO_AXES = {
    "unpaid": ("pending", "pending", "pending"), "paid": ("pending", "completed", "pending"),
    "ready_to_ship": ("confirmed", "completed", "pending"), "shipped": ("confirmed", "completed", "shipped"),
    "delivered": ("confirmed", "completed", "arrived"), "completed": ("completed", "completed", "arrived"),
    "cancelled": ("cancelled", "refunded", "pending"), "returned": ("confirmed", "refunded", "returned"),
}

#: key -> (region_type, zh-hant name, en name, delivery_type, fee in TWD)
DELIVERY_OPTIONS: dict[str, tuple[str, str, str, str, int]] = {
    "custom": ("custom", "宅配（自行配送）", "Home delivery", "custom", 100),
    "tcat": ("tw_tcat_roomtemp", "宅配", "Tcat - Room Temp.", "post", 130),
    "711": ("tw_711_b2c_pay", "7-11 取貨付款", "7-11 Pickup and pay", "pick_up", 60),
    "711_cross_border": ("cross_border_711_store_pick_up", "7-11 跨境門市取貨", "7-11 Cross border pickup",
                         "pick_up", 150),
    "fmt_freeze": ("sl_logistics_fmt_freeze_pay", "全家冷凍取貨付款", "FamilyMart Freeze pickup and pay", "pick_up",
                   150),
    "kerry": ("sl_logistics_kerry_th_nd", "Kerry Express", "Kerry Express next day", "post", 200),
}


def money(amount: Decimal | int, currency: str = "TWD") -> dict[str, Any]:
    """A documented money object; for TWD ``cents`` equals ``dollars`` (NT$888 is cents 888)."""
    if currency != "TWD":
        raise ValueError("the sandbox serves TWD shops only (no public sample shows another currency's cents)")
    value = Decimal(amount)
    return {"cents": int(value), "currency_symbol": "NT$", "currency_iso": "TWD", "label": f"NT${value:,.0f}",
            "dollars": float(value)}


def iso_time(when: datetime) -> str:
    """Shopline's time format: UTC with milliseconds (``2026-03-14T15:59:59.000Z``)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def oid(rng: random.Random) -> str:
    """A Mongo-style object id (24 hex digits), as every Shopline id is."""
    return f"{rng.getrandbits(96):024x}"


def delivery_option(option_id: str, key: str) -> dict[str, Any]:
    """A delivery option as ``GET /v1/delivery_options/:id`` answers (shape of the captured option)."""
    region_type, zh, en, delivery_type, fee = DELIVERY_OPTIONS[key]
    return {"id": option_id, "region_type": region_type, "name_translations": {"zh-hant": zh, "en": en},
            "delivery_type": delivery_type, "fee": money(fee), "status": "active",
            "config_data": {"execute_shipment_permission": region_type != "custom"}}


def new_order(rng: random.Random, when: datetime, seq: int, option: dict[str, Any]) -> dict[str, Any]:
    """One pending order created at ``when`` (UTC, whole milliseconds) delivered with ``option``."""
    name, phone, address = data.person_name(rng), data.mobile(rng), data.tw_address(rng)
    items, subtotal = [], Decimal(0)
    for product, qty in data.pick_products(rng):
        original = product.price + rng.choice((0, 0, 20, 50))
        subtotal += product.price * qty
        items.append({"id": oid(rng), "item_type": "Product", "item_id": oid(rng), "item_variation_key": oid(rng),
                      "quantity": qty, "item_price": money(product.price), "price": money(original),
                      "object_data": {"price": money(original), "price_sale": money(product.price)},
                      "total": money(product.price * qty), "sku": product.sku, "is_preorder": False,
                      "title_translations": {"zh-hant": product.name}})
    fee = Decimal(option["fee"]["dollars"]).quantize(Decimal(1))
    discount = Decimal(rng.choice((0, 0, 50)))
    payment_type = rng.choice(("credit_card", "cash_on_delivery", "bank_transfer"))
    stamp = iso_time(when)
    return {
        "id": oid(rng), "order_number": f"{when:%Y%m%d%H%M%S}{seq:03d}", "status": "pending",
        "currency_iso": "TWD", "subtotal": money(subtotal), "order_discount": money(discount),
        "user_credit": money(0), "total_tax_fee": money(0), "total": money(subtotal + fee - discount),
        "customer_id": oid(rng), "customer_name": name, "customer_email": f"buyer{seq}@example.tw",
        "customer_phone": phone,
        "order_payment": {"id": oid(rng), "status": "pending", "payment_type": payment_type, "paid_at": None,
                          "total": money(subtotal + fee - discount)},
        "order_delivery": {"id": oid(rng), "delivery_option_id": option["id"], "platform": option["region_type"],
                           "status": "pending", "delivery_status": "pending",
                           "delivery_type": option["delivery_type"],
                           "name_translations": option["name_translations"], "total": money(fee),
                           "shipped_at": None, "arrived_at": None, "collected_at": None, "returned_at": None,
                           "request_accepted_at": None, "updated_at": stamp},
        "delivery_address": {"country_code": "TW", "country": "台灣", "city": address["city"],
                             "district": address["district"], "postcode": address["zip"],
                             "address_1": address["line1"], "address_2": "", "recipient_name": name,
                             "recipient_phone": phone, "state": None},
        "delivery_data": {"recipient_name": name, "recipient_phone": phone, "tracking_number": None,
                          "tracking_url": None, "location_code": None, "location_name": None},
        "subtotal_items": items, "order_remarks": "",
        "created_at": stamp, "updated_at": stamp, "_created": when, "_updated": when,
    }


def set_status(order: dict[str, Any], status: str, when: datetime) -> None:
    """Put an order on the three axes of a canonical status."""
    if status not in CANONICAL_TO_AXES:
        raise ValueError(f"unknown canonical status {status!r}")
    order_status, payment, delivery = CANONICAL_TO_AXES[status]
    if status == "unpaid" and order["order_payment"].get("payment_type") in COD_TYPES:
        # cash on delivery is payable on delivery, so the mapper reads it as paid: an unpaid order is a prepaid one
        order["order_payment"]["payment_type"] = "bank_transfer"
    order["status"] = order_status
    order["order_payment"]["status"] = payment
    if payment == "completed" and not order["order_payment"]["paid_at"]:
        order["order_payment"]["paid_at"] = iso_time(when)
    order["order_delivery"]["status"] = delivery
