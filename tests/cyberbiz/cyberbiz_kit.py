"""Helpers shared by the Cyberbiz tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig
from platforms.cyberbiz.adapter import CyberbizAdapter
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.server import RateLimiter, SandboxClock

#: 2026-03-15 12:00:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
#: timeouts generous enough for a loaded 2-core CI machine; only tests provoking a timeout use short ones
NO_SLEEP = RetryPolicy(max_attempts=4, sleep=lambda s: None, connect_timeout=3, read_timeout=3)
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
#: a timeout fault stalls this long: comfortably longer than the short read timeouts tests use (0.5-1 s)
STALL = 3.0


def one_try(kind: str = "") -> RetryPolicy:
    """A single attempt; a short read timeout only when the test provokes a timeout."""
    return RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=3.0,
                       read_timeout=0.5 if kind == "timeout" else 3.0)
REDIRECT = "https://bridge.example/oauth/cyberbiz"


def build_adapter(sandbox: CyberbizSandbox, shop: dict, *, policy: RetryPolicy = NO_SLEEP,
                  platform_settings: dict | None = None, **settings) -> CyberbizAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret=fields["app_secret"],
                              settings={**fields["settings"], **(platform_settings or {})})
    channel = ChannelConfig(name=f"cbz-{shop['settings']['auth_model']}", shop_id=shop["shop_id"],
                            credentials=shop["credentials"], settings={**shop["settings"], **settings})
    return CyberbizAdapter(platform, channel, policy=policy, clock=sandbox.clock.now)


class VirtualLimiter(RateLimiter):
    """The sandbox's per-second limit on a virtual second that only moves when a test sleeps.

    Rate-limit tests then do not depend on how fast a loaded machine sends requests: ``sleep``
    (given to the RetryPolicy) advances ``now`` instead of waiting.
    """

    def __init__(self, per_second: int):
        super().__init__(per_second, SandboxClock(), monotonic=lambda: self.now)
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
