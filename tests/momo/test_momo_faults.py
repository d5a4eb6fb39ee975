"""Every fault the momo sandbox can inject becomes the right typed error (and retries where they should)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from momo_kit import FETCH_CALLS, NOW, STALL, make_adapter, one_try

from platforms.base import PermanentError, RateLimited, TransientError
from platforms.momo.client import MomoClient
from sandboxes.momo import MomoSandbox
from sandboxes.server import RateLimiter, SandboxClock

ONE_TRY = one_try()


@pytest.mark.parametrize(("kind", "error"), [
    ("429", RateLimited), ("500", TransientError), ("502", TransientError), ("503", TransientError),
    ("timeout", TransientError), ("malformed_json", TransientError), ("truncated_json", TransientError),
    ("error_envelope", TransientError),
])
def test_each_fault_is_typed(momo_sandbox, momo_shop, kind, error):
    adapter = make_adapter(momo_sandbox, momo_shop, policy=one_try(kind))
    momo_sandbox.faults.inject(kind, delay=STALL)
    with pytest.raises(error) as info:
        adapter.check_credentials()
    assert info.type is error or kind != "429"
    assert momo_shop["credentials"]["entpPwd"] not in str(info.value)


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "malformed_json", "truncated_json", "error_envelope"])
def test_transient_faults_are_retried_then_succeed(momo_adapter, momo_sandbox, momo_shop, kind):
    momo_sandbox.generate_orders(momo_shop["shop_id"], 2, start=NOW - timedelta(hours=2), end=NOW)
    momo_sandbox.faults.inject(kind, count=2)
    orders = list(momo_adapter.fetch_orders(NOW - timedelta(days=1), NOW))
    assert len(orders) == 2
    assert momo_sandbox.calls() == FETCH_CALLS + 2  # every list variant + the stop list, two faults


def test_rate_limited_answer_carries_retry_after(momo_sandbox, momo_shop):
    momo_sandbox.faults.inject("429", retry_after=7)
    client = MomoClient(momo_sandbox.base_url, momo_shop["credentials"], policy=ONE_TRY)
    with pytest.raises(RateLimited) as info:
        client.query_unsent("unsendCompanyQuery", NOW - timedelta(hours=1), NOW)
    assert info.value.retry_after == 7


def test_sandbox_rate_limit_is_enforced_per_vendor():
    with MomoSandbox(clock=SandboxClock(NOW, frozen=True), rate_limit=2) as sandbox:
        sandbox.limiter = RateLimiter(2, sandbox.clock, monotonic=lambda: 0.0)  # all four calls in one second
        shop = sandbox.add_shop()
        client = MomoClient(sandbox.base_url, shop["credentials"], policy=ONE_TRY)
        errors = []
        for _ in range(4):
            try:
                client.query_unsent("unsendCompanyQuery", NOW - timedelta(hours=1), NOW)
            except RateLimited as exc:
                errors.append(exc)
        assert len(errors) == 2 and errors[0].retry_after == 1


def test_undecryptable_data_list_is_transient_and_retried(momo_adapter, momo_sandbox, momo_shop):
    momo_sandbox.generate_orders(momo_shop["shop_id"], 1, start=NOW - timedelta(hours=1), end=NOW)
    momo_sandbox.corrupt_data_lists = 1
    assert len(list(momo_adapter.fetch_orders(NOW - timedelta(days=1), NOW))) == 1
    momo_sandbox.corrupt_data_lists = 5
    with pytest.raises(TransientError, match="dataList cannot be decrypted"):
        list(momo_adapter.fetch_orders(NOW - timedelta(days=1), NOW))


def test_validation_messages_are_permanent_and_not_retried(momo_sandbox, momo_shop):
    client = MomoClient(momo_sandbox.base_url, momo_shop["credentials"])
    with pytest.raises(PermanentError, match="查詢起日不可大於迄日"):
        client.query_unsent("unsendCompanyQuery", NOW, NOW - timedelta(hours=1))
    assert momo_sandbox.calls() == 1


def test_persistent_server_errors_give_up_after_the_policy(momo_adapter, momo_sandbox):
    momo_sandbox.faults.inject("503", count=10)
    with pytest.raises(TransientError, match="HTTP 503"):
        momo_adapter.check_credentials()
    assert momo_sandbox.calls() == 3  # FAST policy: 3 attempts
