"""Shopline order JSON -> canonical order (pure: no network, no database).

Money: Shopline money objects are ``{cents, dollars, currency_iso, label, currency_symbol}`` (the
Ruby Money shape). The amount is ``cents`` scaled by the currency's minor units (ISO 4217 /
RubyMoney: TWD, HKD, USD ... 2; JPY, KRW, VND 0), as ``Decimal``; ``dollars`` is a float and only
cross-checked (a disagreement makes the order unmappable rather than guessing). ``decimals``
overrides the table.

Times: ISO 8601 UTC (``2026-03-01T15:59:59.000Z``) -> aware UTC; a time without an offset is taken
as UTC (Shopline's API is UTC throughout).

Status (first rule that matches; ``platform_status`` keeps ``status/payment/delivery``):

=====================================================================  ===============
Shopline                                                               canonical
=====================================================================  ===============
``status`` cancelled                                                   cancelled
delivery ``returned`` / ``returning``                                  returned
``status`` completed                                                   completed
delivery ``arrived`` / ``collected``                                   delivered
delivery ``shipped`` / ``shipping``                                    shipped
paid (payment ``completed``/``paid``, or cash on delivery), confirmed  ready_to_ship
paid, still pending                                                    paid
otherwise (payment pending / failed)                                   unpaid
=====================================================================  ===============

The external id is Shopline's order ``id`` (what every order endpoint takes); ``order_number`` stays
in ``raw``. ``packages`` holds the ``order_delivery.id`` (needed by ``PUT /v1/order_deliveries``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from platforms.amounts import round_to_places
from platforms.base import Address, Buyer, Order, OrderLine, UnmappableOrder

__all__ = ["CURRENCY_DECIMALS", "money", "parse_time", "canonical_status", "map_order"]

CURRENCY_DECIMALS = {"TWD": 2, "HKD": 2, "USD": 2, "SGD": 2, "MYR": 2, "THB": 2, "CNY": 2, "PHP": 2, "IDR": 2,
                     "EUR": 2, "GBP": 2, "AUD": 2, "JPY": 0, "KRW": 0, "VND": 0}
# Cents use ISO minor units (TWD 2), but TWD is priced in whole dollars: a whole amount carries the
# currency's presented decimals, as Shopee's and Cyberbiz's mappers do (280.00 → 280). An amount with
# real cents keeps them: exact beats pretty.
PRESENTED_DECIMALS = {"TWD": 0}
PAID_PAYMENT = {"completed", "paid"}
COD_TYPES = {"cash_on_delivery", "cod"}
_NAME_LANGS = ("zh-hant", "zh-TW", "zh-tw", "en")


class _Unmappable(ValueError):
    """A field that cannot be mapped; the message names it."""


def money(value: Any, field: str, decimals: Mapping[str, int] | None = None) -> Decimal:
    """A money object as ``Decimal`` from ``cents`` and the currency's minor units."""
    if not isinstance(value, Mapping):
        raise _Unmappable(f"{field} is {value!r}, expected a money object")
    cents, currency = value.get("cents"), str(value.get("currency_iso") or "").upper()
    if isinstance(cents, bool) or not isinstance(cents, int | str):
        raise _Unmappable(f"{field}.cents is {cents!r}, expected an integer")
    table = {**CURRENCY_DECIMALS, **(decimals or {})}
    if currency not in table:
        raise _Unmappable(f"{field}.currency_iso {currency!r} has no known minor units (set 'decimals')")
    try:
        amount = Decimal(str(cents)).scaleb(-table[currency])
    except InvalidOperation:
        raise _Unmappable(f"{field}.cents is {cents!r}, not a number") from None
    dollars = value.get("dollars")
    if isinstance(dollars, int | float | str) and not isinstance(dollars, bool):
        try:
            if abs(Decimal(str(dollars)) - amount) >= 1:
                raise _Unmappable(f"{field}: cents {cents} and dollars {dollars} disagree for {currency}")
        except InvalidOperation:
            pass
    places = PRESENTED_DECIMALS.get(currency)
    if places is not None and amount == round_to_places(amount, places):
        return round_to_places(amount, places)
    return amount


def _money_or_zero(value: Any, field: str, decimals: Mapping[str, int] | None) -> Decimal:
    return Decimal(0) if value is None else money(value, field, decimals)


