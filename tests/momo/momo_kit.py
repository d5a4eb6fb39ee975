"""Helpers shared by the momo tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime

from platforms.base import ChannelConfig, PlatformConfig
from platforms.http import RetryPolicy
from platforms.momo.adapter import MomoAdapter
from platforms.momo.sandbox import MomoSandbox

#: 2026-03-15 12:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
#: no sleeping between attempts; timeouts generous enough for a loaded CI machine
FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=2.0, read_timeout=2.0)
#: for tests that provoke a timeout: the sandbox stalls 1 s, the client gives up after 0.3 s
SHORT = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=2.0, read_timeout=0.3)
STALL = 1.0


def one_try(kind: str = "") -> RetryPolicy:
    """A single attempt; a short read timeout only when the test provokes a timeout."""
    return RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=2.0,
                       read_timeout=0.3 if kind == "timeout" else 2.0)


def make_adapter(sandbox: MomoSandbox, shop: dict, *, policy: RetryPolicy = FAST, **settings) -> MomoAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], settings=fields["settings"])
    channel = ChannelConfig(name="momo-test", shop_id=shop["shop_id"], credentials=shop["credentials"],
                            settings={**shop["settings"], **settings})
    return MomoAdapter(platform, channel, policy=policy, clock=sandbox.clock.now)
