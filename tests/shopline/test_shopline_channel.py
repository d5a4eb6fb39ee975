"""Shopline through the channel layer (no Shopline branch there): authorize, GetOrder, RefreshToken with
six-month tokens and the registered redirect URI, and the refresh token's one-day death surfacing as
"re-authorization required" on the channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from shopline_kit import FAST, NOW

from channels.authorization import check_credentials, complete_authorization, start_authorization
from channels.binding import needs_token_refresh
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, Platform
from oms_bridge.vault import Vault
from sandboxes.server import SandboxClock
from sandboxes.shopline import ACCESS_TTL, ShoplineSandbox


@pytest.fixture
def sandbox() -> Iterator[ShoplineSandbox]:
    with ShoplineSandbox(clock=SandboxClock(NOW), seed=11) as running:
        yield running


def _channel(settings: Settings, sandbox: ShoplineSandbox, shop: dict, value: str) -> int:
    vault = Vault.from_settings(settings)
    fields = sandbox.platform_fields()
    with session_scope(settings) as session:
        platform = session.query(Platform).filter_by(value="shopline").one_or_none()
        if platform is None:
            platform = Platform(value="shopline", name="Shopline", platform_type="shopline", host=fields["host"],
                                app_id=fields["app_id"], app_secret_enc=vault.encrypt(fields["app_secret"]),
                                settings_json=json.dumps(fields["settings"]))
            session.add(platform)
            session.flush()
        channel = Channel(value=value, name=value, oms_platform_id=platform.id, shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(shop["credentials"])),
                          settings_json=json.dumps(shop["settings"]))
        session.add(channel)
        session.flush()
        return channel.id


def _stored(settings: Settings, channel_id: int) -> dict[str, str]:
    with session_scope(settings) as session:
        return {o.external_id: o.status for o in session.query(Order).filter_by(oms_channel_id=channel_id)}


def _auth_state(settings: Settings, channel_id: int) -> tuple[str, str]:
    with session_scope(settings) as session:
        channel = session.get(Channel, channel_id)
        return channel.auth_state, channel.auth_message or ""


def test_oauth_channel_authorizes_fetches_refreshes_and_then_needs_reauthorization(sqlite_settings, sandbox):
    shop = sandbox.add_shop(auth_model="oauth")
    channel_id = _channel(sqlite_settings, sandbox, shop, "sl-oauth")
    vault = Vault.from_settings(sqlite_settings)
    with session_scope(sqlite_settings) as session:
        assert needs_token_refresh(session.get(Channel, channel_id), session, vault=vault)
    # the default redirect: the code grant must name the same redirect_uri as the authorize step (RFC 6749 4.1.3)
    url = start_authorization("sl-oauth", settings=sqlite_settings, clock=sandbox.clock.now)
    complete_authorization("shopline", sandbox.consent(url), settings=sqlite_settings, clock=sandbox.clock.now,
                           policy=FAST)
    ids = sandbox.generate_orders(shop["shop_id"], 5, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=1))
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success" and stats.new == 5, stats.error_text
    assert sorted(_stored(sqlite_settings, channel_id)) == sorted(ids)

    sandbox.clock.advance(seconds=ACCESS_TTL - 30 * 60)  # the access token (≈ 6 months) is about to expire
    stats = run_refreshtoken(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success", stats.error_text
    assert sandbox.calls("/oauth/token") == 2  # the code grant, then the refresh with the platform's redirect_uri
    with session_scope(sqlite_settings) as session:
        channel = session.get(Channel, channel_id)
        assert channel.shop_id == shop["shop_id"]  # the token answer's resource_owner_id
        expected = sandbox.clock.now() + timedelta(seconds=ACCESS_TTL)  # the clock runs: within a minute
        assert abs(channel.access_expires_at - expected) < timedelta(minutes=1)
        assert channel.refresh_expires_at == channel.access_expires_at + timedelta(days=1)

    sandbox.update_order(shop["shop_id"], ids[0], status="cancelled")
    sandbox.clock.advance(minutes=1)  # past GetOrder's lag
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success" and stats.changed == 1, stats.error_text
    assert _stored(sqlite_settings, channel_id)[ids[0]] == "cancelled"

    sandbox.clock.advance(seconds=ACCESS_TTL + 86400 + 60)  # no refresh ran: the refresh token died a day later
    stats = run_refreshtoken(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "reauth_required"
    state, message = _auth_state(sqlite_settings, channel_id)
    assert state == "reauth_required" and "refresh token expired" in message


def test_refresh_without_the_registered_redirect_uri_says_what_to_set(sqlite_settings, sandbox):
    shop = sandbox.add_shop(auth_model="oauth")
    channel_id = _channel(sqlite_settings, sandbox, shop, "sl-noredirect")
    with session_scope(sqlite_settings) as session:
        platform = session.query(Platform).filter_by(value="shopline").one()
        platform.settings_json = json.dumps({k: v for k, v in json.loads(platform.settings_json).items()
                                             if k != "redirect_uri"})
    url = start_authorization("sl-noredirect", settings=sqlite_settings, clock=sandbox.clock.now)
    complete_authorization("shopline", sandbox.consent(url), settings=sqlite_settings, clock=sandbox.clock.now,
                           policy=FAST)
    sandbox.clock.advance(seconds=ACCESS_TTL - 30 * 60)
    stats = run_refreshtoken(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome != "success" and "set the platform setting redirect_uri" in (stats.error_text or "")
    assert sandbox.calls("/oauth/token") == 1  # nothing sent without it


def test_static_token_channel_needs_no_refresh_and_fetches(sqlite_settings, sandbox):
    shop = sandbox.add_shop()
    channel_id = _channel(sqlite_settings, sandbox, shop, "sl-token")
    ok, message = check_credentials("sl-token", settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now)
    assert ok, message
    stats = run_refreshtoken(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "skipped" and stats.api_calls == 0
    sandbox.generate_orders(shop["shop_id"], 3, start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success" and stats.new == 3 and stats.api_calls == 1, stats.error_text


def test_getorder_with_an_expired_access_token_refreshes_once_and_carries_on(sqlite_settings, sandbox):
    shop = sandbox.add_shop(auth_model="oauth")
    channel_id = _channel(sqlite_settings, sandbox, shop, "sl-late")
    url = start_authorization("sl-late", settings=sqlite_settings, clock=sandbox.clock.now)
    complete_authorization("shopline", sandbox.consent(url), settings=sqlite_settings, clock=sandbox.clock.now,
                           policy=FAST)
    sandbox.clock.advance(seconds=ACCESS_TTL + 6 * 3600)  # RefreshToken did not run: expired 6 h ago
    sandbox.generate_orders(shop["shop_id"], 2, start=sandbox.clock.now() - timedelta(hours=2),
                            end=sandbox.clock.now() - timedelta(hours=1))
    stats = run_getorder(channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
    assert stats.outcome == "success" and stats.new == 2, stats.error_text
    assert sandbox.calls("/oauth/token") == 2  # the code grant, then exactly one refresh
    assert _auth_state(sqlite_settings, channel_id)[0] != "reauth_required"
