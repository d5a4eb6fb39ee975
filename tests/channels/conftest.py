"""Channel fixtures: a real sandbox (HTTP on 127.0.0.1) and a channel bound to it (see channels_kit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels_kit import NOW, SANDBOXES, Bound, bind

from oms_bridge.settings import Settings
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox


@pytest.fixture
def shopee() -> Iterator[ShopeeSandbox]:
    with ShopeeSandbox(clock=SandboxClock(NOW), seed=3) as sandbox:
        yield sandbox


@pytest.fixture
def shopee_bound(sqlite_settings: Settings, shopee: ShopeeSandbox) -> Bound:
    return bind(sqlite_settings, shopee)


@pytest.fixture(params=SANDBOXES, ids=lambda cls: cls.platform_type)
def any_bound(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Iterator[Bound]:
    """The same flow against every sandbox that exists."""
    with request.param(clock=SandboxClock(NOW), seed=5) as sandbox:
        yield bind(sqlite_settings, sandbox)
