"""The pure parts: money, names, place names, discount split and the order JSON shape (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from oms_bridge.oms.addresses import ResolvedAddress, normalize_place
from oms_bridge.oms.config import OmsConfig
from oms_bridge.oms.serializers import ChannelRef, iso, money, order_json, split_name
from oms_bridge.store.models import Order, OrderLine
from oms_bridge.store.models.oms import OmsCity, OmsCountry, OmsDistrict, OmsOrderItem, OmsTownship


@pytest.mark.parametrize("value,text", [(None, "0.00"), (Decimal("480"), "480.00"), (Decimal("13.495"), "13.50"),
                                        (Decimal("-1.2"), "-1.20")])
def test_oms_money_is_a_two_place_string(value, text):
    assert money(value) == text


@pytest.mark.parametrize("name,parts", [("陳怡君", ("怡君", "陳")), ("John Smith", ("John", "Smith")),
                                        ("Mary Ann Lee", ("Mary Ann", "Lee")), ("林", ("林", "")), ("", ("", "")),
                                        (None, ("", ""))])
def test_oms_split_name(name, parts):
    assert split_name(name) == parts


@pytest.mark.parametrize("raw,norm", [("台北市", "臺北市"), (" 臺中市 ", "臺中市"), ("台東縣\u3000", "臺東縣"),
                                      ("ＡＢＣ區", "ABC區"), (None, "")])
def test_oms_place_names_normalise(raw, norm):
    assert normalize_place(raw) == norm


def test_oms_iso_is_utc_z():
    from zoneinfo import ZoneInfo

    taipei = datetime(2026, 3, 1, 8, 0, tzinfo=ZoneInfo("Asia/Taipei"))
    assert iso(taipei) == "2026-03-01T00:00:00Z" and iso(None) is None


def test_oms_order_json_shape_without_a_database():
    t = datetime(2026, 3, 1, 4, tzinfo=UTC)
    order = Order(id=7, external_id="260301X", status="shipped", platform_status="SHIPPED", currency="TWD",
                  total_amount=Decimal("1000"), shipping_fee=Decimal("60"), discount_amount=Decimal("5"),
                  order_created=t, created=t, updated=t, version=3, buyer_name="王小明", ship_name="王小明",
                  ship_address1="中山路1號", ship_address2="2樓", ship_zip="106")
    line = OrderLine(id=70, line_no=10, sku="SKU-1", name="茶", qty=Decimal("3"), unit_price=Decimal("100"),
                     discount=Decimal("0.10"), external_line_id="L1")
    items = [OmsOrderItem(id=700 + n, oms_order_id=7, oms_orderline_id=70, unit_no=n, isactive=True, updated=t)
             for n in (1, 2, 3)]
    items[1].status = "450"
    where = ResolvedAddress(OmsCountry(id=1, code="TW", name="臺灣", isactive=True),
                            OmsCity(id=2, oms_country_id=1, name="臺北市", isactive=True),
                            OmsTownship(id=3, oms_city_id=2, name="大安區", postcode="106", isactive=True),
                            OmsDistrict(id=4, oms_city_id=2, oms_township_id=3, name="大安區", isactive=True))
    data = order_json(order, [line], items, where, ChannelRef(1, "oms-bridge", "oms-bridge"), OmsConfig())
    assert (data["pk"], data["id"], data["number"], data["status"], data["currency"]) == (7, 7, "260301X", "500",
                                                                                        "twd")
    assert (data["amount"], data["shipping_amount"], data["discount_amount"]) == ("1000.00", "60.00", "5.00")
    assert [i["status"] for i in data["orderitem_set"]] == ["500", "450", "500"]
    assert [i["discount_amount"] for i in data["orderitem_set"]] == ["0.04", "0.03", "0.03"]
    assert data["shipping_address"]["line"] == "中山路1號 2樓"
    assert data["shipping_address"]["district"] == {"pk": 4, "id": 4, "name": "大安區", "city": 2, "township": 3,
                                                    "postcode": None, "is_active": True, "latitude": None,
                                                    "longitude": None}
    assert (data["customer"]["first_name"], data["customer"]["last_name"]) == ("小明", "王")
    assert data["date_placed"] == "2026-03-01T04:00:00Z" and data["extra_field"]["version"] == 3
