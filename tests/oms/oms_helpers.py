"""Store and CLI helpers of the OMS destination tests (a plain module: test files import it by name)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from click.testing import CliRunner

from channels.authorization import check_credentials, complete_authorization, start_authorization
from channels.binding import needs_token_refresh
from oms_bridge.cli.main import cli
from oms_bridge.remote.http import RetryPolicy
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, OrderLine, Platform
from oms_bridge.store.outbox import arm
from oms_bridge.vault import Vault
from sandboxes.server import Sandbox

FAST = RetryPolicy(max_attempts=2, sleep=lambda s: None, connect_timeout=0.5, read_timeout=2.0)

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
    """Run ``oms-bridge oms settings --json --rotate`` (new tokens each call) and parse its output."""
    result = CliRunner().invoke(cli, ["oms", "settings", "--json", "--rotate", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@dataclass
class Shop:
    sandbox: Sandbox
    shop_id: str
    channel_id: int
    settings: Settings


def bind_shop(settings: Settings, sandbox: Sandbox, value: str = "shop-a", **shop_options) -> Shop:
    """Platform + channel rows as the admin enters them, then authorized as the admin would.

    ``shop_options`` go to the sandbox's ``add_shop`` (e.g. Shopee ``logistics="dropoff"``)."""
    vault = Vault.from_settings(settings)
    fields = sandbox.platform_fields()
    shop = sandbox.add_shop(**shop_options)
    with session_scope(settings) as session:
        platform = Platform(value=sandbox.platform_type, name=sandbox.platform_type.title(),
                            platform_type=sandbox.platform_type, host=fields["host"], app_id=fields.get("app_id"),
                            app_secret_enc=vault.encrypt(fields.get("app_secret")),
                            settings_json=json.dumps(fields.get("settings") or {}))
        session.add(platform)
        session.flush()
        channel = Channel(value=value, name=value, oms_platform_id=platform.id, shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(shop.get("credentials") or {})),
                          settings_json=json.dumps(shop.get("settings") or {}))
        session.add(channel)
        session.flush()
        channel_id = channel.id
        oauth = needs_token_refresh(channel, session, vault=vault)
    if oauth:
        url = start_authorization(value, settings=settings, clock=sandbox.clock.now)
        complete_authorization(sandbox.platform_type, sandbox.consent(url), settings=settings,
                               clock=sandbox.clock.now, policy=FAST)
    else:
        ok, message = check_credentials(value, settings=settings, policy=FAST, clock=sandbox.clock.now)
        assert ok, message
    return Shop(sandbox, shop["shop_id"], channel_id, settings)
