"""The orders page's search on SQLite and PostgreSQL: number from its start, buyer anywhere, exact SKU, date range,
delivery-state filters, total and paging."""

from __future__ import annotations

from datetime import UTC, datetime

from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, OrderLine, Platform
from oms_bridge.store.order_search import OrderQuery, search_orders


def _orders(settings: Settings) -> None:
    with session_scope(settings) as s:
        platform = Platform(value="p", name="P", platform_type="momo", host="http://127.0.0.1:9")
        s.add(platform)
        s.flush()
        chans = [Channel(value=v, name=v, oms_platform_id=platform.id, shop_id=v) for v in ("a", "b")]
        s.add_all(chans)
        s.flush()
        plan = [("a", "4999", "王小明", "TEA_1", 1), ("a", "49990", "林美麗", "MUG-1", 2),
                ("b", "5000", "Wang 100%", "TEA_1", 3), ("b", "A4999", "王大同", "TEA-1", 4)]
        for chan, number, buyer, sku, day in plan:
            order = Order(oms_channel_id=chans[0 if chan == "a" else 1].id, external_id=number, status="paid",
                          buyer_name=buyer, order_created=datetime(2026, 11, day, 12, tzinfo=UTC))
            order.lines.append(OrderLine(line_no=1, sku=sku, qty=1, unit_price=10))
            s.add(order)
            s.flush()
            (row,) = outbox.arm(s, order, ["erp"])
            if number == "5000":
                outbox.mark_held(row, "SKU TEA_1 has no ERP product", code="missing_sku:TEA_1")


def _numbers(settings: Settings, **query) -> tuple[int, list[str]]:
    with session_scope(settings, readonly=True) as s:
        total, rows = search_orders(s, OrderQuery(**query))
    return total, [r["number"] for r in rows]


def test_search_filters_and_paging(store_settings: Settings) -> None:
    _orders(store_settings)
    assert _numbers(store_settings) == (4, ["A4999", "5000", "49990", "4999"])  # newest first
    assert _numbers(store_settings, text="4999", field="number") == (2, ["49990", "4999"])  # from its start
    assert _numbers(store_settings, text="4999") == (2, ["49990", "4999"])
    assert _numbers(store_settings, text="王", field="buyer") == (2, ["A4999", "4999"])
    assert _numbers(store_settings, text="100%", field="buyer") == (1, ["5000"])  # % is a character, not a wildcard
    assert _numbers(store_settings, text="wang") == (1, ["5000"])  # case-insensitive
    assert _numbers(store_settings, text="TEA_1", field="sku") == (2, ["5000", "4999"])  # exact, _ is no wildcard
    assert _numbers(store_settings, text="TEA_1", channel="b") == (1, ["5000"])
    assert _numbers(store_settings, erp_state="held") == (1, ["5000"])
    assert _numbers(store_settings, erp_state="pending", oms_state="none") == (3, ["A4999", "49990", "4999"])
    assert _numbers(store_settings, created_from=datetime(2026, 11, 2, tzinfo=UTC),
                    created_to=datetime(2026, 11, 4, tzinfo=UTC)) == (2, ["5000", "49990"])
    with session_scope(store_settings, readonly=True) as s:
        total, page2 = search_orders(s, OrderQuery(), offset=2, limit=2)
    assert total == 4 and [r["number"] for r in page2] == ["49990", "4999"]
    assert page2[0]["erp_state"] == "pending" and page2[0]["oms_state"] is None
