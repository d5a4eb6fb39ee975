"""Cyberbiz fixtures: a running CyberbizSandbox on a frozen clock and adapters (V1 or V2) bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cyberbiz_kit import NOW, REDIRECT, build_adapter

from platforms.cyberbiz.adapter import CyberbizAdapter
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.server import SandboxClock


@pytest.fixture
def cbz_sandbox() -> Iterator[CyberbizSandbox]:
    sandbox = CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=7)
    with sandbox:
        yield sandbox


@pytest.fixture
def make_adapter(cbz_sandbox: CyberbizSandbox) -> Callable[..., tuple[CyberbizAdapter, dict]]:
    """``make_adapter("v1"|"v2", **settings)`` → (adapter, shop); V2 adapters are authorized already."""

    def make(auth_model: str = "v2", *, authorize: bool = True, **kwargs) -> tuple[CyberbizAdapter, dict]:
        shop = cbz_sandbox.add_shop(auth_model=auth_model)
        adapter = build_adapter(cbz_sandbox, shop, **kwargs)
        if auth_model == "v2" and authorize:
            params = cbz_sandbox.consent(adapter.authorize_url(REDIRECT, "state-1"))
            adapter.set_tokens(adapter.exchange_code(params, REDIRECT))
            adapter.api_calls = 0
        return adapter, shop

    return make
