"""Pure Shopline mapping: money from cents, UTC times, the status table, lines, unmappable orders."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from platforms.base import Order, UnmappableOrder
from platforms.shopline.mapping import canonical_status, map_order, money


def _m(cents: int, currency: str = "TWD", dollars: float | None = None) -> dict:
    return {"cents": cents, "dollars": cents / 100 if dollars is None else dollars, "currency_iso": currency}


ORDER = {
    "id": "5f1a2b3c4d5e6f7a8b9c0d1e", "order_number": "2026031500001", "status": "confirmed",
    "total": _m(104000), "order_discount": _m(5000), "subtotal": _m(108000),
    "order_payment": {"status": "completed", "payment_type": "credit_card", "paid_at": "2026-03-14T16:00:00.000Z"},
    "order_delivery": {"id": "d1", "status": "pending", "total": _m(6000)},
    "delivery_address": {"country_code": "TW", "city": "臺北市", "district": "信義區", "postcode": "110",
                         "address_1": "忠孝東路100號5樓", "address_2": "", "recipient_name": "陳怡君",
                         "recipient_phone": "0912345678"},
    "customer_id": "c1", "customer_name": "陳怡君", "customer_email": "a@b.tw",
    "subtotal_items": [
        {"id": "i1", "quantity": 2, "item_price": _m(48000), "total": _m(96000), "sku": "TEA-OOLONG-150",
         "title_translations": {"zh-hant": "阿里山烏龍茶 150g", "en": "Oolong"}},
        {"id": "i2", "quantity": 1, "item_price": _m(12000), "total": _m(11000), "sku": "PEN-GEL-05",
         "title_translations": {"en": "Gel pen"}},
    ],
    "created_at": "2026-03-14T15:59:59.000Z", "updated_at": "2026-03-14T16:00:00.123Z",
}


def test_full_order_maps_with_decimal_money_and_utc():
    order = map_order(ORDER, channel="c")
    assert isinstance(order, Order)
    assert order.total == Decimal("1040") and order.shipping_fee == Decimal("60") and order.discount == Decimal("50")
    assert order.status == "ready_to_ship" and order.platform_status == "confirmed/completed/pending"
    assert order.created_at == datetime(2026, 3, 14, 15, 59, 59, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 3, 14, 16, 0, 0, 123000, tzinfo=UTC)
    assert order.paid_at == datetime(2026, 3, 14, 16, 0, tzinfo=UTC)
    first, second = order.lines
    assert (first.sku, first.name, first.qty, first.unit_price, first.discount) == (
        "TEA-OOLONG-150", "阿里山烏龍茶 150g", Decimal(2), Decimal(480), Decimal(0))
    assert second.name == "Gel pen" and second.discount == Decimal(10)
    assert order.shipping_address.city == "臺北市" and order.shipping_address.zip == "110"
    assert order.packages == ("d1",) and order.currency == "TWD"
    assert all(isinstance(v, Decimal) for v in (order.total, first.unit_price, first.qty))


@pytest.mark.parametrize(("value", "expected"), [
    (_m(48050), Decimal("480.50")), (_m(1, "USD"), Decimal("0.01")), ({"cents": 1500, "currency_iso": "JPY"},
                                                                      Decimal(1500)),
    ({"cents": "99900", "currency_iso": "HKD", "dollars": "999.0"}, Decimal("999.00")),
])
def test_money_uses_cents_and_minor_units(value, expected):
    assert money(value, "total") == expected


def test_money_decimals_are_configurable():
    assert money({"cents": 480, "dollars": 480.0, "currency_iso": "TWD"}, "x", {"TWD": 0}) == Decimal(480)


@pytest.mark.parametrize(("axes", "expected"), [
    (("pending", "pending", "pending", "credit_card"), "unpaid"),
    (("pending", "pending", "pending", "cash_on_delivery"), "paid"),
    (("pending", "completed", "pending", ""), "paid"),
    (("confirmed", "completed", "pending", ""), "ready_to_ship"),
    (("confirmed", "pending", "pending", "bank_transfer"), "unpaid"),
    (("confirmed", "completed", "shipping", ""), "shipped"),
    (("confirmed", "completed", "arrived", ""), "delivered"),
    (("confirmed", "completed", "collected", ""), "delivered"),
    (("completed", "completed", "arrived", ""), "completed"),
    (("cancelled", "refunded", "pending", ""), "cancelled"),
    (("confirmed", "refunded", "returned", ""), "returned"),
])
def test_status_table(axes, expected):
    assert canonical_status(*axes) == expected


@pytest.mark.parametrize(("change", "reason"), [
    (lambda o: o.update(total={"cents": 100, "currency_iso": "XXX"}), "minor units"),
    (lambda o: o.update(total=_m(104000, dollars=104000.0)), "disagree"),
    (lambda o: o.update(created_at="yesterday"), "created_at"),
    (lambda o: o["subtotal_items"][0].update(quantity=0), "quantity"),
    (lambda o: o["subtotal_items"][0].update(item_price=None, price=None), "item_price"),
    (lambda o: o.update(subtotal_items=[]), "subtotal_items"),
    (lambda o: o["subtotal_items"][1].update(total={"cents": 1.5, "currency_iso": "TWD"}), "cents"),
])
def test_bad_orders_are_unmappable_with_the_field_named(change, reason):
    raw = copy.deepcopy(ORDER)
    change(raw)
    result = map_order(raw)
    assert isinstance(result, UnmappableOrder) and result.external_id == ORDER["id"]
    assert reason in result.reason


def test_order_without_id_is_unmappable():
    result = map_order({"status": "pending"})
    assert isinstance(result, UnmappableOrder) and result.external_id is None


def test_whole_twd_amounts_carry_no_decimals_like_the_other_platforms():
    """TWD is priced in whole dollars: 28000 cents is 280 (not 280.00), real cents stay exact."""
    assert str(money({"cents": 28000, "currency_iso": "TWD"}, "total")) == "280"
    assert str(money({"cents": 28050, "currency_iso": "TWD"}, "total")) == "280.50"
    assert str(money({"cents": 28000, "currency_iso": "HKD"}, "total")) == "280.00"
