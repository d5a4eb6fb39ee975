"""Cyberbiz order JSON → canonical :class:`~platforms.base.Order` (pure: no network, no database).

Cyberbiz quirks handled here (spec §2.2/§2.3):

- times are Asia/Taipei local strings ``YYYY-MM-DD HH:MM:SS`` without zone → aware UTC;
- money is a JSON float → ``Decimal(str(value))`` quantized to the currency's decimals (TWD: 0,
  half-up), so 9999.0 becomes ``Decimal("9999")`` and no binary-float error leaks in;
- the currency is not in the payload: the channel's ``currency`` setting, default TWD;
- ``sku`` may be null: a combo product line (``sku: null`` with the real products under
  ``related_items``) becomes one line per product inside it (:mod:`platforms.cyberbiz.combos`: quantities
  multiplied, price split, totals exact, the rules settings ``combo_lines``, ``combo_quantity_rule`` and
  ``combo_price_fallback``); any other null SKU is kept null (the SKU map decides what to do with it);
- a line's ``discount`` is its ``total_discount`` (else price × quantity − ``total_price_after_discounts``);
  the order's ``discount`` is what is left between the lines' net total + shipping and ``total_price``
  (coupons, bonus points and other order-level discounts);
- ``detail_address.country`` is used when it is an ISO code, else ``TW`` (Cyberbiz is a TW platform);
- the address comes from ``receiver`` + ``receiver.detail_address``; a convenience-store pickup's
  ``cvs_store_id`` goes to ``line2``.

Status: Cyberbiz has four axes (``statuses.order_status/financial_status/fulfillment_status/
return_status``). The canonical status is the first rule that matches:

====  ==========================================================================  ==============
  1   order_status ``cancelled``                                                   cancelled
  2   financial ``refunded``, or fulfillment/return ``returned``, or fulfillment   returned
      ``expired`` (store pickup not collected: the goods go back)
  3   order_status ``closed`` and fulfillment ``fulfilled/arrived/received``        completed
  4   fulfillment ``arrived/received``                                             delivered
  5   fulfillment ``fulfilled/partial/problem``                                    shipped
  6   fulfillment ``preparing`` and financial paid-like or ``cod``                  ready_to_ship
  7   financial ``cod`` (cash on delivery: nothing to wait for)                    ready_to_ship
  8   financial ``paid/remitted/pending_refund/pending_partial_refund/             paid
      partial_refunded``
  9   order_status ``closed`` (closed without a fulfillment, e.g. pickup)           completed
 10   financial ``pending/failed``                                                 unpaid
====  ==========================================================================  ==============

An axis value outside the documented enums makes the order :class:`UnmappableOrder` (held with the
value named) rather than guessing: a new Cyberbiz status must be looked at, not silently mapped.
``platform_status`` keeps all four axes as ``order/financial/fulfillment/return``.
``paid_at`` is ``timings.confirmed_at`` when the order is paid-like (Cyberbiz has no separate paid
time in the list payload — a documented choice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from platforms.amounts import AmountError, decimal_amount, round_to_places
from platforms.base import Address, Buyer, Order, OrderLine, UnmappableOrder
from platforms.cyberbiz.combos import ComboError, ComboRules, expand

__all__ = ["TAIPEI", "map_order", "canonical_status", "platform_status", "parse_local", "format_local", "money",
           "ORDER_STATUSES", "FINANCIAL_STATUSES", "FULFILLMENT_STATUSES", "RETURN_STATUSES", "MappingError"]

TAIPEI = ZoneInfo("Asia/Taipei")
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIMESTAMP_RE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}(?::\d{2})?) ?(?P<offset>[+-]\d{4})?$")

ORDER_STATUSES = frozenset({"open", "closed", "cancelled"})
FINANCIAL_STATUSES = frozenset({"pending", "paid", "cod", "remitted", "failed", "pending_refund",
                                "pending_partial_refund", "partial_refunded", "refunded"})
FULFILLMENT_STATUSES = frozenset({"unshipped", "preparing", "partial", "fulfilled", "arrived", "received",
                                  "returned", "expired", "problem"})
RETURN_STATUSES = frozenset({"no_need", "request_return", "returning", "checking", "refused", "returned",
                             "partial_return", "in_origin_cvs", "in_hub", "problem"})

_PAID_LIKE = frozenset({"paid", "remitted", "pending_refund", "pending_partial_refund", "partial_refunded"})
_SHIPPED_DONE = frozenset({"fulfilled", "arrived", "received"})
_CURRENCY_DECIMALS = {"TWD": 0, "JPY": 0, "KRW": 0, "VND": 0}


class MappingError(ValueError):
    """A field cannot be mapped; the message names the field (becomes UnmappableOrder.reason)."""


# ------------------------------------------------------------------------------------------- time
def parse_local(value: Any, field: str) -> datetime:
    """Taipei-local ``YYYY-MM-DD HH:MM:SS`` → aware UTC.

    CBZ-SPEC's ``Timestamp``: no zone as a rule, but V2 endpoints occasionally write
    ``YYYY-MM-DD HH:MM:SS +0800`` or ``YYYY-MM-DD HH:MM+0800``; an explicit offset is honoured,
    seconds may be missing. Never parsed as UTC.
    """
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{field} is missing")
    match = _TIMESTAMP_RE.match(value.strip())
    if not match:
        raise MappingError(f"{field} {value!r} is not 'YYYY-MM-DD HH:MM:SS'")
    date_part, time_part, offset = match.group("date"), match.group("time"), match.group("offset")
    try:
        local = datetime.strptime(f"{date_part} {time_part}", "%Y-%m-%d %H:%M:%S" if len(time_part) == 8
                                  else "%Y-%m-%d %H:%M")
    except ValueError:
        raise MappingError(f"{field} {value!r} is not a valid date and time") from None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        return local.replace(tzinfo=timezone(sign * delta)).astimezone(UTC)
    return local.replace(tzinfo=TAIPEI).astimezone(UTC)


def parse_local_optional(value: Any, field: str) -> datetime | None:
    return None if value in (None, "") else parse_local(value, field)


def format_local(when: datetime) -> str:
    """Aware datetime → Taipei-local ``YYYY-MM-DD HH:MM:SS`` (the API's filter format)."""
    if when.tzinfo is None:
        raise ValueError("format_local needs an aware datetime")
    return when.astimezone(TAIPEI).strftime(LOCAL_FORMAT)


# ------------------------------------------------------------------------------------------ money
def money(value: Any, field: str, currency: str = "TWD") -> Decimal:
    """A JSON number (float in Cyberbiz) → Decimal with the currency's decimals, never via binary float."""
    if value is None or value == "":
        return Decimal("0")
    try:
        amount = decimal_amount(value, field)
    except AmountError as exc:
        raise MappingError(str(exc)) from None
    return round_to_places(amount, _places(currency))


def _quantity(value: Any, field: str) -> Decimal:
    try:
        qty = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{field} {value!r} is not a number") from None
    if value is None or isinstance(value, bool) or not qty.is_finite() or qty <= 0:
        raise MappingError(f"{field} {value!r} is not a positive quantity")
    return qty


# ----------------------------------------------------------------------------------------- status
def _axes(raw: Mapping[str, Any]) -> tuple[str, str, str, str]:
    statuses = raw.get("statuses")
    if not isinstance(statuses, Mapping):
        raise MappingError("statuses is missing")
    values = []
    for key, known in (("order_status", ORDER_STATUSES), ("financial_status", FINANCIAL_STATUSES),
                       ("fulfillment_status", FULFILLMENT_STATUSES), ("return_status", RETURN_STATUSES)):
        value = statuses.get(key)
        if key == "return_status" and value in (None, ""):
            value = "no_need"
        if value not in known:
            raise MappingError(f"unknown statuses.{key} {value!r} (known: {', '.join(sorted(known))})")
        values.append(value)
    return values[0], values[1], values[2], values[3]


def canonical_status(order_status: str, financial: str, fulfillment: str, return_status: str) -> str:
    """The canonical status of the four Cyberbiz axes (rules in the module docstring, first match wins)."""
    if order_status == "cancelled":
        return "cancelled"
    if financial == "refunded" or fulfillment in ("returned", "expired") or return_status == "returned":
        return "returned"
    if order_status == "closed" and fulfillment in _SHIPPED_DONE:
        return "completed"
    if fulfillment in ("arrived", "received"):
        return "delivered"
    if fulfillment in ("fulfilled", "partial", "problem"):
        return "shipped"
    if fulfillment == "preparing" and (financial in _PAID_LIKE or financial == "cod"):
        return "ready_to_ship"
    if financial == "cod":
        return "ready_to_ship"
    if financial in _PAID_LIKE:
        return "paid"
    if order_status == "closed":
        return "completed"
    return "unpaid"


def platform_status(raw: Mapping[str, Any]) -> str:
    statuses = raw.get("statuses") or {}
    return "/".join(str(statuses.get(k) or "") for k in
                    ("order_status", "financial_status", "fulfillment_status", "return_status"))


# ------------------------------------------------------------------------------------------ parts
def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _places(currency: str) -> int:
    return _CURRENCY_DECIMALS.get(currency.upper(), 2)


def _lines(raw: Mapping[str, Any], index: int, currency: str, combos: ComboRules) -> list[OrderLine]:
    """One Cyberbiz line as canonical lines: itself, or the products of a combo."""
    line = _line(raw, index, currency)
    try:
        return expand(line, raw, f"line_items[{index}]", places=_places(currency), rules=combos)
    except ComboError as exc:
        raise MappingError(str(exc)) from None


def _line(raw: Mapping[str, Any], index: int, currency: str) -> OrderLine:
    where = f"line_items[{index}]"
    qty = _quantity(raw.get("quantity"), f"{where}.quantity")
    unit_price = money(raw.get("price"), f"{where}.price", currency)
    discount = Decimal("0")
    after = raw.get("total_price_after_discounts")
    if raw.get("total_discount") is not None:
        discount = max(Decimal("0"), money(raw["total_discount"], f"{where}.total_discount", currency))
    elif after is not None:
        discount = max(Decimal("0"), unit_price * qty - money(after, f"{where}.total_price_after_discounts",
                                                              currency))
    title = _text(raw.get("title"))
    variant = _text(raw.get("variant_title"))
    name = f"{title} {variant}" if title and variant else (title or variant)
    return OrderLine(sku=_text(raw.get("sku")), name=name, qty=qty, unit_price=unit_price, discount=discount,
                     external_line_id=_text(raw.get("id")))


def _address(raw: Mapping[str, Any]) -> Address:
    receiver = raw.get("receiver") or {}
    if not isinstance(receiver, Mapping):
        raise MappingError("receiver is not an object")
    detail = receiver.get("detail_address") or {}
    cvs = _text(receiver.get("cvs_store_id"))
    country = _text(detail.get("country"))
    return Address(name=_text(receiver.get("name")), phone=_text(receiver.get("phone")),
                   country=country.upper() if country and len(country) == 2 and country.isascii() else "TW",
                   state=_text(detail.get("province")), city=_text(detail.get("city")),
                   district=_text(detail.get("district")),
                   zip=_text(detail.get("zip")), line1=_text(detail.get("address1")),
                   line2=f"超商門市 {cvs}" if cvs else _text(detail.get("address2")),
                   full=_text(receiver.get("address")))


def _buyer(raw: Mapping[str, Any]) -> Buyer:
    customer = raw.get("customer") or {}
    buyer = raw.get("buyer") or {}
    return Buyer(id=_text(customer.get("id")), name=_text(customer.get("name")),
                 email=_text(customer.get("email")) or _text(buyer.get("email")),
                 phone=_text(customer.get("mobile")) or _text(buyer.get("mobile")))


# ------------------------------------------------------------------------------------------ order
def map_order(raw: Any, *, channel: str | None = None, currency: str = "TWD",
              combos: ComboRules | None = None) -> Order | UnmappableOrder:
    """One Cyberbiz order object → :class:`Order`, or :class:`UnmappableOrder` naming what is wrong."""
    if not isinstance(raw, Mapping):
        return UnmappableOrder(None, raw if isinstance(raw, str) else repr(raw), "order is not a JSON object")
    external_id = _text(raw.get("id"))
    if not external_id:
        return UnmappableOrder(None, raw, "order has no id")
    try:
        return _map(raw, external_id, channel, currency, combos or ComboRules())
    except MappingError as exc:
        return UnmappableOrder(external_id, raw, str(exc))


def _map(raw: Mapping[str, Any], external_id: str, channel: str | None, currency: str, combos: ComboRules) -> Order:
    order_status, financial, fulfillment, return_status = _axes(raw)
    items = raw.get("line_items")
    if not isinstance(items, list) or not items:
        raise MappingError("line_items is missing or empty")
    lines = tuple(line for i, item in enumerate(items)
                  for line in _lines(item if isinstance(item, Mapping) else {}, i, currency, combos))
    prices = raw.get("prices") or {}
    shipping = money(prices.get("shipping_rate_price"), "prices.shipping_rate_price", currency)
    total_raw = prices.get("total_price", raw.get("total_price"))
    total = money(total_raw, "prices.total_price", currency) if total_raw is not None else None
    discount = Decimal("0")
    if total is not None:
        lines_net = sum((line.unit_price * line.qty - line.discount for line in lines), Decimal("0"))
        discount = max(Decimal("0"), lines_net + shipping - total)
    created = parse_local(raw.get("created_at"), "created_at")
    updated = parse_local_optional(raw.get("updated_at"), "updated_at") or created
    timings = raw.get("timings") or {}
    paid_at = None
    if financial in _PAID_LIKE or financial == "refunded":
        paid_at = parse_local_optional(timings.get("confirmed_at"), "timings.confirmed_at")
    fulfillments = raw.get("fulfillments") or []
    packages = tuple(str(f["id"]) for f in fulfillments if isinstance(f, Mapping) and f.get("id") is not None)
    return Order(
        external_id=external_id,
        status=canonical_status(order_status, financial, fulfillment, return_status),
        platform_status=f"{order_status}/{financial}/{fulfillment}/{return_status}",
        created_at=created, updated_at=updated, paid_at=paid_at, currency=currency.upper(), lines=lines,
        total=total, shipping_fee=shipping, discount=discount, payment_method=_text(raw.get("payment_method")),
        buyer=_buyer(raw), shipping_address=_address(raw), note=_text(raw.get("note")), packages=packages,
        raw=raw, channel=channel,
    )
