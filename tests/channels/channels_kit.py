"""Channel test kit: a platform + channel row built from a real sandbox's generic admin helpers,
and the channel authorized the way an admin would do it (OAuth: start → merchant consent →
callback; credentials: the check). A module of its own (not conftest) so that test folders
without packages never import another folder's conftest by mistake."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.authorization import check_credentials, complete_authorization, start_authorization
from channels.binding import needs_token_refresh
from oms_bridge.remote.http import RetryPolicy
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Platform
from oms_bridge.vault import Vault
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import Sandbox
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=0.5, read_timeout=2.0)

#: The sandboxes the generic flow tests run against (plain list; add one when its platform lands).
SANDBOXES: list[type[Sandbox]] = [ShopeeSandbox, MomoSandbox, CyberbizSandbox, ShoplineSandbox]


@dataclass
class Bound:
    """A sandbox, its shop and the channel row bound to it."""

    sandbox: Sandbox
    shop_id: str
    channel_id: int
    channel: str
    settings: Settings

    @property
    def clock(self):
        return self.sandbox.clock.now


def add_platform_and_channel(settings: Settings, sandbox: Sandbox, value: str = "shop-a", *,
                             shop: dict | None = None) -> tuple[int, str]:
    """Rows as the admin enters them (secrets through the vault)."""
    vault = Vault.from_settings(settings)
    fields = sandbox.platform_fields()
    shop = shop or sandbox.add_shop()
    with session_scope(settings) as session:
        platform = session.query(Platform).filter_by(value=sandbox.platform_type).one_or_none()
        if platform is None:
            platform = Platform(value=sandbox.platform_type, name=sandbox.platform_type.title(),
                                platform_type=sandbox.platform_type, host=fields["host"], app_id=fields.get("app_id"),
                                app_secret_enc=vault.encrypt(fields.get("app_secret")),
                                settings_json=json.dumps(fields.get("settings") or {}))
            session.add(platform)
            session.flush()
        channel = Channel(value=value, name=f"{value} ({sandbox.platform_type})", oms_platform_id=platform.id,
                          shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(shop.get("credentials") or {})),
                          settings_json=json.dumps(shop.get("settings") or {}))
        session.add(channel)
        session.flush()
        return channel.id, shop["shop_id"]


def authorize(settings: Settings, sandbox: Sandbox, value: str) -> None:
    """OAuth: start, merchant consents in the sandbox, callback completes; else the credential check."""
    with session_scope(settings) as session:
        oauth = needs_token_refresh(session.query(Channel).filter_by(value=value).one(), session,
                                    vault=Vault.from_settings(settings))
    if oauth:
        url = start_authorization(value, "http://127.0.0.1:9/oauth/callback/" + sandbox.platform_type,
                                  settings=settings, clock=sandbox.clock.now)
        params = sandbox.consent(url)
        complete_authorization(sandbox.platform_type, params, settings=settings, clock=sandbox.clock.now,
                               policy=FAST)
    else:
        ok, message = check_credentials(value, settings=settings, policy=FAST, clock=sandbox.clock.now)
        assert ok, message


def bind(settings: Settings, sandbox: Sandbox, value: str = "shop-a") -> Bound:
    channel_id, shop_id = add_platform_and_channel(settings, sandbox, value)
    authorize(settings, sandbox, value)
    return Bound(sandbox, shop_id, channel_id, value, settings)


#: 2026-03-15 12:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


