"""Store and CLI helpers of the OMS destination tests (a plain module: test files import it by name)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from click.testing import CliRunner

from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, OrderLine, Platform
from oms_bridge.store.outbox import arm

T0 = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def add_channel(settings: Settings, *, value: str = "shopee-tw", platform_type: str = "shopee",
                oms_channel_code: str | None = None) -> int:
    with session_scope(settings) as s:
        platform = s.query(Platform).filter_by(value=platform_type).one_or_none()
        if platform is None:
            platform = Platform(value=platform_type, name=platform_type.title(), platform_type=platform_type,
                                host="http://127.0.0.1:9")
            s.add(platform)
            s.flush()
        ch = Channel(value=value, name=f"{value} store", oms_platform_id=platform.id, shop_id="1001",
                     oms_channel_code=oms_channel_code)
        s.add(ch)
        s.flush()
        return ch.id


def add_order(settings: Settings, channel_id: int, external_id: str, *, status: str = "paid",
              lines: tuple = (("TEA-OOLONG-150", "阿里山烏龍茶 150g", "2", "480", "10"),),
              city: str = "臺北市", district: str = "大安區", zipcode: str = "106", country: str = "TW",
              state: str | None = None, created: datetime = T0, buyer: str = "陳怡君", held: bool = False) -> int:
    """A stored order with its ``oms`` delivery row armed, as GetOrder leaves it."""
    with session_scope(settings) as s:
        total = sum(Decimal(q) * Decimal(p) - Decimal(d) for _, _, q, p, d in lines)
        order = Order(oms_channel_id=channel_id, external_id=external_id, status=status, platform_status=status.upper(),
                      order_created=created, order_updated=created, currency="TWD", total_amount=total + Decimal("60"),
                      shipping_fee=Decimal("60"), discount_amount=Decimal("0"), payment_method="credit_card",
                      buyer_id="u-1", buyer_name=buyer, buyer_email="buyer@example.tw", buyer_phone="0912345678",
                      ship_name=buyer, ship_phone="0912345678", ship_country=country, ship_state=state,
                      ship_city=city, ship_district=district, ship_zip=zipcode, ship_address1="忠孝東路100號5樓",
                      is_held=held, held_reason="bad payload" if held else None)
        for n, (sku, name, qty, price, disc) in enumerate(lines, 1):
            order.lines.append(OrderLine(line_no=n, sku=sku, name=name, qty=Decimal(qty), unit_price=Decimal(price),
                                         discount=Decimal(disc), external_line_id=f"L{n}"))
        s.add(order)
        s.flush()
        arm(s, order, ["oms"])
        return order.id


def bump_order(settings: Settings, order_id: int, **changes) -> None:
    """A marketplace change as GetOrder stores it: new version, re-armed ``oms`` row."""
    with session_scope(settings) as s:
        order = s.get(Order, order_id)
        for k, v in changes.items():
            setattr(order, k, v)
        order.version += 1
        order.order_updated = (order.order_updated or T0) + timedelta(minutes=5)
        s.flush()
        arm(s, order, ["oms"])


def setup_json(*args: str) -> dict:
    """Run ``oms-bridge oms settings --json`` and parse its output."""
    result = CliRunner().invoke(cli, ["oms", "settings", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)
