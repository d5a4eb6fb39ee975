"""Every sandbox fault maps to the right typed error, is retried to success, and no secret reaches a log."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from oms_bridge.remote.http import RetryPolicy
from platforms.base import PermanentError, RateLimited, TransientError
from platforms.shopee.client import classify
from sandboxes.server import FAULT_KINDS, RateLimiter

#: a "timeout" fault stalls this long: comfortably longer than the short read timeout of :func:`_policy`
STALL = 3.0


def _policy(kind: str = "", attempts: int = 1, sleep=lambda s: None) -> RetryPolicy:
    """A short read timeout only when the test provokes one (a 1 s answer is no timeout on a loaded machine)."""
    return RetryPolicy(max_attempts=attempts, sleep=sleep, connect_timeout=3.0,
                       read_timeout=(0.5 if attempts == 1 else 1.0) if kind == "timeout" else 3.0)


FAST_ONE_SHOT = _policy()


def _window(sandbox):
    now = sandbox.clock.now()
    return now - timedelta(days=1), now + timedelta(seconds=1)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_shopee_fault_gives_typed_error_without_retry(sandbox, shop, make_adapter, kind):
    adapter = make_adapter(_policy(kind))
    sandbox.generate_orders(shop["shop_id"], 2)
    sandbox.faults.inject(kind, path="get_order_list", delay=STALL)
    expected = RateLimited if kind == "429" else TransientError
    with pytest.raises(expected) as info:
        list(adapter.fetch_orders(*_window(sandbox)))
    assert not isinstance(info.value, PermanentError)
    if kind == "429":
        assert info.value.retry_after == 1.0
    if kind == "error_envelope":
        assert info.value.code == "error_server"
    assert adapter.api_calls == 1


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_shopee_fault_is_retried_to_success(sandbox, shop, make_adapter, kind):
    slept: list[float] = []
    adapter = make_adapter(_policy(kind, attempts=3, sleep=slept.append))
    sns = sandbox.generate_orders(shop["shop_id"], 60)
    sandbox.faults.inject(kind, path="get_order_detail", delay=STALL)
    orders = list(adapter.fetch_orders(*_window(sandbox)))
    assert sorted(o.external_id for o in orders) == sorted(sns)
    tracking = sandbox.calls("get_mass_tracking_number")  # PROCESSED orders' tracking numbers (50 a call)
    assert adapter.api_calls == 1 + 2 + 1 + tracking  # list, two detail batches, one retry
    assert len(slept) == 1
    if kind == "429":
        assert slept == [1.0]  # Retry-After honoured


def test_shopee_partner_rate_limit_answers_429(sandbox, shop, make_adapter):
    adapter = make_adapter(FAST_ONE_SHOT)
    # fresh (the authorization calls do not count) and with time held still, so the third call is within
    # the same second however slow the machine is
    sandbox.limiter = RateLimiter(2, sandbox.clock, monotonic=lambda: 0.0)
    adapter.check_credentials()
    adapter.check_credentials()
    with pytest.raises(RateLimited, match="Too many requests") as info:
        adapter.check_credentials()
    assert info.value.retry_after == 1.0 and info.value.status == 429 and info.value.code == "error_rate_limit"


def test_shopee_window_over_15_days_is_refused_by_the_sandbox_with_shopee_text(sandbox, adapter):
    now = int(sandbox.clock.timestamp())
    token, shop_id = adapter.tokens.access_token, adapter.channel.shop_id
    adapter.client.get_order_list(token, shop_id, time_from=now - 15 * 86400, time_to=now)  # exactly 15 days: fine
    with pytest.raises(PermanentError) as info:
        adapter.client.get_order_list(token, shop_id, time_from=now - 15 * 86400 - 1, time_to=now)
    assert info.value.code == "order.order_list_invalid_time"
    assert info.value.message == "Start time must be earlier than end time and diff in 15days."
    with pytest.raises(PermanentError, match="earlier than end time"):
        adapter.client.get_order_list(token, shop_id, time_from=now, time_to=now - 1)


@pytest.mark.parametrize("page_size", [0, 101])
def test_shopee_page_size_limits(sandbox, adapter, page_size):
    now = int(sandbox.clock.timestamp())
    with pytest.raises(PermanentError, match="page_size should be between 1 and 100") as info:
        adapter.client.get_order_list(adapter.tokens.access_token, adapter.channel.shop_id, time_from=now - 60,
                                      time_to=now, page_size=page_size)
    assert info.value.code == "error_param" and info.value.status == 400


def test_shopee_detail_batch_limit_is_enforced_on_both_sides(sandbox, adapter):
    sns = [f"X{i:05d}" for i in range(51)]
    with pytest.raises(ValueError, match="1..50"):
        adapter.client.get_order_detail(adapter.tokens.access_token, adapter.channel.shop_id, sns)
    with pytest.raises(PermanentError, match="order_sn_list should be between 1 and 50"):
        adapter.client._shop_get("/api/v2/order/get_order_detail", adapter.tokens.access_token,
                                 adapter.channel.shop_id, {"order_sn_list": ",".join(sns)})


def test_shopee_classify_envelope_table():
    import requests

    def response(status: int, body: str, headers: dict | None = None) -> requests.Response:
        r = requests.Response()
        r.status_code, r._content = status, body.encode()
        r.headers.update(headers or {})
        return r

    ok = classify(response(200, '{"error":"","message":"","response":{"x":1}}'))
    assert ok["response"] == {"x": 1}
    from platforms.base import AuthExpired, CredentialsInvalid

    cases = [
        (200, '{"error":"common.error_auth","message":"Invalid access_token."}', AuthExpired),
        (403, '{"error":"error_auth","message":"No permission to current api."}', PermanentError),
        (200, '{"error":"error_network","message":"x"}', TransientError),
        (200, '{"error":"error_busy","message":"x"}', TransientError),
        (200, '{"error":"ads.rate_limit.exceed_partner_api","message":"Too many requests"}', RateLimited),
        (200, '{"error":"error_sign","message":"Wrong sign."}', CredentialsInvalid),
        (404, '{"error":"error_not_found","message":"Wrong parameters, detail: the order is not found."}',
         PermanentError),
        (503, '{"error":"error_param","message":"x"}', TransientError),
        (200, '[1,2]', TransientError),
        (404, '<html>Not Found</html>', PermanentError),
        (408, '', TransientError),
    ]
    for status, body, expected in cases:
        with pytest.raises(expected):
            classify(response(status, body))
    with pytest.raises(RateLimited) as info:
        classify(response(429, "", {"Retry-After": "7"}))
    assert info.value.retry_after == 7.0


def test_shopee_no_token_or_sign_in_logs_or_errors(sandbox, shop, adapter, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.generate_orders(shop["shop_id"], 3)
    sandbox.faults.inject("500", path="get_order_list")
    list(adapter.fetch_orders(*_window(sandbox)))
    adapter.refresh(adapter.tokens)
    sandbox.faults.inject("timeout", path="get_shop_info", delay=STALL)
    adapter.policy = _policy("timeout")
    adapter.client.http.policy = adapter.policy
    with pytest.raises(TransientError) as info:
        adapter.check_credentials()
    assert "get_order_list" in caplog.text and "sign=****" in caplog.text and "access_token=****" in caplog.text
    for secret in (adapter.tokens.access_token, adapter.tokens.refresh_token, sandbox.partner_key):
        assert secret not in caplog.text and secret not in str(info.value)
    import re

    assert not re.search(r"sign=[0-9a-f]{64}", caplog.text)
