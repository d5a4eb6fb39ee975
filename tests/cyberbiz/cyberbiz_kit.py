"""Helpers shared by the Cyberbiz tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime

from platforms.base import ChannelConfig, PlatformConfig
from platforms.cyberbiz.adapter import CyberbizAdapter
from platforms.cyberbiz.sandbox import CyberbizSandbox
from platforms.http import RetryPolicy

#: 2026-03-15 12:00:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
NO_SLEEP = RetryPolicy(max_attempts=4, sleep=lambda s: None, connect_timeout=1, read_timeout=2)
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=0.5, read_timeout=0.5)
REDIRECT = "https://bridge.example/oauth/cyberbiz"


def build_adapter(sandbox: CyberbizSandbox, shop: dict, *, policy: RetryPolicy = NO_SLEEP,
                  platform_settings: dict | None = None, **settings) -> CyberbizAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret=fields["app_secret"],
                              settings={**fields["settings"], **(platform_settings or {})})
    channel = ChannelConfig(name=f"cbz-{shop['settings']['auth_model']}", shop_id=shop["shop_id"],
                            credentials=shop["credentials"], settings={**shop["settings"], **settings})
    return CyberbizAdapter(platform, channel, policy=policy, clock=sandbox.clock.now)
