"""Helpers of the alert tests: a store with a channel and orders, targets, and evaluations at a given time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from oms_bridge.alerts.targets import add_target
from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, ErpConnection, Order, OrderLine, Platform
from oms_bridge.vault import Vault


def target(settings: Settings, name: str, url: str) -> None:
    with session_scope(settings) as session:
        add_target(session, Vault.from_settings(settings), name, url)


def channel(settings: Settings, value: str = "shop-a", *, auth_state: str = "active", platform: str = "shopee-tw",
            erp: bool = True, **columns) -> int:
    """A channel (and, with ``erp``, an ERP connection, so the ERP destination counts as connected)."""
    with session_scope(settings) as s:
        if erp and s.scalar(select(ErpConnection.id).limit(1)) is None:
            s.add(ErpConnection(value="gw", url="http://127.0.0.1:9/ADInterface/services", username="WebService",
                                password_enc=Vault.from_settings(settings).encrypt("not-used-here"),
                                erp_client_id=11, erp_role_id=50004, erp_org_id=11, erp_warehouse_id=103))
        plat = s.scalar(select(Platform).where(Platform.value == platform))
        if plat is None:
            plat = Platform(value=platform, name="Shopee TW", platform_type="shopee", host="http://127.0.0.1:9")
            s.add(plat)
            s.flush()
        ch = Channel(value=value, name=value, oms_platform_id=plat.id, shop_id="1001", auth_state=auth_state,
                     **columns)
        s.add(ch)
        s.flush()
        return ch.id


def order(settings: Settings, channel_id: int, number: str, *, destinations: tuple[str, ...] = ("erp",),
          status: str = "paid", created: datetime | None = None, buyer_email: str = "mei@example.com") -> int:
    with session_scope(settings) as s:
        row = Order(oms_channel_id=channel_id, external_id=number, status=status, platform_status="READY",
                    currency="TWD", order_created=created or datetime.now(UTC), buyer_name="陳怡君",
                    buyer_email=buyer_email, buyer_phone="0912345678", ship_phone="0912345678")
        row.lines.append(OrderLine(line_no=1, sku="TEA-OOLONG-150", name="tea", qty=Decimal(1),
                                   unit_price=Decimal("480")))
        s.add(row)
        s.flush()
        outbox.arm(s, row, destinations)
        return row.id


def set_delivery(settings: Settings, order_id: int, destination: str = "erp", **values) -> None:
    with session_scope(settings) as s:
        row = s.scalar(select(Delivery).where(Delivery.oms_order_id == order_id, Delivery.destination == destination))
        for key, value in values.items():
            setattr(row, key, value)
