"""Shopline's documented example payloads through the mapper and the adapter: the amounts and fields a person
reads off the pages (tests/shopline/shopline_documented.py names each page)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import shopline_documented as doc

from platforms.base import ChannelConfig, Order, PermanentError, PlatformConfig, RateLimited, UnmappableOrder
from platforms.shopline.adapter import ShoplineAdapter
from platforms.shopline.client import classify
from platforms.shopline.delivery import shipment_recorded, tracking_number_of
from platforms.shopline.mapping import map_order, money

NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "reads"), [
    (doc.ITEM_PRICE, "888"), (doc.ORIGINAL_PRICE, "900"), (doc.SALE_PRICE, "500"), (doc.COST, "100"),
    (doc.DELIVERY_FEE, "130"), (doc.OTHER_FEE, "120"), (doc.TOTAL_AMOUNT, "419"),
])
def test_each_documented_money_object_is_the_amount_its_label_shows(value, reads):
    """NT$888 is 888 dollars: cents equal dollars in TWD, never cents / 100."""
    amount = money(value, "x")
    assert amount == Decimal(reads) and str(amount) == reads and value["label"] == f"NT${reads}"


def test_the_documented_order_maps_to_the_amounts_on_the_page():
    order = map_order(doc.ORDER, channel="shopline-test")
    assert isinstance(order, Order), order
    (line,) = order.lines
    assert (line.sku, line.name, line.qty, line.unit_price, line.discount) == (
        "sl_watch_red_m", "Sl 手錶", Decimal(1), Decimal(888), Decimal(0))
    assert line.external_line_id == "5b2b64bd8d1db91156002687"
    assert (order.total, order.shipping_fee, order.discount, order.currency) == (
        Decimal(1018), Decimal(130), Decimal(0), "TWD")
    assert order.total == sum(ln.unit_price * ln.qty for ln in order.lines) + order.shipping_fee - order.discount
    assert order.external_id == "5d8c8b3be388095d25acbc89" and order.raw["order_number"] == "2019052707260498"
    assert order.status == "ready_to_ship" and order.platform_status == "confirmed/completed/pending"
    assert order.packages == ("5e3d898d622a5606b929d686",)


def test_the_mapper_of_round_one_held_the_documented_order():
    """Regression (issue 12): the old mapper divided cents by 100 and held NT$888 as 'cents and dollars disagree'.
    Fed the same item with cents counted in hundredths, the mapper now holds it, because cents must equal dollars
    in TWD; the documented item maps."""
    hundredths = doc.order(subtotal_items=[{**doc.SUBTOTAL_ITEM, "item_price": {**doc.ITEM_PRICE, "cents": 88800}}])
    held = map_order(hundredths)
    assert isinstance(held, UnmappableOrder) and "cents 88800 and dollars 888.0 disagree" in held.reason
    assert isinstance(map_order(doc.ORDER), Order)


def test_the_documented_token_answer_gives_six_months_and_the_merchant():
    adapter = ShoplineAdapter(PlatformConfig(host="http://127.0.0.1:9", app_id="a", app_secret="s"),
                              ChannelConfig(name="c", settings={"auth_model": "oauth"}), clock=lambda: NOW)
    tokens = adapter._token_set(doc.TOKEN_ANSWER, redirect_uri="https://bridge.example/oauth/callback/shopline")
    assert tokens.access_expires_at == NOW + timedelta(seconds=15778476)  # ≈ 182.6 days
    assert tokens.refresh_expires_at == tokens.access_expires_at + timedelta(days=1)  # refresh-token page
    assert tokens.extra["resource_owner_id"] == tokens.extra["shop_id"] == "5f0bda5e4e5fca0010c81fef"
    assert tokens.refresh_token == doc.TOKEN_ANSWER["refresh_token"] and tokens.extra["scope"] == "products orders"


def test_the_documented_shipment_answers_read_as_recorded():
    booked = doc.order(order_delivery={**doc.ORDER["order_delivery"],
                                       "delivery_status": doc.EXECUTE_SHIPMENT_ANSWER["delivery_status"]},
                       delivery_data={"tracking_number": doc.EXECUTE_SHIPMENT_ANSWER["tracking_number"]})
    assert shipment_recorded(booked) and tracking_number_of(booked) == "SL0123456789"
    marked = doc.order(order_delivery={**doc.ORDER["order_delivery"], "status": doc.DELIVERY_STATUS_ANSWER["status"]})
    assert shipment_recorded(marked) and tracking_number_of(marked) is None
    assert not shipment_recorded(doc.ORDER)


def _response(status: int, body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    return response


def test_the_documented_errors_are_typed():
    with pytest.raises(RateLimited) as limited:
        classify(_response(429, doc.RATE_LIMITED))
    assert limited.value.retry_after == 1.0 and limited.value.code == "RateLimitExceeded"
    with pytest.raises(PermanentError, match="integrated delivery service error") as refused:
        classify(_response(422, doc.EXECUTE_SHIPMENT_FAILURE))
    assert refused.value.code == "0004"
