"""The pure Shopee mapper: status table, money, times, masking, unmappable orders, and a property test."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platforms.base import Order, UnmappableOrder
from platforms.shopee.mapping import STATUS_MAP, canonical_status, map_order, money

DOC_EXAMPLE = {  # the trimmed get_order_detail example of the spec
    "order_sn": "2404098R48U37H", "region": "VN", "currency": "VND", "cod": True, "order_status": "COMPLETED",
    "create_time": 1712601591, "update_time": 1713139948, "pay_time": 1712817766, "days_to_ship": 2,
    "ship_by_date": 1712671200, "buyer_username": "xt4fdsf96j", "total_amount": 32119,
    "payment_method": "Cash on Delivery",
    "recipient_address": {"name": "P******n", "phone": "******64", "city": "Huyện Phước Long", "state": "Bạc Liêu",
                          "region": "VN", "zipcode": "", "full_address": "Ấp******"},
    "item_list": [{"item_id": 23620853561, "model_id": 221404189791, "model_sku": "QAZ-SADOER-05",
                   "model_quantity_purchased": 1, "model_original_price": 300000, "model_discounted_price": 48000}],
    "package_list": [{"package_number": "OFG166300791210964", "logistics_status": "LOGISTICS_DELIVERY_DONE",
                      "logistics_channel_id": 18080, "shipping_carrier": "5-Day Delivery (SPX)"}],
}


def test_shopee_maps_the_spec_example():
    order = map_order(DOC_EXAMPLE, "vn-shop")
    assert isinstance(order, Order)
    assert order.status == "completed" and order.platform_status == "COMPLETED" and order.channel == "vn-shop"
    assert order.created_at == datetime(2024, 4, 8, 18, 39, 51, tzinfo=UTC)
    assert order.total == Decimal("32119") and order.currency == "VND"
    line = order.lines[0]
    assert line.sku == "QAZ-SADOER-05" and line.unit_price == Decimal("300000") and line.discount == Decimal("252000")
    assert order.shipping_address.masked and order.shipping_address.name == "P******n"
    assert order.shipping_address.zip is None and order.packages == ("OFG166300791210964",)
    assert order.raw is DOC_EXAMPLE


@pytest.mark.parametrize(("raw", "canonical"), sorted(STATUS_MAP.items()))
def test_shopee_status_table(raw, canonical):
    assert canonical_status(raw) == canonical
    assert map_order({**DOC_EXAMPLE, "order_status": raw}).status == canonical


@pytest.mark.parametrize(("logistics", "pay_time", "expected"), [
    ("LOGISTICS_READY", 1712817766, "ready_to_ship"), ("LOGISTICS_NOT_START", None, "unpaid"),
    ("LOGISTICS_REQUEST_CREATED", 1712817766, "shipped"), ("LOGISTICS_PICKUP_DONE", 1712817766, "shipped"),
    ("LOGISTICS_DELIVERY_DONE", 1712817766, "delivered")])
def test_shopee_in_cancel_is_a_request_on_the_status_the_package_shows(logistics, pay_time, expected):
    """guide 31: IN_CANCEL = "The order's cancelation is under processing"; the seller may reject it
    (handle_buyer_cancellation), so the order is not cancelled: it keeps its own status and carries the request."""
    raw = {**DOC_EXAMPLE, "order_status": "IN_CANCEL", "pay_time": pay_time, "buyer_cancel_reason": "Others",
           "package_list": [{**DOC_EXAMPLE["package_list"][0], "logistics_status": logistics}]}
    order = map_order(raw)
    assert order.status == expected and order.platform_status == "IN_CANCEL"
    assert order.cancel_request.reason == "Others" and order.cancel_request.reference == DOC_EXAMPLE["order_sn"]
    assert order.cancel_request.requested_at == order.updated_at and order.cancel_request.allowed is True
    assert map_order({**raw, "order_status": "CANCELLED"}).cancel_request is None


def test_shopee_arranged_order_carries_the_tracking_number_it_is_given():
    order = map_order({**DOC_EXAMPLE, "order_status": "PROCESSED"}, tracking_number="TW123")
    assert (order.status, order.tracking_number) == ("shipped", "TW123")
    assert map_order({**DOC_EXAMPLE, "order_status": "TO_CONFIRM_RECEIVE"}).status == "delivered"


@pytest.mark.parametrize("raw", ["PENDING", "INVOICE_PENDING"])
def test_shopee_pending_states_depend_on_pay_time(raw):
    assert map_order({**DOC_EXAMPLE, "order_status": raw}).status == "paid"
    assert map_order({**DOC_EXAMPLE, "order_status": raw, "pay_time": None}).status == "unpaid"


def test_shopee_money_uses_currency_decimals_without_float_math():
    assert money(480.0, "TWD", "x") == Decimal("480") and str(money(480.0, "TWD", "x")) == "480"
    assert money(199.9, "SGD", "x") == Decimal("199.90")
    assert money(0.1 + 0.2, "SGD", "x") == Decimal("0.30")
    assert money(10.5, "TWD", "x") == Decimal("11")  # half-up


@pytest.mark.parametrize(("change", "reason"), [
    ({"order_status": "TELEPORTED"}, "unknown Shopee order_status"),
    ({"item_list": []}, "no item_list"),
    ({"order_sn": ""}, "no order_sn"),
    ({"create_time": "yesterday"}, "create_time is not a Unix timestamp"),
    ({"total_amount": "lots"}, "total_amount is not an amount"),
    ({"currency": None}, "no currency"),
    ({"item_list": [{"model_quantity_purchased": 0, "model_original_price": 1}]}, "positive integer"),
])
def test_shopee_unmappable_orders_say_why(change, reason):
    result = map_order({**DOC_EXAMPLE, **change})
    assert isinstance(result, UnmappableOrder) and reason in result.reason


def test_shopee_unmappable_not_a_mapping():
    assert isinstance(map_order("garbage"), UnmappableOrder)  # type: ignore[arg-type]


def _walk(value):
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            if f.name != "raw":
                yield from _walk(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


amounts = st.one_of(st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False),
                    st.integers(min_value=0, max_value=10**7))
items = st.fixed_dictionaries({
    "item_id": st.integers(1, 10**9), "model_id": st.integers(0, 10**9),
    "model_sku": st.text(max_size=8), "item_name": st.text(max_size=8),
    "model_quantity_purchased": st.integers(1, 50),
    "model_original_price": amounts, "model_discounted_price": amounts,
})
raw_orders = st.fixed_dictionaries({
    "order_sn": st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTUVWXYZ", min_size=1, max_size=14),
    "currency": st.sampled_from(["TWD", "SGD", "VND", "MYR"]),
    "order_status": st.sampled_from([*STATUS_MAP, "PENDING", "INVOICE_PENDING", "NEW_STATUS"]),
    "create_time": st.integers(0, 2**31), "update_time": st.integers(0, 2**31),
    "pay_time": st.one_of(st.none(), st.integers(1, 2**31)),
    "total_amount": st.one_of(st.none(), amounts),
    "actual_shipping_fee": st.one_of(st.none(), amounts),
    "item_list": st.lists(items, min_size=0, max_size=4),
    "recipient_address": st.dictionaries(st.sampled_from(["name", "phone", "city", "zipcode"]),
                                         st.sampled_from(["****", "臺北市", "", "0912"])),
})


@settings(max_examples=150, deadline=None)
@given(raw_orders)
def test_shopee_no_mapped_order_has_float_money_or_naive_time(raw):
    result = map_order(raw)
    if isinstance(result, UnmappableOrder):
        assert result.reason
        return
    for value in _walk(result):
        assert not isinstance(value, float)
        if isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0
    for amount in (result.total, result.shipping_fee, *(ln.unit_price for ln in result.lines)):
        if amount is not None:
            assert amount.as_tuple().exponent == (0 if result.currency in ("TWD", "VND") else -2)


def test_shopee_taipei_midnight_is_utc_previous_afternoon():
    from zoneinfo import ZoneInfo

    taipei_new_year = datetime(2026, 1, 1, 0, 0, 0, tzinfo=ZoneInfo("Asia/Taipei"))
    order = map_order({**DOC_EXAMPLE, "create_time": int(taipei_new_year.timestamp())})
    assert order.created_at == datetime(2025, 12, 31, 16, 0, 0, tzinfo=UTC)
    assert order.created_at.tzinfo is UTC and order.created_at == taipei_new_year
