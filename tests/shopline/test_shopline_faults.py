"""Every fault the Shopline sandbox can inject becomes the right typed error; transient ones are retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from shopline_kit import NOW, STALL, make_adapter, one_try

from platforms.base import PermanentError, RateLimited, TransientError
from platforms.shopline.client import ShoplineClient
from sandboxes.server import RateLimiter, SandboxClock
from sandboxes.shopline import ShoplineSandbox

ONE_TRY = one_try()


@pytest.mark.parametrize(("kind", "error"), [
    ("429", RateLimited), ("500", TransientError), ("502", TransientError), ("503", TransientError),
    ("timeout", TransientError), ("malformed_json", TransientError), ("truncated_json", TransientError),
    ("error_envelope", TransientError),
])
@pytest.mark.parametrize("call", ["check_credentials", "fetch_orders"])
def test_each_fault_is_typed(shopline_sandbox, token_shop, kind, error, call):
    adapter = make_adapter(shopline_sandbox, token_shop, policy=one_try(kind))
    shopline_sandbox.faults.inject(kind, delay=STALL)
    with pytest.raises(error) as info:
        if call == "check_credentials":
            adapter.check_credentials()
        else:
            list(adapter.fetch_orders(NOW - timedelta(days=1), NOW))
    if kind != "429":
        assert not isinstance(info.value, RateLimited)
    assert token_shop["credentials"]["access_token"] not in str(info.value)


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "malformed_json", "truncated_json", "error_envelope"])
def test_a_fault_on_page_two_is_retried_and_nothing_is_lost(shopline_sandbox, token_shop, kind):
    ids = shopline_sandbox.generate_orders(token_shop["shop_id"], 7, start=NOW - timedelta(hours=1), end=NOW)
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3)
    got = []
    for order in adapter.fetch_orders(NOW - timedelta(days=1), NOW):
        got.append(order.external_id)
        if len(got) == 3:
            shopline_sandbox.faults.inject(kind, count=2)
    assert sorted(got) == sorted(ids)
    assert shopline_sandbox.calls("/v1/orders") == 4 + 2  # pages 1, 3, 2, 1 and the two faulted attempts


def test_the_documented_429_waits_for_the_next_second(shopline_sandbox, token_shop):
    """The documented 429 carries no Retry-After: the limit is per second, so the client waits one second."""
    shopline_sandbox.faults.inject("429")
    client = ShoplineClient(shopline_sandbox.base_url, lambda: token_shop["credentials"]["access_token"],
                            policy=ONE_TRY, user_agent=shopline_sandbox.app_handle)
    with pytest.raises(RateLimited, match="Rate limit exceeded for attempts to access Open API") as info:
        client.token_info()
    assert info.value.retry_after == 1.0 and info.value.code == "RateLimitExceeded"


def test_sandbox_rate_limit_is_per_token():
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), rate_limit=2) as sandbox:
        sandbox.limiter = RateLimiter(2, sandbox.clock, monotonic=lambda: 0.0)  # all calls in one second
        shop, other = sandbox.add_shop(), sandbox.add_shop()
        client = ShoplineClient(sandbox.base_url, lambda: shop["credentials"]["access_token"], policy=ONE_TRY,
                                user_agent=sandbox.app_handle)
        limited = []
        for _ in range(4):
            try:
                client.token_info()
            except RateLimited as exc:
                limited.append(exc)
        assert len(limited) == 2 and limited[0].retry_after == 1
        ShoplineClient(sandbox.base_url, lambda: other["credentials"]["access_token"], policy=ONE_TRY,
                       user_agent=sandbox.app_handle).token_info()


def test_validation_error_is_permanent_and_not_retried(shopline_sandbox, token_shop):
    import requests

    response = requests.get(f"{shopline_sandbox.base_url}/v1/orders", params={"updated_after": "2026-03-01T00:00:00Z"},
                            headers={"Authorization": f"Bearer {token_shop['credentials']['access_token']}",
                                     "User-Agent": shopline_sandbox.app_handle},
                            timeout=5)
    assert response.status_code == 422 and "YYYY-MM-DD HH:MM:SS" in response.json()["error"]
    from platforms.shopline.client import classify

    with pytest.raises(PermanentError, match="HTTP 422"):
        classify(response)


def test_persistent_server_errors_give_up_after_the_policy(shopline_sandbox, token_adapter):
    shopline_sandbox.faults.inject("502", count=10)
    with pytest.raises(TransientError, match="HTTP 502"):
        token_adapter.check_credentials()
    assert shopline_sandbox.calls() == 3
