"""Shopline order JSON -> canonical order (pure: no network, no database).

Money (docs/contracts/shopline.md, "Money"): a money object is ``{cents, currency_symbol, currency_iso, label,
dollars}``. The amount is ``dollars``, read as ``Decimal`` through its text (``888.0`` → ``888``), never
``cents`` divided by 100: for TWD the official example is ``{"cents": 888, "label": "NT$888", "dollars": 888.0}``,
so ``cents`` is not a count of hundredths. Two cross-checks hold the order rather than guess:

- ``label`` (the amount as Shopline shows it, ``NT$1,280``) must show the same number as ``dollars``, to the
  precision the label shows;
- ``cents`` must equal ``dollars`` × the currency's ``cents_per_unit`` where that factor is known (setting
  ``cents_per_unit``, default ``{"TWD": 1}``: confirmed for TWD only). For other currencies no public sample
  shows what ``cents`` counts, so it is not used unless the admin sets the factor; an object without
  ``dollars`` then holds the order, naming the setting.

An amount is kept to the currency's minor units (``decimals`` overrides :data:`CURRENCY_DECIMALS`); a
whole TWD amount carries no decimals (``888``, as Shopee's and Cyberbiz's mappers give), a fractional one
stays exact. More decimals than the currency has is an unexpected payload: held.

Times: ISO 8601 (``2026-03-01T15:59:59.000Z``) -> aware UTC; a time without an offset is taken as UTC.

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

The external id is Shopline's order ``id`` (what every order endpoint takes); ``order_number`` stays in
``raw``. ``packages`` holds the ``order_delivery.id``. Get Orders answers an archived order with a mark
instead of its data (:func:`is_archived_mark`); the adapter leaves those out before mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from platforms.amounts import AmountError, decimal_amount, round_to_places
from platforms.base import Address, Buyer, Order, OrderLine, OrderRef, UnmappableOrder

__all__ = ["CURRENCY_DECIMALS", "CENTS_PER_UNIT", "money", "parse_time", "canonical_status", "map_order",
           "order_ref", "is_archived_mark"]

#: ISO 4217 minor units, except TWD: Shopline prices TWD in whole dollars (cents == dollars)
CURRENCY_DECIMALS = {"TWD": 0, "HKD": 2, "USD": 2, "SGD": 2, "MYR": 2, "THB": 2, "CNY": 2, "PHP": 2, "IDR": 2,
                     "EUR": 2, "GBP": 2, "AUD": 2, "JPY": 0, "KRW": 0, "VND": 0}
#: what ``cents`` counts per unit of ``dollars``, where a source shows it (the setting ``cents_per_unit``)
CENTS_PER_UNIT = {"TWD": 1}
PAID_PAYMENT = {"completed", "paid"}
COD_TYPES = {"cash_on_delivery", "cod"}
_NAME_LANGS = ("zh-hant", "zh-TW", "zh-tw", "en")
_LABEL_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


class _Unmappable(ValueError):
    """A field that cannot be mapped; the message names it."""


def _label_amount(label: Any) -> tuple[Decimal, int] | None:
    """The number a label shows (``NT$1,280`` → 1280) and its decimals, or None when it shows none."""
    match = _LABEL_NUMBER.search(label) if isinstance(label, str) else None
    if match is None:
        return None
    text = match.group().replace(",", "")
    return Decimal(text), len(text.partition(".")[2])


@lru_cache(maxsize=16)
def _half_unit(places: int) -> Decimal:
    """Half a unit of a label's last shown digit: how far a rounded label may be from ``dollars``."""
    return Decimal(5).scaleb(-places - 1)


def _currency(value: Mapping[str, Any], field: str, expected: str | None) -> str:
    currency = str(value.get("currency_iso") or "").upper()
    if not currency:
        raise _Unmappable(f"{field} has no currency_iso")
    if expected and currency != expected:
        raise _Unmappable(f"{field} is in {currency}, the order in {expected}")
    return currency


def _scale(code: str, cents_per_unit: Mapping[str, Any] | None) -> Decimal | None:
    value = {**CENTS_PER_UNIT, **(cents_per_unit or {})}.get(code)
    return None if value is None else Decimal(str(value))


def _places(code: str, decimals: Mapping[str, int] | None) -> int | None:
    return {**CURRENCY_DECIMALS, **(decimals or {})}.get(code)


def money(value: Any, field: str, *, currency: str | None = None, cents_per_unit: Mapping[str, Any] | None = None,
          decimals: Mapping[str, int] | None = None) -> Decimal:
    """A money object as ``Decimal`` from ``dollars``, cross-checked with ``label`` and ``cents`` (module doc)."""
    if not isinstance(value, Mapping):
        raise _Unmappable(f"{field} is {value!r}, expected a money object")
    code = _currency(value, field, currency)
    return _read(value, field, code, _scale(code, cents_per_unit), _places(code, decimals))


