"""Cyberbiz fixtures: a running CyberbizSandbox on a frozen clock and adapters (V1 or V2) bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from platforms.base import ChannelConfig, PlatformConfig
from platforms.cyberbiz.adapter import CyberbizAdapter
from platforms.cyberbiz.sandbox import CyberbizSandbox
from platforms.http import RetryPolicy
from platforms.sandboxing import SandboxClock

#: 2026-03-15 12:00:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
NO_SLEEP = RetryPolicy(max_attempts=4, sleep=lambda s: None, connect_timeout=1, read_timeout=2)
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=0.5, read_timeout=0.5)
REDIRECT = "https://bridge.example/oauth/cyberbiz"


@pytest.fixture
def cbz_sandbox() -> Iterator[CyberbizSandbox]:
    sandbox = CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=7)
    with sandbox:
        yield sandbox


def build_adapter(sandbox: CyberbizSandbox, shop: dict, *, policy: RetryPolicy = NO_SLEEP,
                  platform_settings: dict | None = None, **settings) -> CyberbizAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret=fields["app_secret"],
                              settings={**fields["settings"], **(platform_settings or {})})
    channel = ChannelConfig(name=f"cbz-{shop['settings']['auth_model']}", shop_id=shop["shop_id"],
                            credentials=shop["credentials"], settings={**shop["settings"], **settings})
    return CyberbizAdapter(platform, channel, policy=policy, clock=sandbox.clock.now)


@pytest.fixture
def make_adapter(cbz_sandbox: CyberbizSandbox) -> Callable[..., tuple[CyberbizAdapter, dict]]:
    """``make_adapter("v1"|"v2", **settings)`` → (adapter, shop); V2 adapters are authorized already."""

    def make(auth_model: str = "v2", *, authorize: bool = True, **kwargs) -> tuple[CyberbizAdapter, dict]:
        shop = cbz_sandbox.add_shop(auth_model=auth_model)
        adapter = build_adapter(cbz_sandbox, shop, **kwargs)
        if auth_model == "v2" and authorize:
            params = cbz_sandbox.consent(adapter.authorize_url(REDIRECT, "state-1"))
            adapter.set_tokens(adapter.exchange_code(params, REDIRECT))
            adapter.api_calls = 0
        return adapter, shop

    return make