def parse_time(value: Any, field: str) -> datetime:
    """An ISO 8601 time as aware UTC (no offset: UTC)."""
    if not isinstance(value, str) or not value:
        raise _Unmappable(f"{field} is {value!r}, expected an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Unmappable(f"{field} is {value!r}, not an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _optional_time(value: Any, field: str) -> datetime | None:
    return None if value in (None, "") else parse_time(value, field)


def canonical_status(status: str, payment: str, delivery: str, payment_type: str = "") -> str:
    """The canonical status for Shopline's three axes (table in the module docstring)."""
    if status == "cancelled":
        return "cancelled"
    if delivery in ("returned", "returning"):
        return "returned"
    if status == "completed":
        return "completed"
    if delivery in ("arrived", "collected"):
        return "delivered"
    if delivery in ("shipped", "shipping"):
        return "shipped"
    if payment in PAID_PAYMENT or payment_type in COD_TYPES:
        return "ready_to_ship" if status == "confirmed" else "paid"
    return "unpaid"


def _name(item: Mapping[str, Any]) -> str | None:
    names = item.get("title_translations") or {}
    if isinstance(names, Mapping):
        for lang in _NAME_LANGS:
            if names.get(lang):
                return str(names[lang])
        for value in names.values():
            if value:
                return str(value)
    return str(item.get("title") or "") or None


def _line(item: Mapping[str, Any], index: int, decimals: Mapping[str, int] | None) -> OrderLine:
    field = f"subtotal_items[{index}]"
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise _Unmappable(f"{field}.quantity is {quantity!r}, expected a positive integer")
    qty = Decimal(quantity)
    unit = money(item.get("item_price") or item.get("price"), f"{field}.item_price", decimals)
    discount = Decimal(0)
    if item.get("total") is not None:
        discount = max(Decimal(0), unit * qty - money(item["total"], f"{field}.total", decimals))
    sku = item.get("sku") or (item.get("item_data") or {}).get("sku") or None
    return OrderLine(sku=str(sku) if sku else None, name=_name(item), qty=qty, unit_price=unit, discount=discount,
                     external_line_id=str(item["id"]) if item.get("id") else None)


def _address(raw: Mapping[str, Any]) -> Address:
    address = raw.get("delivery_address") or {}
    parts = [str(address.get(k) or "") for k in ("postcode", "city", "district", "address_1", "address_2")]
    return Address(
        name=address.get("recipient_name"), phone=address.get("recipient_phone"),
        country=address.get("country_code") or None, state=address.get("state") or None,
        city=address.get("city") or None, district=address.get("district") or None,
        zip=address.get("postcode") or None, line1=address.get("address_1") or None,
        line2=address.get("address_2") or None, full="".join(parts) or None,
        masked=any("*" in str(address.get(k) or "") for k in ("recipient_name", "recipient_phone", "address_1")),
    )


def map_order(raw: Mapping[str, Any], *, channel: str | None = None,
              decimals: Mapping[str, int] | None = None) -> Order | UnmappableOrder:
    """One canonical order, or an :class:`UnmappableOrder` naming the field that failed."""
    external_id = str(raw.get("id") or "") if isinstance(raw, Mapping) else ""
    if not external_id:
        return UnmappableOrder(None, raw if isinstance(raw, Mapping) else str(raw), "Shopline order without id")
    try:
        payment = raw.get("order_payment") or {}
        delivery = raw.get("order_delivery") or {}
        status, pay_status = str(raw.get("status") or ""), str(payment.get("status") or "")
        dely_status = str(delivery.get("status") or "")
        items = raw.get("subtotal_items")
        if not isinstance(items, list) or not items:
            raise _Unmappable("subtotal_items is empty")
        total = money(raw.get("total"), "total", decimals)
        return Order(
            external_id=external_id,
            status=canonical_status(status, pay_status, dely_status, str(payment.get("payment_type") or "")),
            platform_status=f"{status}/{pay_status}/{dely_status}",
            created_at=parse_time(raw.get("created_at"), "created_at"),
            updated_at=parse_time(raw.get("updated_at"), "updated_at"),
            paid_at=_optional_time(payment.get("paid_at"), "order_payment.paid_at"),
            currency=str(raw["total"].get("currency_iso")).upper(),
            lines=tuple(_line(item, i, decimals) for i, item in enumerate(items)),
            total=total,
            shipping_fee=_money_or_zero(delivery.get("total") or raw.get("delivery_fee"),
                                        "delivery_fee", decimals),
            discount=_money_or_zero(raw.get("order_discount"), "order_discount", decimals),
            payment_method=payment.get("payment_type") or None,
            buyer=Buyer(id=str(raw["customer_id"]) if raw.get("customer_id") else None,
                        name=raw.get("customer_name"), email=raw.get("customer_email"),
                        phone=raw.get("customer_phone")),
            shipping_address=_address(raw),
            note=raw.get("order_remarks") or None,
            packages=(str(delivery["id"]),) if delivery.get("id") else (),
            raw=dict(raw), channel=channel,
        )
    except _Unmappable as exc:
        return UnmappableOrder(external_id, dict(raw), f"Shopline order {external_id}: {exc}")
    except (TypeError, AttributeError) as exc:
        return UnmappableOrder(external_id, dict(raw), f"Shopline order {external_id}: malformed ({exc})")
