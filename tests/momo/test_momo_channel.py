"""momo through the channel layer (no momo branch there): credential check, GetOrder, no RefreshToken,
and a stop-shipping request from the stop list reaching the stored order once (later re-reads are no-ops)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from momo_kit import FAST, FETCH_CALLS, NOW

from channels.authorization import check_credentials
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, OrderCancelRequest, Platform
from oms_bridge.vault import Vault
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock


@pytest.fixture
def sandbox() -> Iterator[MomoSandbox]:
    with MomoSandbox(clock=SandboxClock(NOW), seed=13) as running:
        yield running


def _channel(settings: Settings, sandbox: MomoSandbox, shop: dict) -> int:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as session:
        platform = Platform(value="momo", name="momo", platform_type="momo", host=sandbox.base_url, settings_json="{}")
        session.add(platform)
        session.flush()
        channel = Channel(value="momo-a", name="momo-a", oms_platform_id=platform.id, shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(shop["credentials"])), settings_json="{}")
        session.add(channel)
        session.flush()
        return channel.id


def _stored(settings: Settings, channel_id: int) -> dict[str, str]:
    with session_scope(settings) as session:
        return {o.external_id: o.status for o in session.query(Order).filter_by(oms_channel_id=channel_id)}


def test_momo_channel_fetches_and_learns_stop_requests_once(sqlite_settings, sandbox):
    shop = sandbox.add_shop()
    channel_id = _channel(sqlite_settings, sandbox, shop)
    ok, message = check_credentials("momo-a", settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now)
    assert ok, message
    stats = run_refreshtoken(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "skipped" and stats.api_calls == 0

    ids = sandbox.generate_orders(shop["shop_id"], 4, start=NOW - timedelta(hours=5), end=NOW - timedelta(hours=1),
                                  kinds=["company", "stores"])
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success" and stats.new == 4 and stats.api_calls == FETCH_CALLS, stats.error_text
    assert set(_stored(sqlite_settings, channel_id).values()) == {"ready_to_ship"}

    sandbox.update_order(shop["shop_id"], ids[0], status="cancelled")
    sandbox.clock.advance(minutes=5)
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success" and stats.changed == 1 and stats.new == 0, stats.error_text
    # a request to stop shipping, not a cancellation: the order keeps its status and gets an open request
    assert _stored(sqlite_settings, channel_id)[ids[0]] == "ready_to_ship"
    with session_scope(sqlite_settings) as session:
        (request,) = session.query(OrderCancelRequest).all()
        assert request.state == "open" and request.isallowed is True and request.reason == "客戶取消訂單"
        assert request.reference.startswith(ids[0]) and session.get(Order, request.oms_order_id).external_id == ids[0]

    sandbox.clock.advance(minutes=5)
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert (stats.new, stats.changed, stats.unchanged) == (0, 0, 1), stats  # the stop list again: a no-op


def test_wrong_momo_login_is_reported_on_the_channel_check(sqlite_settings, sandbox):
    shop = sandbox.add_shop()
    shop = {**shop, "credentials": {**shop["credentials"], "entpPwd": "not-the-password"}}
    _channel(sqlite_settings, sandbox, shop)
    ok, message = check_credentials("momo-a", settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now)
    assert not ok and "登入失敗" in message and "not-the-password" not in message


def test_getorder_with_a_changed_password_fails_clearly_and_keeps_the_watermark(sqlite_settings, sandbox):
    shop = sandbox.add_shop()
    channel_id = _channel(sqlite_settings, sandbox, shop)
    sandbox.vendors[shop["shop_id"]]["entpPwd"] = "changed-at-momo"  # the vendor changed the SCM password
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome != "success" and "登入失敗" in (stats.error_text or "")
    assert shop["credentials"]["entpPwd"] not in (stats.error_text or "")
    assert "Traceback" not in (stats.error_text or "")
    with session_scope(sqlite_settings) as session:
        assert session.get(Channel, channel_id).order_watermark is None