def _read(value: Mapping[str, Any], field: str, code: str, scale: Decimal | None, places: int | None) -> Decimal:
    """:func:`money` once the currency's ``cents_per_unit`` (``scale``) and minor units (``places``) are known."""
    cents, dollars = value.get("cents"), value.get("dollars")
    if cents is not None and (isinstance(cents, bool) or not isinstance(cents, (int, str))):  # noqa: UP038
        raise _Unmappable(f"{field}.cents is {cents!r}, expected an integer")
    try:
        counted = None if cents is None else decimal_amount(cents, f"{field}.cents")
        if dollars is not None:
            amount = decimal_amount(dollars, f"{field}.dollars")
        elif counted is not None and scale:
            amount = counted / scale
        else:
            raise _Unmappable(f"{field} has no dollars, and what cents counts in {code} is not known "
                              f"(set cents_per_unit, e.g. {{\"{code}\": 100}})")
    except AmountError as exc:
        raise _Unmappable(str(exc)) from None
    if counted is not None and scale is not None and counted != amount * scale:
        raise _Unmappable(f"{field}: cents {cents} and dollars {dollars} disagree (in {code} cents are "
                          f"{scale:f} × dollars)")
    shown = _label_amount(value.get("label"))
    if shown is not None and abs(shown[0] - abs(amount)) > _half_unit(shown[1]):
        raise _Unmappable(f"{field}: label {value.get('label')!r} does not show dollars {dollars}")
    if places is None:
        return amount
    rounded = round_to_places(amount, places)
    if amount != rounded:
        if code == "TWD":  # TWD is whole dollars on Shopline; a fraction is kept exact rather than rounded
            return amount
        raise _Unmappable(f"{field}: dollars {dollars} has more decimals than {code} has ({places})")
    return rounded


class _Money:
    """How this order's money objects are read: its currency, with the settings resolved once per order."""

    def __init__(self, currency: str, cents_per_unit: Mapping[str, Any] | None = None,
                 decimals: Mapping[str, int] | None = None):
        self.currency = currency
        self.scale = _scale(currency, cents_per_unit)
        self.places = _places(currency, decimals)

    def __call__(self, value: Any, field: str) -> Decimal:
        if not isinstance(value, Mapping):
            raise _Unmappable(f"{field} is {value!r}, expected a money object")
        return _read(value, field, _currency(value, field, self.currency), self.scale, self.places)

    def or_zero(self, value: Any, field: str) -> Decimal:
        return Decimal(0) if value is None else self(value, field)


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


def _line(item: Mapping[str, Any], index: int, amount: _Money) -> OrderLine:
    """One subtotal item; ``item_price`` is the final checkout price of one unit (Subtotal_items page)."""
    field = f"subtotal_items[{index}]"
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise _Unmappable(f"{field}.quantity is {quantity!r}, expected a positive integer")
    qty = Decimal(quantity)
    unit = amount(item.get("item_price") or item.get("price"), f"{field}.item_price")
    discount = Decimal(0)
    if item.get("total") is not None:
        discount = max(Decimal(0), unit * qty - amount(item["total"], f"{field}.total"))
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


def is_archived_mark(raw: Any, flag: str = "archived") -> bool:
    """True for Get Orders' mark of an archived order (an item whose ``flag`` key is true) instead of its data."""
    return isinstance(raw, Mapping) and raw.get(flag) is True


def _order_currency(raw: Mapping[str, Any]) -> str:
    total = raw.get("total")
    currency = raw.get("currency_iso") or (total.get("currency_iso") if isinstance(total, Mapping) else None)
    if not currency:
        raise _Unmappable("the order has no currency_iso")
    return str(currency).upper()


def map_order(raw: Mapping[str, Any], *, channel: str | None = None, cents_per_unit: Mapping[str, Any] | None = None,
              decimals: Mapping[str, int] | None = None,
              extra_discount_fields: Sequence[str] = ()) -> Order | UnmappableOrder:
    """One canonical order, or an :class:`UnmappableOrder` naming the field that failed.

    ``discount`` is ``order_discount`` plus the money fields named in ``extra_discount_fields`` (e.g.
    ``user_credit``, ``order_points_to_cash``: whether ``total`` already deducts them is not public).
    """
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
        amount = _Money(_order_currency(raw), cents_per_unit, decimals)
        return Order(
            external_id=external_id,
            status=canonical_status(status, pay_status, dely_status, str(payment.get("payment_type") or "")),
            platform_status=f"{status}/{pay_status}/{dely_status}",
            created_at=parse_time(raw.get("created_at"), "created_at"),
            updated_at=parse_time(raw.get("updated_at"), "updated_at"),
            paid_at=_optional_time(payment.get("paid_at"), "order_payment.paid_at"),
            currency=amount.currency,
            lines=tuple(_line(item, i, amount) for i, item in enumerate(items)),
            total=amount(raw.get("total"), "total"),
            shipping_fee=amount.or_zero(delivery.get("total") or raw.get("delivery_fee"), "order_delivery.total"),
            discount=sum((amount.or_zero(raw.get(name), name)
                          for name in ("order_discount", *extra_discount_fields)), Decimal(0)),
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


def order_ref(raw: Any) -> OrderRef | None:
    """The listing's view of one order for reconciliation (no money, no lines); None without an id.

    A time that does not parse stays None: the order is still listed rather than lost.
    """
    if not isinstance(raw, Mapping) or not raw.get("id"):
        return None
    payment = raw.get("order_payment") if isinstance(raw.get("order_payment"), Mapping) else {}
    delivery = raw.get("order_delivery") if isinstance(raw.get("order_delivery"), Mapping) else {}

    def when(name: str) -> datetime | None:
        try:
            return parse_time(raw.get(name), name)
        except _Unmappable:
            return None

    return OrderRef(external_id=str(raw["id"]), updated_at=when("updated_at"), created_at=when("created_at"),
                    platform_status=f"{raw.get('status') or ''}/{payment.get('status') or ''}/"
                                    f"{delivery.get('status') or ''}")
