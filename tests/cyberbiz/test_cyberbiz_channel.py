"""Cyberbiz through the channel processes: authorize, GetOrder and RefreshToken with both tokens stored.

The adapter is only ever reached through the generic channel code here (no Cyberbiz branch), which is
what "configured, authorized and fetched through the same contract" means for this platform.
"""

from __future__ import annotations

from datetime import timedelta

from cyberbiz_kit import NO_SLEEP, NOW
from sqlalchemy import func, select

from channels.authorization import check_credentials, complete_authorization, start_authorization
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order
from oms_bridge.vault import Vault
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.server import SandboxClock


def _configure(settings, sandbox: CyberbizSandbox, auth_model: str) -> tuple[int, str, str]:
    vault = Vault.from_settings(settings)
    fields = sandbox.platform_fields()
    shop = sandbox.add_shop(auth_model=auth_model)
    value = f"cbz-{auth_model}"
    with session_scope(settings) as session:
        add_platform(session, vault, value="cyberbiz-tw", platform_type="cyberbiz", host=fields["host"],
                               app_id=fields["app_id"], app_secret=fields["app_secret"], settings=fields["settings"])
        channel = add_channel(session, vault, value=value, platform="cyberbiz-tw", shop_id=shop["shop_id"],
                                        credentials=shop["credentials"] or None, settings=shop["settings"])
        session.flush()
        return channel.id, value, shop["shop_id"]


def _orders(settings, channel_id: int) -> dict[str, str]:
    with session_scope(settings) as session:
        rows = session.execute(select(Order.external_id, Order.status).where(Order.oms_channel_id == channel_id))
        return dict(rows.all())


def _stored_tokens(settings, channel_id: int) -> tuple[str, str]:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as session:
        channel = session.get(Channel, channel_id)
        return vault.decrypt(channel.access_token_enc), vault.decrypt(channel.refresh_token_enc)


def test_cyberbiz_v2_channel_authorize_getorder_refresh(sqlite_settings):
    with CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=11) as sandbox:
        clock = sandbox.clock.now
        channel_id, value, shop_id = _configure(sqlite_settings, sandbox, "v2")
        url = start_authorization(value, settings=sqlite_settings, clock=clock)  # the bridge's own callback URL
        complete_authorization("cyberbiz", sandbox.consent(url), settings=sqlite_settings, clock=clock,
                               policy=NO_SLEEP)
        access, refresh = _stored_tokens(sqlite_settings, channel_id)
        assert access and refresh

        ids = sandbox.generate_orders(shop_id, 3, start=NOW - timedelta(hours=2), end=NOW - timedelta(minutes=5))
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "success", stats.error_text
        assert sorted(_orders(sqlite_settings, channel_id)) == sorted(ids)

        sandbox.clock.advance(sandbox.access_ttl - 60)  # close to expiry: RefreshToken rotates both tokens
        stats = run_refreshtoken(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP, force=True)
        assert stats.outcome == "success", stats.error_text
        new_access, new_refresh = _stored_tokens(sqlite_settings, channel_id)
        assert new_access != access and new_refresh != refresh
        assert sandbox.calls("/admin/oauth/token") == 2

        sandbox.clock.advance(120)  # the first access token has expired now; the stored new one works
        sandbox.update_order(shop_id, ids[0], status="cancelled")
        sandbox.clock.advance(60)
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "success", stats.error_text
        assert _orders(sqlite_settings, channel_id)[ids[0]] == "cancelled"


def test_cyberbiz_v1_channel_credentials_and_getorder(sqlite_settings):
    with CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=12) as sandbox:
        clock = sandbox.clock.now
        channel_id, value, shop_id = _configure(sqlite_settings, sandbox, "v1")
        ok, message = check_credentials(value, settings=sqlite_settings, policy=NO_SLEEP, clock=clock)
        assert ok, message
        assert "V1 HMAC key accepted" in message
        ids = sandbox.generate_orders(shop_id, 2, start=NOW - timedelta(hours=2), end=NOW - timedelta(minutes=5))
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "success", stats.error_text
        assert sorted(_orders(sqlite_settings, channel_id)) == sorted(ids)
        with session_scope(sqlite_settings) as session:
            assert session.scalar(select(func.count()).select_from(Order)) == 2


def test_cyberbiz_v2_getorder_with_an_expired_access_token_refreshes_and_goes_on(sqlite_settings):
    """Cyberbiz's 401 is AuthExpired: GetOrder refreshes (rotating both tokens) and retries, losing nothing."""
    with CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=13) as sandbox:
        clock = sandbox.clock.now
        channel_id, value, shop_id = _configure(sqlite_settings, sandbox, "v2")
        url = start_authorization(value, settings=sqlite_settings, clock=clock)
        complete_authorization("cyberbiz", sandbox.consent(url), settings=sqlite_settings, clock=clock,
                               policy=NO_SLEEP)
        _access, refresh = _stored_tokens(sqlite_settings, channel_id)
        sandbox.clock.advance(600)  # the stored expiry is still hours away ...
        assert sandbox.revoke_access_tokens(shop_id) == 1  # ... but Cyberbiz no longer takes the token
        ids = sandbox.generate_orders(shop_id, 2, start=NOW - timedelta(minutes=30), end=NOW + timedelta(minutes=5))
        sandbox.reset_calls()
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "success", stats.error_text
        assert sandbox.calls("/admin/oauth/token") == 1 and sandbox.calls("/v1/orders") == 2  # 401, then again
        assert sorted(_orders(sqlite_settings, channel_id)) == sorted(ids)
        assert _stored_tokens(sqlite_settings, channel_id)[1] != refresh
