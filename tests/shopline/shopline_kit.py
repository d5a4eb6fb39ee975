"""Helpers shared by the Shopline tests (a uniquely named module: test dirs are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime

from retry_kit import lost_answer_policy  # noqa: F401 - re-exported for this folder's tests

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig, TokenSet
from platforms.shopline.adapter import ShoplineAdapter
from sandboxes.shopline import ShoplineSandbox

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


def make_adapter(sandbox: ShoplineSandbox, shop: dict, tokens: TokenSet | None = None, *,
                 policy: RetryPolicy = FAST, **settings) -> ShoplineAdapter:
    fields = sandbox.platform_fields()
    platform = PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret=fields["app_secret"],
                              settings=fields["settings"])
    channel = ChannelConfig(name="shopline-test", shop_id=shop["shop_id"], credentials=shop["credentials"],
                            settings={**shop["settings"], **settings})
    return ShoplineAdapter(platform, channel, tokens, policy=policy, clock=sandbox.clock.now)


def authorize(sandbox: ShoplineSandbox, shop: dict) -> ShoplineAdapter:
    """An OAuth adapter that went through the authorize page and the code grant."""
    adapter = make_adapter(sandbox, shop)
    url = adapter.authorize_url("http://127.0.0.1:9/callback", "st4te")
    params = sandbox.consent(url)
    assert params["state"] == "st4te"
    adapter.set_tokens(adapter.exchange_code(params, "http://127.0.0.1:9/callback"))
    return adapter
