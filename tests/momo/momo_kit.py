"""Helpers shared by the momo tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from platforms.base import ChannelConfig, PlatformConfig
from platforms.http import HttpClient, RetryPolicy
from platforms.momo.adapter import MomoAdapter
from platforms.momo.sandbox import MomoSandbox

#: 2026-03-15 12:00 Asia/Taipei
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
#: no sleeping between attempts; timeouts generous enough for a loaded 2-core CI machine
FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
#: how long a "timeout" fault stalls: comfortably longer than any short read timeout above
STALL = 3.0
#: the stall of a request whose answer is lost (see :func:`lost_answer_policy`): longer than its 0.5 s timeout
LOST_STALL = 1.5


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


def lost_answer_policy(applied: Callable[[], bool], http: Callable[[], HttpClient]) -> RetryPolicy:
    """For "the answer was lost" tests: the first attempt times out after 0.5 s while the sandbox stalls;
    before the retry we wait until the stalled request has really been applied (no wall-clock guess) and
    give the client a generous timeout, so a loaded machine cannot turn the retry into a timeout too."""

    def wait_until_applied(_seconds: float) -> None:
        deadline = time.monotonic() + 15
        while not applied():
            assert time.monotonic() < deadline, "the stalled request was never applied"
            time.sleep(0.02)
        client = http()
        client.policy = replace(client.policy, read_timeout=3.0)

    return RetryPolicy(max_attempts=2, sleep=wait_until_applied, connect_timeout=3.0, read_timeout=0.5)
