"""Pure mapping of momo rows: grouping, Decimal money, Taipei times, masking, unmappable rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from platforms.base import Order, UnmappableOrder
from platforms.momo.mapping import group_rows, map_rows, order_number


def _row(no: str, **kw) -> dict:
    row = {"completeOrderNo": no, "receiver": "陳怡君", "receiverTel": "0912345678",
           "receiverAddr": "106臺北市大安區復興南路12號3樓", "goodsCode": "5000001", "goodsName": "阿里山烏龍茶 150g",
           "goodsDtCode": "001", "goodsDtInfo": "", "entpGoodsNo": "TEA-OOLONG-150", "syslast": "2",
           "buyPrice": "480"}
    row.update(kw)
    return row


def test_order_number_takes_leading_parts():
    assert order_number("20140918203512-001-001-001") == "20140918203512"
    assert order_number("20140918203512-001-001-001", 2) == "20140918203512-001"


def test_rows_group_into_one_order_with_decimal_lines_and_utc_time():
    rows = [_row("20260101000000-001-001-001"), _row("20260101000000-002-001-001", syslast="1", buyPrice="1,250",
                                                     entpGoodsNo="", goodsCode="5000002", goodsDtCode="003"),
            _row("20260101000001-001-001-001")]
    orders = map_rows(rows, query="unsendCompanyQuery", channel="c")
    assert [o.external_id for o in orders] == ["20260101000000", "20260101000001"]
    first = orders[0]
    assert isinstance(first, Order)
    # 2026-01-01 00:00:00 Asia/Taipei is 2025-12-31 16:00 UTC
    assert first.created_at == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert first.status == "ready_to_ship" and first.platform_status == "unsendCompanyQuery"
    assert [(ln.sku, ln.qty, ln.unit_price) for ln in first.lines] == [
        ("TEA-OOLONG-150", Decimal(2), Decimal(480)), ("5000002-003", Decimal(1), Decimal(1250))]
    assert first.lines[0].external_line_id == "20260101000000-001-001-001"
    assert first.total == Decimal(2210) and isinstance(first.total, Decimal)
    assert first.currency == "TWD"
    address = first.shipping_address
    assert (address.zip, address.city, address.district) == ("106", "臺北市", "大安區")
    assert address.line1 == "復興南路12號3樓"
    assert not address.masked and first.buyer.name == "陳怡君"


def test_store_rows_keep_the_masked_receiver_and_the_pickup_store():
    row = {"completeOrderNo": "20260101000000-001-001-001", "receiverMask": "陳*君", "receiver": "陳*君",
           "custNameMask": "林O筠", "storeIdName": "7-11 大安復興門市", "goodsCode": "5000001", "goodsName": "烏龍茶",
           "goodsDtCode": "001", "syslast": "1", "buyPrice": "360", "salePrice": "480", "custId": "5743"}
    (order,) = map_rows([row], query="unsendStoresQuery", filters={"dely_gb": "21"})
    address = order.shipping_address
    assert address.masked and address.name == "陳*君" and address.line1 == "7-11 大安復興門市"
    assert order.buyer.name == "林O筠" and order.buyer.id == "5743"
    assert order.note == "超商取貨 7-11 7-11 大安復興門市"
    assert order.lines[0].unit_price == Decimal(360)  # buyPrice, what momo pays the vendor
    (consumer,) = map_rows([row], query="unsendStoresQuery", price_field="salePrice")
    assert consumer.lines[0].unit_price == Decimal(480)


def test_bad_rows_become_unmappable_with_the_reason():
    orders = map_rows([
        _row("20260101000000-001-001-001", syslast="two"),
        _row("ABC-001-001-001"),
        _row("20260102000000-001-001-001", buyPrice=None),
        _row("20260103000000-001-001-001", syslast="0"),
        {"syslast": "1"},
    ], query="unsendCompanyQuery")
    assert all(isinstance(o, UnmappableOrder) for o in orders)
    reasons = [o.reason for o in orders]
    assert "syslast" in reasons[0] and "yyyyMMddHHmmss" in reasons[1] and "buyPrice" in reasons[2]
    assert "positive" in reasons[3] and "without completeOrderNo" in reasons[4]


def test_float_price_is_refused_not_rounded():
    (order,) = map_rows([_row("20260101000000-001-001-001", buyPrice=0.1)], query="unsendCompanyQuery")
    assert isinstance(order, UnmappableOrder) and "buyPrice" in order.reason


def test_grouping_is_configurable():
    groups = group_rows([_row("20260101000000-001-001-001"), _row("20260101000000-002-001-001")], parts=2)
    assert list(groups) == ["20260101000000-001", "20260101000000-002"]
