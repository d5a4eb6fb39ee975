"""Cyberbiz mapping (pure): the spec's golden record, the four status axes, money and Taipei time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from platforms.base import Order, UnmappableOrder
from platforms.cyberbiz.mapping import canonical_status, format_local, map_order, money, parse_local

GOLDEN = {
    "id": 56943817, "order_number": 1101, "order_name": "#1101", "created_at": "2026-09-07 12:35:05",
    "updated_at": "2026-09-07 12:35:06", "subtotal_price": 9999.0,
    "customer": {"id": 42058619, "name": "王小明", "email": "ming@example.com", "mobile": "0912345678"},
    "buyer": {"email": "ming@example.com", "mobile": None},
    "receiver": {"name": "王小明", "phone": "0912345678", "address": "106臺北市大安區復興南路一段1號",
                 "detail_address": {"zip": "106", "city": "臺北市", "district": "大安區",
                                    "address1": "復興南路一段1號"},
                 "cvs_store_id": None},
    "line_items": [{"id": 126360067, "product_id": 68751035, "product_variant_id": 83653695, "title": "哥本組",
                    "variant_title": "", "sku": None, "price": 9999.0, "quantity": 1,
                    "total_price_after_discounts": 9999.0}],
    "shipping_type": "cyberbiz", "shipping_name": "門市取貨", "fulfillments": [], "payment_method": "銀行轉帳",
    "prices": {"total_line_items_price": 9999.0, "shipping_rate_price": 0.0, "total_price": 9999.0},
    "statuses": {"order_status": "open", "financial_status": "pending", "fulfillment_status": "unshipped",
                 "return_status": "no_need"},
    "timings": {"refund_at": None, "closed_at": None, "cancelled_at": None, "confirmed_at": "2026-09-07 12:35:05"},
    "note": "", "tags": [],
}


def test_cyberbiz_golden_record_maps_to_canonical_order():
    order = map_order(GOLDEN, channel="cbz-main")
    assert isinstance(order, Order)
    assert order.external_id == "56943817"
    assert order.status == "unpaid" and order.platform_status == "open/pending/unshipped/no_need"
    assert order.created_at == datetime(2026, 9, 7, 4, 35, 5, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 9, 7, 4, 35, 6, tzinfo=UTC)
    assert order.paid_at is None
    assert order.total == Decimal("9999") and isinstance(order.total, Decimal)
    assert order.shipping_fee == Decimal("0") and order.discount == Decimal("0")
    assert order.currency == "TWD" and order.channel == "cbz-main"
    line = order.lines[0]
    assert line.sku is None and line.name == "哥本組" and line.external_line_id == "126360067"
    assert line.qty == Decimal("1") and line.unit_price == Decimal("9999") and line.discount == Decimal("0")
    address = order.shipping_address
    assert (address.name, address.phone, address.zip, address.city, address.district, address.line1) == (
        "王小明", "0912345678", "106", "臺北市", "大安區", "復興南路一段1號")
    assert address.country == "TW" and address.full.startswith("106臺北市")
    assert order.buyer.id == "42058619" and order.buyer.phone == "0912345678"
    assert order.payment_method == "銀行轉帳" and order.note is None
    assert order.raw["order_name"] == "#1101"


@pytest.mark.parametrize(("axes", "expected"), [
    (("open", "pending", "unshipped", "no_need"), "unpaid"),
    (("open", "failed", "unshipped", "no_need"), "unpaid"),
    (("open", "paid", "unshipped", "no_need"), "paid"),
    (("open", "remitted", "unshipped", "no_need"), "paid"),
    (("open", "cod", "unshipped", "no_need"), "ready_to_ship"),
    (("open", "paid", "preparing", "no_need"), "ready_to_ship"),
    (("open", "paid", "partial", "no_need"), "shipped"),
    (("open", "paid", "fulfilled", "no_need"), "shipped"),
    (("open", "cod", "fulfilled", "no_need"), "shipped"),
    (("open", "paid", "arrived", "no_need"), "delivered"),
    (("open", "paid", "received", "no_need"), "delivered"),
    (("closed", "paid", "fulfilled", "no_need"), "completed"),
    (("closed", "paid", "received", "no_need"), "completed"),
    (("closed", "paid", "unshipped", "no_need"), "paid"),
    (("closed", "pending", "unshipped", "no_need"), "completed"),
    (("cancelled", "paid", "fulfilled", "no_need"), "cancelled"),
    (("cancelled", "refunded", "returned", "returned"), "cancelled"),
    (("open", "refunded", "fulfilled", "no_need"), "returned"),
    (("open", "paid", "returned", "no_need"), "returned"),
    (("open", "paid", "arrived", "returned"), "returned"),
    (("open", "paid", "expired", "no_need"), "returned"),
    (("open", "partial_refunded", "fulfilled", "partial_return"), "shipped"),
])
def test_cyberbiz_status_axes_table(axes, expected):
    assert canonical_status(*axes) == expected
    raw = copy.deepcopy(GOLDEN)
    raw["statuses"] = dict(zip(("order_status", "financial_status", "fulfillment_status", "return_status"), axes,
                               strict=True))
    assert map_order(raw).status == expected


def test_cyberbiz_unknown_status_is_unmappable_with_the_value_named():
    raw = copy.deepcopy(GOLDEN)
    raw["statuses"]["fulfillment_status"] = "teleported"
    result = map_order(raw)
    assert isinstance(result, UnmappableOrder)
    assert result.external_id == "56943817" and "fulfillment_status 'teleported'" in result.reason


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda r: r.pop("created_at"), "created_at is missing"),
    (lambda r: r.update(created_at="2026/09/07 12:35"), "created_at '2026/09/07 12:35'"),
    (lambda r: r.update(line_items=[]), "line_items"),
    (lambda r: r["line_items"][0].update(price="abc"), "line_items[0].price"),
    (lambda r: r["line_items"][0].update(quantity=0), "line_items[0].quantity"),
    (lambda r: r.pop("statuses"), "statuses is missing"),
])
def test_cyberbiz_bad_fields_become_unmappable(mutate, reason):
    raw = copy.deepcopy(GOLDEN)
    mutate(raw)
    result = map_order(raw)
    assert isinstance(result, UnmappableOrder) and reason in result.reason


def test_cyberbiz_not_an_object_or_no_id_is_unmappable():
    assert map_order("garbage").reason == "order is not a JSON object"
    no_id = copy.deepcopy(GOLDEN)
    no_id.pop("id")
    assert map_order(no_id).external_id is None


def test_cyberbiz_float_money_becomes_exact_decimal():
    assert money(0.1 + 0.2, "x", "USD") == Decimal("0.30")
    assert money(9999.0, "x") == Decimal("9999")
    assert money(99.5, "x") == Decimal("100")  # TWD has no decimals: half-up
    assert money(None, "x") == Decimal("0")
    raw = copy.deepcopy(GOLDEN)
    raw["line_items"] = [{"id": 1, "title": "茶", "sku": "TEA", "price": 480.0, "quantity": 2,
                          "total_price_after_discounts": 900.0}]
    raw["prices"] = {"shipping_rate_price": 60.0, "total_price": 910.0}
    order = map_order(raw, currency="twd")
    assert order.lines[0].discount == Decimal("60")
    assert order.shipping_fee == Decimal("60") and order.total == Decimal("910")
    assert order.discount == Decimal("50")  # 900 + 60 - 910: an order-level discount
    assert order.currency == "TWD"


def test_cyberbiz_taipei_midnight_converts_to_previous_utc_day():
    assert parse_local("2026-03-15 00:00:00", "t") == datetime(2026, 3, 14, 16, 0, tzinfo=UTC)
    assert parse_local("2026-03-14 23:59:59", "t") == datetime(2026, 3, 14, 15, 59, 59, tzinfo=UTC)
    assert format_local(datetime(2026, 3, 14, 16, 0, tzinfo=UTC)) == "2026-03-15 00:00:00"
    assert format_local(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == "2027-01-01 00:00:00"


def test_cyberbiz_paid_order_takes_confirmed_at_and_cvs_store():
    raw = copy.deepcopy(GOLDEN)
    raw["statuses"]["financial_status"] = "paid"
    raw["receiver"]["cvs_store_id"] = "123456"
    raw["fulfillments"] = [{"id": 77, "tracking_number": "T1"}]
    order = map_order(raw)
    assert order.paid_at == datetime(2026, 9, 7, 4, 35, 5, tzinfo=UTC)
    assert order.shipping_address.line2 == "超商門市 123456"
    assert order.packages == ("77",)


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-09-01 10:00:00", datetime(2026, 9, 1, 2, 0, tzinfo=UTC)),
    ("2026-09-01 10:00:00 +0800", datetime(2026, 9, 1, 2, 0, tzinfo=UTC)),
    ("2026-09-01 10:00+0800", datetime(2026, 9, 1, 2, 0, tzinfo=UTC)),
    ("2026-09-01 10:00", datetime(2026, 9, 1, 2, 0, tzinfo=UTC)),
    ("2026-09-01 02:00:00 +0000", datetime(2026, 9, 1, 2, 0, tzinfo=UTC)),
])
def test_cyberbiz_timestamp_variants_of_v2_endpoints(text, utc):
    assert parse_local(text, "t") == utc


def test_cyberbiz_impossible_timestamp_is_named():
    raw = copy.deepcopy(GOLDEN)
    raw["updated_at"] = "2026-02-30 10:00:00"
    assert "updated_at '2026-02-30 10:00:00' is not a valid date" in map_order(raw).reason


def test_cyberbiz_line_total_discount_and_address_extras():
    raw = copy.deepcopy(GOLDEN)
    raw["line_items"][0].update(price=480.0, quantity=2, total_price_before_discounts=960.0, total_discount=96.0,
                                total_price_after_discounts=864.0, variant_title="紅色")
    raw["prices"] = {"shipping_rate_price": 0.0, "total_price": 814.0, "discounts": {"coupon_discount": 50.0}}
    raw["receiver"]["detail_address"].update(country="tw", province="臺灣省", address2="3樓")
    order = map_order(raw)
    assert order.lines[0].discount == Decimal("96") and order.lines[0].name == "哥本組 紅色"
    assert order.discount == Decimal("50")
    assert order.shipping_address.country == "TW" and order.shipping_address.state == "臺灣省"
    assert order.shipping_address.line2 == "3樓"
    raw["receiver"]["detail_address"]["country"] = "台灣"
    assert map_order(raw).shipping_address.country == "TW"
