"""Helpers shared by the momo tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime

from retry_kit import lost_answer_policy  # noqa: F401 - re-exported for this folder's tests

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig
from platforms.momo.adapter import MomoAdapter
from sandboxes.momo import MomoSandbox

#: 2026-03-15 12:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
#: no sleeping between attempts; timeouts generous enough for a loaded 2-core CI machine
FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
#: how long a "timeout" fault stalls: comfortably longer than any short read timeout above
STALL = 3.0
#: the stall of a request whose answer is lost (see :func:`lost_answer_policy`): longer than its 0.5 s timeout
LOST_STALL = 1.5
#: list calls of one window with the default variants: company 1 + store chains 6 + carriers x temperatures 12
WINDOW_CALLS = 19
#: one fetch of a short range: one window and the stop list
FETCH_CALLS = WINDOW_CALLS + 1


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
