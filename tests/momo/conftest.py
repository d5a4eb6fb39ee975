"""momo fixtures: a running MomoSandbox on a frozen clock, a vendor, and an adapter bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from platforms.base import ChannelConfig, PlatformConfig
from platforms.http import RetryPolicy
from platforms.momo.adapter import MomoAdapter
from platforms.momo.sandbox import MomoSandbox
from platforms.sandboxing import SandboxClock

#: 2026-03-15 12:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=0.5, read_timeout=0.5)


@pytest.fixture
def momo_sandbox() -> Iterator[MomoSandbox]:
    sandbox = MomoSandbox(clock=SandboxClock(NOW, frozen=True), seed=7)
    with sandbox:
        yield sandbox


@pytest.fixture
def momo_shop(momo_sandbox: MomoSandbox) -> dict:
    return momo_sandbox.add_shop()


def make_adapter(sandbox: MomoSandbox, shop: dict, *, policy: RetryPolicy = FAST, **settings) -> MomoAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], settings=fields["settings"])
    channel = ChannelConfig(name="momo-test", shop_id=shop["shop_id"], credentials=shop["credentials"],
                            settings={**shop["settings"], **settings})
    return MomoAdapter(platform, channel, policy=policy, clock=sandbox.clock.now)


@pytest.fixture
def momo_adapter(momo_sandbox: MomoSandbox, momo_shop: dict) -> MomoAdapter:
    return make_adapter(momo_sandbox, momo_shop)
