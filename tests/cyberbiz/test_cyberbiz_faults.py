"""Cyberbiz faults: every injected fault becomes the right typed error, retries recover, 429 is honoured."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cyberbiz_kit import NOW, ONE_SHOT, STALL, VirtualLimiter, one_try

from oms_bridge.remote.http import RetryPolicy
from platforms.base import PermanentError, RateLimited, TransientError
from platforms.cyberbiz.client import Pacer

WINDOW = (NOW - timedelta(days=1), NOW + timedelta(hours=1))


@pytest.mark.parametrize(("kind", "error", "message"), [
    ("429", RateLimited, "API rate limit exceeded"),
    ("500", TransientError, "HTTP 500"),
    ("502", TransientError, "HTTP 502"),
    ("503", TransientError, "HTTP 503"),
    ("timeout", TransientError, "timeout calling GET"),
    ("malformed_json", TransientError, "malformed JSON"),
    ("truncated_json", TransientError, "malformed JSON"),
    ("error_envelope", TransientError, "系統忙碌中"),
])
@pytest.mark.parametrize("auth_model", ["v1", "v2"])
def test_cyberbiz_each_fault_is_a_typed_error(cbz_sandbox, make_adapter, auth_model, kind, error, message):
    adapter, shop = make_adapter(auth_model, policy=one_try(kind))
    cbz_sandbox.generate_orders(shop["shop_id"], 2)
    cbz_sandbox.faults.inject(kind, path="/v1/orders", delay=STALL, retry_after=3)
    with pytest.raises(error, match=message) as caught:
        list(adapter.fetch_orders(*WINDOW))
    assert caught.value.platform == "cyberbiz"
    if kind == "429":
        assert caught.value.retry_after == 3


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "malformed_json", "truncated_json", "error_envelope"])
def test_cyberbiz_a_passing_fault_is_retried_and_nothing_is_lost(cbz_sandbox, make_adapter, kind):
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=3, sleep=slept.append, backoff_initial=0.01)
    adapter, shop = make_adapter("v2", policy=policy, platform_settings={"requests_per_second": 0})
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 51)
    cbz_sandbox.faults.inject(kind, path="/v1/orders", retry_after=7)
    orders = list(adapter.fetch_orders(*WINDOW))
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert adapter.api_calls == 3 and len(slept) == 1
    if kind == "429":
        assert slept == [7.0]  # Retry-After honoured


def test_cyberbiz_timeout_is_retried_with_a_short_client_timeout(cbz_sandbox, make_adapter):
    policy = RetryPolicy(max_attempts=2, sleep=lambda s: None, connect_timeout=1.0, read_timeout=1.0)
    adapter, shop = make_adapter("v1", policy=policy)
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 1)
    cbz_sandbox.faults.inject("timeout", path="/v1/orders", delay=STALL)
    assert [o.external_id for o in adapter.fetch_orders(*WINDOW)] == ids


def test_cyberbiz_rate_limit_5_per_second_per_token(cbz_sandbox, make_adapter):
    """The sixth request within one second gets 429 + Retry-After; another token has its own budget."""
    cbz_sandbox.limiter = VirtualLimiter(5)
    adapter, _shop = make_adapter("v2", policy=ONE_SHOT, platform_settings={"requests_per_second": 0})
    for _ in range(5):
        adapter.check_credentials()
    with pytest.raises(RateLimited, match="rate limit") as caught:
        adapter.check_credentials()
    assert caught.value.retry_after == 1.0 and caught.value.status == 429
    other, _ = make_adapter("v2", policy=ONE_SHOT, platform_settings={"requests_per_second": 0})
    other.check_credentials()
    cbz_sandbox.limiter.sleep(1.0)
    adapter.check_credentials()  # a second later the first token may go on


def test_cyberbiz_client_pacing_stays_under_the_real_limit(cbz_sandbox, make_adapter):
    adapter, _ = make_adapter("v2", policy=ONE_SHOT)  # paced at 5/s (the default); the sandbox's real limiter
    # The pacer stamps a request when it leaves, the sandbox when it arrives: on a loaded machine the two
    # seconds can be a tenth apart, so the test widens the pacer's margin (the rule under test is the same).
    adapter.client.pacer.margin = 0.5
    for _ in range(7):
        adapter.check_credentials()
    assert adapter.api_calls == 7


def test_cyberbiz_rate_limited_fetch_honours_retry_after_and_completes(cbz_sandbox, make_adapter):
    limiter = cbz_sandbox.limiter = VirtualLimiter(5)
    adapter, shop = make_adapter("v1", policy=RetryPolicy(max_attempts=3, sleep=limiter.sleep),
                                 platform_settings={"requests_per_second": 0})
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 6 * 50, start=NOW - timedelta(hours=5), end=NOW)
    orders = list(adapter.fetch_orders(*WINDOW))
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert limiter.slept == [1.0]  # the sixth page waited the Retry-After once, then went on
    assert adapter.api_calls == 7


def test_cyberbiz_pacer_waits_for_the_oldest_request_to_leave_the_second():
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        clock[0] += seconds

    pacer = Pacer(2, margin=0.0, sleep=sleep, monotonic=lambda: clock[0])
    pacer.wait()
    clock[0] += 0.25
    pacer.wait()
    pacer.wait()  # third within the second: wait until the first is a second old
    assert waits == [0.75]
    Pacer(0, sleep=sleep).wait()
    assert waits == [0.75]


def test_cyberbiz_not_found_and_other_4xx_are_permanent(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v2", policy=ONE_SHOT)
    assert adapter.get_orders(["123"]) == []
    with pytest.raises(PermanentError, match="無此資源") as caught:
        adapter.client.fulfillments("123")
    assert caught.value.status == 404
    with pytest.raises(PermanentError, match="格式錯誤"):
        adapter.client.list_orders(updated_start="2026/03/01", updated_end="2026-03-02 00:00:00")


def test_cyberbiz_error_shapes_are_all_read():
    from platforms.cyberbiz.client import error_message

    assert error_message({"error": ["無此資源"]}) == "無此資源"
    assert error_message({"error": "bad"}) == "bad"
    assert error_message({"message": "m"}) == "m"
    assert error_message({"messages": "ms"}) == "ms"
    assert error_message({"error": ["a", "b"]}) == "a; b"
    assert error_message("<html>") == "<html>"


@pytest.mark.parametrize("answer", ["404", "null", "206"])
def test_cyberbiz_every_not_found_answer_means_absent(cbz_sandbox, make_adapter, answer):
    cbz_sandbox.missing_order = answer
    adapter, shop = make_adapter("v1", policy=ONE_SHOT)
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1)
    assert [o.external_id for o in adapter.get_orders(["424242", order_id])] == [order_id]


def test_cyberbiz_broken_token_response_does_not_leak_the_token(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v2", policy=ONE_SHOT)
    cbz_sandbox.faults.inject("truncated_json", path="/admin/oauth/token")
    with pytest.raises(TransientError, match=r"malformed JSON from POST /_shops/.*/admin/oauth/token") as caught:
        adapter.refresh(adapter.tokens)
    assert "56943817" not in str(caught.value)  # the truncated body is not quoted
    assert adapter.refresh(adapter.tokens).access_token  # the refresh token survived the failed attempt
