"""Fixtures for the Shopee tests: a real sandbox on 127.0.0.1 and adapters pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig
from platforms.shopee.adapter import ShopeeAdapter
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox

#: timeouts generous enough for a loaded 2-core CI machine; only tests provoking a timeout use short ones
NO_SLEEP = RetryPolicy(max_attempts=4, sleep=lambda s: None, connect_timeout=3, read_timeout=3)
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=3, read_timeout=3)
START = datetime(2026, 3, 1, 4, 0, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[ShopeeSandbox]:
    sb = ShopeeSandbox(clock=SandboxClock(START, frozen=True), seed=7)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def shop(sandbox: ShopeeSandbox) -> dict:
    return sandbox.add_shop()


@pytest.fixture
def make_adapter(sandbox: ShopeeSandbox, shop: dict) -> Callable[..., ShopeeAdapter]:
    def make(policy: RetryPolicy = NO_SLEEP, *, authorize: bool = True, shop_id: str | None = None,
             **settings) -> ShopeeAdapter:
        sid = shop_id or shop["shop_id"]
        adapter = ShopeeAdapter(PlatformConfig(**sandbox.platform_fields()),
                                ChannelConfig(name="shopee-tw", shop_id=sid, settings=settings),
                                policy=policy, clock=sandbox.clock.now)
        if authorize:
            params = sandbox.consent(adapter.authorize_url("https://bridge.example/cb", "s1"), shop_id=sid)
            adapter.set_tokens(adapter.exchange_code(params))
            adapter.api_calls = 0
        return adapter

    return make


@pytest.fixture
def adapter(make_adapter) -> ShopeeAdapter:
    return make_adapter()
