"""Helpers shared by the momo tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime

from platforms.base import ChannelConfig, PlatformConfig
from platforms.http import RetryPolicy
from platforms.momo.adapter import MomoAdapter
from platforms.momo.sandbox import MomoSandbox

#: 2026-03-15 12:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
#: no sleeping between attempts; timeouts generous enough for a loaded 2-core CI machine
FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
#: for tests that provoke a timeout and then need the retry to succeed under the same policy: the
#: client gives up after 1 s (an ordinary local answer never takes that long), the sandbox stalls 3 s
SHORT = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3.0, read_timeout=1.0)
#: how long a "timeout" fault stalls: comfortably longer than any short read timeout above
STALL = 3.0


def one_try(kind: str = "") -> RetryPolicy:
    """A single attempt; a short read timeout only when the test provokes a timeout."""
    return RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=3.0,
                       read_timeout=0.5 if kind == "timeout" else 3.0)


def make_adapter(sandbox: MomoSandbox, shop: dict, *, policy: RetryPolicy = FAST, **settings) -> MomoAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], settings=fields["settings"])
    channel = ChannelConfig(name="momo-test", shop_id=shop["shop_id"], credentials=shop["credentials"],
                            settings={**shop["settings"], **settings})
    return MomoAdapter(platform, channel, policy=policy, clock=sandbox.clock.now)
