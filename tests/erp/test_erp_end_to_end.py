"""Marketplace sandbox → GetOrder → store → run_erp_delivery → iDempiere sandbox: completed sales orders, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from erp_helpers import make_env

from channels.authorization import AuthorizationError, check_credentials, complete_authorization, start_authorization
from channels.getorder import run_getorder
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.remote.http import RetryPolicy
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Platform
from oms_bridge.vault import Vault
from sandboxes.idempiere.server import ErpSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox

FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=0.5, read_timeout=2.0)
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("sandbox_cls", [ShopeeSandbox, MomoSandbox], ids=lambda c: c.platform_type)
def test_erp_marketplace_orders_arrive_completed_exactly_once(sqlite_settings: Settings, erp_sandbox: ErpSandbox,
                                                              sandbox_cls) -> None:
    env = make_env(sqlite_settings, erp_sandbox)
    vault = Vault.from_settings(sqlite_settings)
    with sandbox_cls(clock=SandboxClock(NOW), seed=5) as market:
        fields, shop = market.platform_fields(), market.add_shop()
        with session_scope(sqlite_settings) as s:
            platform = Platform(value=market.platform_type, name=market.platform_type, host=fields["host"],
                                platform_type=market.platform_type, app_id=fields.get("app_id"),
                                app_secret_enc=vault.encrypt(fields.get("app_secret")),
                                settings_json=json.dumps(fields.get("settings") or {}))
            s.add(platform)
            s.flush()
            channel = s.get(Channel, env.channel_id)
            channel.oms_platform_id, channel.shop_id = platform.id, shop["shop_id"]
            channel.credentials_enc = vault.encrypt(json.dumps(shop.get("credentials") or {}))
            channel.settings_json = json.dumps(shop.get("settings") or {})
        try:
            url = start_authorization("shop-a", "http://127.0.0.1:9/cb", settings=sqlite_settings,
                                      clock=market.clock.now)
            complete_authorization(market.platform_type, market.consent(url), settings=sqlite_settings,
                                   clock=market.clock.now, policy=FAST)
        except AuthorizationError:  # a credential platform: the credentials are checked instead
            ok, message = check_credentials("shop-a", settings=sqlite_settings, policy=FAST, clock=market.clock.now)
            assert ok, message
        ids = market.generate_orders(shop["shop_id"], 8, start=NOW - timedelta(hours=20), end=NOW - timedelta(hours=1))
        run = run_getorder(env.channel_id, settings=sqlite_settings, clock=market.clock.now, policy=FAST)
        assert run.outcome == "success", run.error_text

    stats = run_erp_delivery(settings=sqlite_settings)
    assert stats.failed == 0
    erp = {}
    for ext in ids:
        made = env.erp_orders(ext)
        assert len(made) <= 1
        if made:
            erp[ext] = made[0]
        row = env.delivery(ext)
        if row.state == "waiting":  # only orders that are not (yet) paid may wait
            assert row.hold_code.startswith("awaiting:"), row.last_error
            assert ext not in erp
        else:
            assert row.state == "sent", row.last_error
            if ext in erp:
                assert erp[ext]["DocStatus"] in ("CO", "VO") and row.erp_record_id == erp[ext]["C_Order_ID"]
                assert erp[ext]["POReference"] == f"{env.channel_id}-{ext}"[:20] or "~" in erp[ext]["POReference"]
    assert stats.sent >= 6 and sum(o["DocStatus"] == "CO" for o in erp.values()) >= 5
    assert run_erp_delivery(settings=sqlite_settings).sent == 0
    assert len(erp_sandbox.orders()) == len(erp)
