"""Regression: on PostgreSQL `orders show` printed ``1680.000000 TWD`` and ``1.000000 x 590.000000``
(NUMERIC scale 6) where SQLite printed ``1680 TWD``; the same order must read the same on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from click.testing import CliRunner

from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, OrderLine, Platform


def test_qa_orders_show_and_list_read_the_same_on_both_stores(store_settings: Settings) -> None:
    with session_scope(store_settings) as s:
        platform = Platform(value="shp", name="shp", platform_type="shopee", host="https://x.example")
        s.add(platform)
        s.flush()
        channel = Channel(value="shop-a", name="shop-a", oms_platform_id=platform.id, shop_id="1")
        s.add(channel)
        s.flush()
        order = Order(oms_channel_id=channel.id, external_id="2611235T00004F", status="paid", currency="TWD",
                      order_created=datetime(2026, 11, 23, 14, 41, tzinfo=UTC), total_amount=Decimal("1680"),
                      shipping_fee=Decimal("100"), discount_amount=Decimal("0"))
        order.lines.append(OrderLine(line_no=10, sku="BAG-CANVAS-L", name="帆布托特包 L", qty=Decimal("1"),
                                     unit_price=Decimal("590.5")))
        s.add(order)
    shown = CliRunner().invoke(cli, ["orders", "show", "2611235T00004F"])
    assert shown.exit_code == 0, shown.output
    assert "total:    1680 TWD  shipping 100  discount 0" in shown.output
    assert "1 x 590.5" in shown.output and "000" not in shown.output.replace("2611235T00004F", "")
    listed = CliRunner().invoke(cli, ["orders", "list"])
    assert "1680 TWD" in listed.output and "1680.0" not in listed.output
