"""Shopline fixtures: a running ShoplineSandbox on a frozen clock, merchants and adapters bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shopline_kit import NOW, make_adapter

from platforms.shopline.adapter import ShoplineAdapter
from sandboxes.server import SandboxClock
from sandboxes.shopline import ShoplineSandbox


@pytest.fixture
def shopline_sandbox() -> Iterator[ShoplineSandbox]:
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), seed=3) as sandbox:
        yield sandbox


@pytest.fixture
def token_shop(shopline_sandbox: ShoplineSandbox) -> dict:
    return shopline_sandbox.add_shop(name="林家茶行", handle="linstea")


@pytest.fixture
def token_adapter(shopline_sandbox: ShoplineSandbox, token_shop: dict) -> ShoplineAdapter:
    return make_adapter(shopline_sandbox, token_shop)


@pytest.fixture
def oauth_shop(shopline_sandbox: ShoplineSandbox) -> dict:
    return shopline_sandbox.add_shop(auth_model="oauth")
