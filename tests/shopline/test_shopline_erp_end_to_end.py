"""Issue 12, done means: a TWD Shopline order flows to the ERP unheld.

The Shopline sandbox serves the documented example order (NT$888 item, NT$130 delivery); GetOrder stores it,
run_erp_delivery sends it to the iDempiere SOAP sandbox, which books a completed order of NT$1,018. A generated
order and a malformed one travel in the same run: the malformed one is held with its reason, the rest flow.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import shopline_documented as doc
from shopline_kit import FAST, NOW
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "erp"))
from erp_helpers import XSD_PATH, assert_bodies_valid, erp_orders_by_number, make_env  # noqa: E402

from channels.authorization import check_credentials  # noqa: E402
from channels.getorder import run_getorder  # noqa: E402
from oms_bridge.erp.delivery import run_erp_delivery  # noqa: E402
from oms_bridge.settings import Settings  # noqa: E402
from oms_bridge.store.db import session_scope  # noqa: E402
from oms_bridge.store.models import Channel, Order, Platform  # noqa: E402
from oms_bridge.vault import Vault  # noqa: E402
from sandboxes.idempiere.server import ErpSandbox  # noqa: E402
from sandboxes.server import SandboxClock  # noqa: E402
from sandboxes.shopline import ShoplineSandbox  # noqa: E402


@pytest.fixture
def erp() -> Iterator[ErpSandbox]:
    sandbox = ErpSandbox().start()
    yield sandbox
    sandbox.stop()
    if XSD_PATH.exists():
        assert_bodies_valid(sandbox)


def test_the_documented_twd_order_reaches_the_erp_unheld(sqlite_settings: Settings, erp: ErpSandbox) -> None:
    env = make_env(sqlite_settings, erp)
    erp.db.add_product("sl_watch_red_m", "Sl 手錶", "888")  # the ERP knows the documented SKU
    vault = Vault.from_settings(sqlite_settings)
    with ShoplineSandbox(clock=SandboxClock(NOW)) as market:
        fields, shop = market.platform_fields(), market.add_shop()
        with session_scope(sqlite_settings) as s:
            platform = Platform(value="shopline", name="Shopline", platform_type="shopline", host=fields["host"],
                                app_id=fields["app_id"], app_secret_enc=vault.encrypt(fields["app_secret"]),
                                settings_json=json.dumps(fields["settings"]))
            s.add(platform)
            s.flush()
            channel = s.get(Channel, env.channel_id)
            channel.oms_platform_id, channel.shop_id = platform.id, shop["shop_id"]
            channel.credentials_enc = vault.encrypt(json.dumps(shop["credentials"]))
            channel.settings_json = json.dumps(shop["settings"])
        ok, message = check_credentials("shop-a", settings=sqlite_settings, policy=FAST, clock=market.clock.now)
        assert ok, message
        stamp = (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        documented = market.put_order(shop["shop_id"], doc.order(created_at=stamp, updated_at=stamp))
        (generated,) = market.generate_orders(shop["shop_id"], 1, status="ready_to_ship",
                                              start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2))
        broken = market.put_order(shop["shop_id"], doc.order(
            id="5d8c8b3be388095d25acbc8a", created_at=stamp, updated_at=stamp,
            total={**doc.ORDER["total"], "cents": 101800}))  # cents in hundredths: not what Shopline sends
        run = run_getorder(env.channel_id, settings=sqlite_settings, clock=market.clock.now, policy=FAST)
        assert run.outcome == "partial" and run.new == 3 and run.held == 1, run.error_text  # one held, rest flow

    with session_scope(sqlite_settings) as s:
        stored = {o.external_id: o for o in s.scalars(select(Order))}
        assert not stored[documented].is_held and not stored[generated].is_held
        assert stored[broken].is_held
        assert "total: cents 101800 and dollars 1018.0 disagree" in stored[broken].held_reason
        assert (stored[documented].total_amount, stored[documented].shipping_fee) == (1018, 130)
    stats = run_erp_delivery(settings=sqlite_settings)
    assert stats.failed == 0 and env.delivery(documented).state == "sent", env.delivery(documented).last_error
    booked = erp_orders_by_number(erp)
    order = booked[documented]
    assert order["DocStatus"] == "CO" and str(order["GrandTotal"]) in ("1018", "1018.00", "1018.0")
    prices = sorted(str(line["PriceEntered"]) for line in order["lines"])
    assert prices == ["130", "888"] or prices == ["130.00", "888.00"], prices
    assert env.delivery(generated).state == "sent" and generated in booked
    assert broken not in booked
