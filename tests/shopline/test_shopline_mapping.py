"""Pure Shopline mapping: money from dollars (cross-checked), UTC times, the status table, lines, unmappable orders."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from platforms.base import Order, OrderRef, UnmappableOrder
from platforms.shopline.mapping import canonical_status, is_archived_mark, map_order, money, order_ref


def _m(dollars: int | str, currency: str = "TWD") -> dict:
    """A TWD money object as Shopline writes it: cents equal dollars, the label shows the amount."""
    value = Decimal(str(dollars))
    return {"cents": int(value), "currency_symbol": "NT$", "currency_iso": currency, "label": f"NT${value:,.0f}",
            "dollars": float(value)}


ORDER = {
    "id": "5f1a2b3c4d5e6f7a8b9c0d1e", "order_number": "2026031500001", "status": "confirmed", "currency_iso": "TWD",
    "total": _m(1040), "order_discount": _m(50), "subtotal": _m(1080),
    "order_payment": {"status": "completed", "payment_type": "credit_card", "paid_at": "2026-03-14T16:00:00.000Z"},
    "order_delivery": {"id": "d1", "status": "pending", "total": _m(60)},
    "delivery_address": {"country_code": "TW", "city": "臺北市", "district": "信義區", "postcode": "110",
                         "address_1": "忠孝東路100號5樓", "address_2": "", "recipient_name": "陳怡君",
                         "recipient_phone": "0912345678"},
    "customer_id": "c1", "customer_name": "陳怡君", "customer_email": "a@b.tw",
    "subtotal_items": [
        {"id": "i1", "quantity": 2, "item_price": _m(480), "total": _m(960), "sku": "TEA-OOLONG-150",
         "title_translations": {"zh-hant": "阿里山烏龍茶 150g", "en": "Oolong"}},
        {"id": "i2", "quantity": 1, "item_price": _m(120), "total": _m(110), "sku": "PEN-GEL-05",
         "title_translations": {"en": "Gel pen"}},
    ],
    "created_at": "2026-03-14T15:59:59.000Z", "updated_at": "2026-03-14T16:00:00.123Z",
}


def test_full_order_maps_with_decimal_money_and_utc():
    order = map_order(ORDER, channel="c")
    assert isinstance(order, Order), order
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
    (_m(888), "888"),
    ({"cents": 900, "currency_iso": "TWD", "label": "NT$900", "dollars": 900}, "900"),  # dollars as a JSON integer
    (_m(12800), "12800"),  # label NT$12,800: the thousands separator is read
    ({"cents": 888, "currency_iso": "TWD", "dollars": 888.0}, "888"),  # no label: nothing to compare
    ({"cents": 888, "currency_iso": "TWD", "label": "", "dollars": 888.0}, "888"),
    ({"cents": 888, "currency_iso": "TWD", "label": "NT$888"}, "888"),  # no dollars: TWD cents are dollars
    ({"cents": 12050, "currency_iso": "HKD", "label": "HK$120.50", "dollars": 120.5}, "120.50"),
    ({"cents": 120, "currency_iso": "HKD", "label": "HK$120.00", "dollars": 120.0}, "120.00"),  # cents unused for HKD
    ({"currency_iso": "HKD", "dollars": "999.0"}, "999.00"),
    ({"cents": 1500, "currency_iso": "JPY", "label": "¥1,500", "dollars": 1500}, "1500"),
    ({"cents": 1999, "currency_iso": "XTS", "dollars": 19.99}, "19.99"),  # a currency we know nothing of: exact
])
def test_money_is_dollars_never_cents_over_a_hundred(value, expected):
    amount = money(value, "total")
    assert isinstance(amount, Decimal) and str(amount) == expected


def test_a_fractional_twd_amount_stays_exact():
    assert str(money({"cents": 10, "currency_iso": "TWD", "label": "NT$10.5", "dollars": 10.5}, "x",
                     cents_per_unit={"TWD": None})) == "10.5"


def test_cents_per_unit_turns_on_the_cents_check_for_another_currency():
    right = {"cents": 12050, "currency_iso": "HKD", "label": "HK$120.50", "dollars": 120.5}
    assert money(right, "x", cents_per_unit={"HKD": 100}) == Decimal("120.50")
    with pytest.raises(ValueError, match="cents 120 and dollars 120.5 disagree"):
        money({**right, "cents": 120}, "x", cents_per_unit={"HKD": 100})
    assert money({"cents": 12050, "currency_iso": "HKD"}, "x", cents_per_unit={"HKD": 100}) == Decimal("120.50")


def test_money_decimals_are_configurable():
    assert str(money({"currency_iso": "HKD", "dollars": 120.0}, "x", decimals={"HKD": 0})) == "120"


@pytest.mark.parametrize(("change", "reason"), [
    (lambda o: o.update(total={**_m(1040), "label": "NT$1,004"}), "label 'NT$1,004' does not show dollars 1040.0"),
    (lambda o: o.update(total={**_m(1040), "cents": 104000}), "cents 104000 and dollars 1040.0 disagree"),
    (lambda o: o.update(total={"cents": 100, "dollars": 1.0}), "total has no currency_iso"),
    (lambda o: o.update(total={**_m(1040), "currency_iso": "HKD"}), "total is in HKD, the order in TWD"),
    (lambda o: o.update(total={"cents": 104000, "currency_iso": "TWD", "label": "NT$1,040"}), "label 'NT$1,040'"),
    (lambda o: o.update(total="NT$1,040"), "expected a money object"),
    (lambda o: o.update(total={**_m(1040), "dollars": "a lot"}), "total.dollars is not an amount"),
    (lambda o: o.update(total={**_m(1040), "dollars": True}), "total.dollars is not an amount"),
    (lambda o: o.update(created_at="yesterday"), "created_at"),
    (lambda o: o["subtotal_items"][0].update(quantity=0), "quantity"),
    (lambda o: o["subtotal_items"][0].update(item_price=None, price=None), "item_price"),
    (lambda o: o.update(subtotal_items=[]), "subtotal_items"),
    (lambda o: o["subtotal_items"][1].update(total={"cents": 1.5, "currency_iso": "TWD", "dollars": 1.5}), "cents"),
    (lambda o: o.update(currency_iso=None, total={**_m(1040), "currency_iso": None}), "no currency_iso"),
])
def test_bad_orders_are_unmappable_with_the_field_named(change, reason):
    raw = copy.deepcopy(ORDER)
    change(raw)
    result = map_order(raw)
    assert isinstance(result, UnmappableOrder) and result.external_id == ORDER["id"]
    assert reason in result.reason


def test_more_decimals_than_the_currency_has_is_held():
    raw = copy.deepcopy(ORDER)
    hkd = {"currency_iso": "HKD", "dollars": 12.345}
    raw.update(currency_iso="HKD", total=hkd, order_discount=None, subtotal=None,
               order_delivery={"id": "d1", "status": "pending"},
               subtotal_items=[{"id": "i1", "quantity": 1, "item_price": hkd, "sku": "A"}])
    result = map_order(raw)
    assert isinstance(result, UnmappableOrder) and "has more decimals than HKD has (2)" in result.reason


def test_an_hkd_order_maps_from_dollars():
    hkd = {"cents": 12050, "currency_symbol": "HK$", "currency_iso": "HKD", "label": "HK$120.50", "dollars": 120.5}
    raw = copy.deepcopy(ORDER)
    raw.update(currency_iso="HKD", total=hkd, order_discount=None, subtotal=hkd,
               order_delivery={"id": "d1", "status": "pending"},
               subtotal_items=[{"id": "i1", "quantity": 1, "item_price": hkd, "total": hkd, "sku": "A"}])
    order = map_order(raw)
    assert isinstance(order, Order) and order.currency == "HKD"
    assert order.total == order.lines[0].unit_price == Decimal("120.50")


def test_order_without_id_is_unmappable():
    result = map_order({"status": "pending"})
    assert isinstance(result, UnmappableOrder) and result.external_id is None


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
    (("confirmed", "completed", "returning", ""), "returned"),
])
def test_status_table(axes, expected):
    assert canonical_status(*axes) == expected


def test_archived_mark_and_order_ref():
    assert is_archived_mark({"id": "x", "archived": True}) and not is_archived_mark(ORDER)
    assert is_archived_mark({"id": "x", "is_archived": True}, "is_archived")
    ref = order_ref(ORDER)
    assert ref == OrderRef(external_id=ORDER["id"], updated_at=datetime(2026, 3, 14, 16, 0, 0, 123000, tzinfo=UTC),
                           created_at=datetime(2026, 3, 14, 15, 59, 59, tzinfo=UTC),
                           platform_status="confirmed/completed/pending")
    assert order_ref({"id": "y", "updated_at": "garbage"}).updated_at is None
    assert order_ref({"status": "pending"}) is None and order_ref("junk") is None


def test_store_credit_counts_as_discount_only_when_the_admin_says_so():
    raw = {**copy.deepcopy(ORDER), "user_credit": _m(30), "order_points_to_cash": _m(20)}
    assert map_order(raw).discount == Decimal(50)
    assert map_order(raw, extra_discount_fields=("user_credit", "order_points_to_cash")).discount == Decimal(100)
    broken = map_order({**raw, "user_credit": {**_m(30), "label": "NT$3"}}, extra_discount_fields=("user_credit",))
    assert isinstance(broken, UnmappableOrder) and "user_credit: label" in broken.reason
