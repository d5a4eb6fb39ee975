"""Smoke checks of the shared skeleton: models create on both stores; types keep their promises."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, OrderLine, Platform


def test_order_roundtrip_keeps_decimal_and_utc(store_settings):
    with session_scope(store_settings) as s:
        p = Platform(value="shopee-tw", name="Shopee TW", platform_type="shopee", host="http://x")
        c = Channel(value="shop-a", name="Shop A", platform=p)
        o = Order(external_id="A1", oms_channel_id=0, status="paid", total_amount=Decimal("1234.50"),
                  order_created=datetime(2026, 1, 1, 15, 59, 59, tzinfo=UTC))
        s.add_all([p, c])
        s.flush()
        o.oms_channel_id = c.id
        o.lines.append(OrderLine(line_no=1, sku="X", qty=Decimal("2"), unit_price=Decimal("0.10")))
        s.add(o)
    with session_scope(store_settings) as s:
        got = s.query(Order).one()
        assert got.total_amount == Decimal("1234.50") and isinstance(got.total_amount, Decimal)
        assert got.order_created == datetime(2026, 1, 1, 15, 59, 59, tzinfo=UTC)
        assert got.order_created.tzinfo is not None
        assert got.lines[0].unit_price == Decimal("0.10")
        assert got.isactive is True and got.is_held is False


def test_naive_datetime_and_float_money_are_refused(sqlite_settings):
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="naive datetime"):
        with session_scope(sqlite_settings) as s:
            s.add(Platform(value="p", name="p", platform_type="shopee", host="h", created=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="float"):
        with session_scope(sqlite_settings) as s:
            p = Platform(value="p2", name="p", platform_type="shopee", host="h")
            c = Channel(value="c", name="c", platform=p)
            s.add_all([p, c])
            s.flush()
            s.add(Order(external_id="x", oms_channel_id=c.id, total_amount=1.5))


def test_yes_no_is_true_compares_as_y_on_both_stores(store_settings):
    """``is_(True)`` on a Y/N column must not render ``IS 'Y'`` (a syntax error on PostgreSQL)."""
    with session_scope(store_settings) as s:
        s.add_all([Platform(value="on", name="on", platform_type="shopee", host="h"),
                   Platform(value="off", name="off", platform_type="shopee", host="h", isactive=False)])
    with session_scope(store_settings) as s:
        assert [p.value for p in s.query(Platform).filter(Platform.isactive.is_(True))] == ["on"]
        assert [p.value for p in s.query(Platform).filter(Platform.isactive.is_(False))] == ["off"]
        assert [p.value for p in s.query(Platform).filter(Platform.isactive.is_not(True))] == ["off"]
        assert s.query(Platform).filter(Platform.description.is_(None)).count() == 2
