"""momo fixtures: a running MomoSandbox on a frozen clock, a vendor, and an adapter bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from momo_kit import NOW, make_adapter

from platforms.momo.adapter import MomoAdapter
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock


@pytest.fixture
def momo_sandbox() -> Iterator[MomoSandbox]:
    # momo publishes no rate limit; the sandbox limiter is tested on its own, and the tests here send many list
    # calls back to back with a policy that does not sleep
    with MomoSandbox(clock=SandboxClock(NOW, frozen=True), seed=7, rate_limit=500) as sandbox:
        yield sandbox


@pytest.fixture
def momo_shop(momo_sandbox: MomoSandbox) -> dict:
    return momo_sandbox.add_shop()


@pytest.fixture
def momo_adapter(momo_sandbox: MomoSandbox, momo_shop: dict) -> MomoAdapter:
    return make_adapter(momo_sandbox, momo_shop)
