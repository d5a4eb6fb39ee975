"""The order upsert on SQLite and PostgreSQL: unique-key inserts, no-op re-reads, changes, held orders, races."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, OrderLine, OrderStatus, Platform
from oms_bridge.store.orders import list_orders, order_detail, payload_hash, upsert_orders
from platforms.base import Address, Buyer, UnmappableOrder
from platforms.base import Order as CanonicalOrder
from platforms.base import OrderLine as CanonicalLine

T0 = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)  # 23:59:59 Taipei


def make_order(n: int, **changes) -> CanonicalOrder:
    order = CanonicalOrder(
        external_id=f"SN{n:05d}", status="paid", platform_status="READY_TO_SHIP", created_at=T0, updated_at=T0,
        currency="TWD", total=Decimal("1280"), shipping_fee=Decimal("60"),
        lines=(CanonicalLine(sku="MUG-1", name="馬克杯", qty=Decimal("2"), unit_price=Decimal("610"),
                             external_line_id="1"),),
        buyer=Buyer(id="b1", name="王小明"), shipping_address=Address(name="王小明", city="台北市", district="大安區",
                                                                  zip="106", line1="新生南路一段1號", country="TW"),
        raw={"order_sn": f"SN{n:05d}", "update_time": 1},
    )
    return dataclasses.replace(order, **changes) if changes else order


@pytest.fixture
def channel_id(store_settings) -> int:
    with session_scope(store_settings) as session:
        platform = Platform(value="shopee", name="Shopee", platform_type="shopee", host="http://127.0.0.1:9")
        session.add(platform)
        session.flush()
        channel = Channel(value="shop-a", name="Shop A", oms_platform_id=platform.id)
        session.add(channel)
        session.flush()
        return channel.id


def upsert(settings, channel_id, orders):
    with session_scope(settings) as session:
        return upsert_orders(session, channel_id, orders, None)


def test_new_unchanged_changed(store_settings, channel_id):
    counts = upsert(store_settings, channel_id, [make_order(1), make_order(2)])
    assert (counts.new, counts.changed, counts.unchanged) == (2, 0, 0)
    # A re-read whose raw payload differs only in volatile fields is unchanged: the hash is canonical.
    counts = upsert(store_settings, channel_id, [make_order(1, raw={"order_sn": "SN00001", "update_time": 2}),
                                                 make_order(2)])
    assert (counts.new, counts.changed, counts.unchanged) == (0, 0, 2)
    edited = make_order(1, shipping_address=Address(city="新北市", line1="中山路1號"), updated_at=T0 + timedelta(1),
                        lines=(CanonicalLine(sku="MUG-1", name="馬克杯", qty=Decimal("3"), unit_price=Decimal("610")),
                               CanonicalLine(sku="TEA-2", name="茶", qty=Decimal("1"), unit_price=Decimal("0.5"))))
    counts = upsert(store_settings, channel_id, [edited])
    assert (counts.new, counts.changed) == (0, 1)
    with session_scope(store_settings) as session:
        o = session.scalars(select(Order).where(Order.external_id == "SN00001")).one()
        assert (o.version, o.ship_city, o.status) == (2, "新北市", "paid")
        lines = session.scalars(select(OrderLine).where(OrderLine.oms_order_id == o.id)
                                .order_by(OrderLine.line_no)).all()
        assert [(ln.sku, ln.qty, ln.unit_price) for ln in lines] == [
            ("MUG-1", Decimal("3"), Decimal("610")), ("TEA-2", Decimal("1"), Decimal("0.5"))]
        history = session.scalars(select(OrderStatus).where(OrderStatus.oms_order_id == o.id)).all()
        assert [h.status for h in history] == ["paid"]  # address edit: no status change, no history row
        dels = session.scalars(select(Delivery).where(Delivery.oms_order_id == o.id)).all()
        assert {(d.destination, d.order_version, d.action) for d in dels} == {("erp", 2, "create"),
                                                                              ("oms", 2, "create")}
        assert o.total_amount == Decimal("1280") and isinstance(o.total_amount, Decimal)
        assert o.order_created == T0


def test_same_order_twice_in_one_batch_keeps_the_later(store_settings, channel_id):
    counts = upsert(store_settings, channel_id, [make_order(1), make_order(1, status="cancelled",
                                                                         platform_status="CANCELLED")])
    assert counts.new == 1
    with session_scope(store_settings) as session:
        assert session.scalars(select(Order.status)).one() == "cancelled"


def test_held_order_without_id_is_keyed_by_payload_and_released_when_it_maps(store_settings, channel_id):
    broken = UnmappableOrder(external_id=None, raw={"weird": True}, reason="no order_sn in payload")
    assert upsert(store_settings, channel_id, [broken, make_order(1)]).held == 1
    assert upsert(store_settings, channel_id, [broken]).unchanged == 1
    held_sn = UnmappableOrder(external_id="SN00002", raw={"order_sn": "SN00002"}, reason="total is not a number")
    upsert(store_settings, channel_id, [held_sn])
    with session_scope(store_settings) as session:
        rows = list_orders(session, held=True)
        assert sorted(r["held_reason"] for r in rows) == ["no order_sn in payload", "total is not a number"]
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2  # only SN00001's
    counts = upsert(store_settings, channel_id, [make_order(2)])  # now it maps
    assert counts.changed == 1
    with session_scope(store_settings) as session:
        detail = order_detail(session, "SN00002")
    assert not detail["held"] and detail["held_reason"] is None and len(detail["deliveries"]) == 2


def test_payload_hash_ignores_raw_but_not_money():
    assert payload_hash(make_order(1)) == payload_hash(make_order(1, raw={"x": 1}))
    assert payload_hash(make_order(1)) != payload_hash(make_order(1, total=Decimal("1280.01")))


@pytest.mark.postgres
def test_concurrent_upserts_of_the_same_orders_never_double(pg_settings):
    with session_scope(pg_settings) as session:
        platform = Platform(value="shopee", name="Shopee", platform_type="shopee", host="http://127.0.0.1:9")
        session.add(platform)
        session.flush()
        channel = Channel(value="shop-a", name="Shop A", oms_platform_id=platform.id)
        session.add(channel)
        session.flush()
        cid = channel.id
    batch = [make_order(n) for n in range(40)]
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(upsert(pg_settings, cid, batch))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sum(r.new for r in results) == 40 and sum(r.unchanged for r in results) == 120
    with session_scope(pg_settings) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 40
        assert session.scalar(select(func.count()).select_from(Delivery)) == 80
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 40
