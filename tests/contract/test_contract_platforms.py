"""ONE contract suite every marketplace adapter must pass, against its own sandbox over real HTTP.

How a platform joins: append your sandbox class to :data:`SANDBOXES`. The suite only uses the generic
:class:`sandboxes.server.Sandbox` admin helpers and the :class:`platforms.base.Adapter` surface, so
your sandbox must:

- ``platform_fields()`` → kwargs for :class:`PlatformConfig`; ``add_shop()`` → ``shop_id``, ``credentials``,
  ``settings`` (plus anything else) for :class:`ChannelConfig`;
- when ``adapter.uses_oauth``: ``consent(authorize_url)`` → the callback query parameters that
  ``adapter.exchange_code`` takes (approving for the shop added last); otherwise ``check_credentials`` must
  work with the ``credentials`` ``add_shop`` returned;
- ``generate_orders(shop_id, n, start=, end=, status=)`` where ``status`` may be a *canonical* status
  (``"ready_to_ship"``: an order the marketplace lets you ship), ``update_order(shop_id, id, status="cancelled")``
  with canonical names, ``shipment_of(shop_id, id)`` → a dict with ``tracking_number``;
- inject faults via ``sandbox.faults`` (kit :class:`~sandboxes.server.FaultPlan`): every kind must come back
  from the adapter as a :class:`TransientError` (``"429"`` as :class:`RateLimited`), and be retried to success.

The sandbox is built as ``sandbox_cls(clock=SandboxClock(START, frozen=True))`` and the adapter as
``adapter_class(sandbox.platform_type)(platform, channel, policy=..., clock=sandbox.clock.now)``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms_bridge.remote.http import RetryPolicy
from platforms.base import (
    CANONICAL_STATUSES,
    AuthExpired,
    ChannelConfig,
    Order,
    PermanentError,
    PlatformConfig,
    RateLimited,
    Shipment,
    TransientError,
    UnmappableOrder,
)
from platforms.registry import adapter_class
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import FAULT_KINDS, SandboxClock
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

#: Every platform's sandbox class; platform engineers append theirs.
SANDBOXES = [ShopeeSandbox, MomoSandbox, ShoplineSandbox, CyberbizSandbox]

#: generous timeouts: a local sandbox answers in milliseconds, but a loaded 2-core machine can stall a second
RETRYING = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
#: only for the test that provokes a timeout: the client gives up after 0.5 s, the sandbox stalls 3 s
TIMEOUT_SHOT = replace(ONE_SHOT, read_timeout=0.5)
STALL = 3.0
#: 2026-03-15 12:00 Asia/Taipei
START = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


class Env:
    """A started sandbox, its shop, and a ready (authorized) adapter."""

    def __init__(self, sandbox_cls):
        # a frozen sandbox clock: token lifetimes, signatures and windows never depend on how slow the machine is
        self.sandbox = sandbox_cls(clock=SandboxClock(START, frozen=True)).start()
        self.shop = self.sandbox.add_shop()
        self.shop_id = self.shop.get("shop_id")
        self.adapter = self.make_adapter(RETRYING)
        if self.adapter.uses_oauth:
            redirect = "https://bridge.example/oauth/callback"
            params = self.sandbox.consent(self.adapter.authorize_url(redirect, "contract-state"))
            self.adapter.set_tokens(self.adapter.exchange_code(params, redirect))

    def make_adapter(self, policy, platform: PlatformConfig | None = None, channel: ChannelConfig | None = None):
        platform = platform or PlatformConfig(**self.sandbox.platform_fields())
        channel = channel or ChannelConfig(name="contract", shop_id=self.shop_id,
                                           credentials=self.shop.get("credentials") or {},
                                           settings=self.shop.get("settings") or {})
        return adapter_class(self.sandbox.platform_type)(platform, channel, policy=policy,
                                                         clock=self.sandbox.clock.now)

    def with_policy(self, policy):
        adapter = self.make_adapter(policy, self.adapter.platform, self.adapter.channel)
        adapter.set_tokens(self.adapter.tokens)
        return adapter

    def window(self) -> tuple[datetime, datetime]:
        now = self.sandbox.clock.now()
        return now - timedelta(days=3), now + timedelta(minutes=1)

    def generate(self, count: int, **options) -> list[str]:
        now = self.sandbox.clock.now()
        return self.sandbox.generate_orders(self.shop_id, count, start=now - timedelta(days=2),
                                            end=now - timedelta(minutes=5), **options)


@pytest.fixture(params=SANDBOXES, ids=lambda cls: cls.platform_type)
def env(request):
    environment = Env(request.param)
    yield environment
    environment.sandbox.stop()


def _assert_canonical(order: Order) -> None:
    assert order.status in CANONICAL_STATUSES and order.platform_status
    for stamp in (order.created_at, order.updated_at, order.paid_at):
        assert stamp is None or stamp.utcoffset() == timedelta(0)
    for amount in (order.total, order.shipping_fee, order.discount):
        assert amount is None or isinstance(amount, Decimal)
    assert order.currency and order.lines
    for line in order.lines:
        assert isinstance(line.qty, Decimal) and isinstance(line.unit_price, Decimal) and line.qty > 0


def test_contract_credentials_answer(env):
    message = env.adapter.check_credentials()
    assert isinstance(message, str) and message


def test_contract_fetch_returns_each_order_exactly_once(env):
    ids = env.generate(7)
    orders = list(env.adapter.fetch_orders(*env.window()))
    assert all(isinstance(o, Order) for o in orders), [o for o in orders if isinstance(o, UnmappableOrder)]
    assert sorted(o.external_id for o in orders) == sorted(ids)
    for order in orders:
        _assert_canonical(order)


def test_contract_get_orders_rereads(env):
    ids = env.generate(3)
    again = env.adapter.get_orders(ids[:2])
    assert [o.external_id for o in again] == ids[:2]
    assert all(isinstance(o, Order) for o in again)


def _cancelling(order: Order) -> bool:
    """The marketplace cancelled the order, or asks the seller to (an open request the seller answers: momo's
    stop-shipping list, Shopee IN_CANCEL): both are what a buyer's cancellation of a shippable order looks like."""
    return order.status == "cancelled" or order.cancel_request is not None


def test_contract_update_then_refetch_sees_the_change(env):
    ids = env.generate(3, status="ready_to_ship")
    env.sandbox.update_order(env.shop_id, ids[1], status="cancelled")
    by_id = {o.external_id: o for o in env.adapter.fetch_orders(*env.window())}
    assert _cancelling(by_id[ids[1]]) and not _cancelling(by_id[ids[0]])
    assert _cancelling(env.adapter.get_orders([ids[1]])[0])


def test_contract_ship_records_the_tracking_number(env):
    sn = env.generate(1, status="ready_to_ship")[0]
    order = env.adapter.get_orders([sn])[0]
    result = env.adapter.ship(order, Shipment(tracking_number="CT0000123456", carrier="other"))
    recorded = env.sandbox.shipment_of(env.shop_id, sn)
    assert recorded and recorded["tracking_number"] == result.tracking_number
    # A marketplace whose API cannot hold our number (Shopline without carrier integration) records the shipment
    # and says so in the result's note, rather than reporting a number it does not have.
    assert result.tracking_number or result.note


def test_contract_500_is_retried(env):
    ids = env.generate(2)
    env.sandbox.faults.inject("500", count=1)
    before = env.adapter.api_calls
    orders = list(env.adapter.fetch_orders(*env.window()))
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert env.adapter.api_calls - before >= 2


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_contract_every_fault_is_a_typed_transient_error(env, kind):
    env.generate(1)
    adapter = env.with_policy(TIMEOUT_SHOT if kind == "timeout" else ONE_SHOT)
    env.sandbox.faults.inject(kind, count=1, delay=STALL)
    with pytest.raises(RateLimited if kind == "429" else TransientError) as info:
        list(adapter.fetch_orders(*env.window()))
    assert str(info.value)


def test_contract_bad_credentials_are_a_permanent_typed_error(env):
    platform = replace(env.adapter.platform, app_secret="wrong-secret-0000") if env.adapter.platform.app_secret \
        else env.adapter.platform
    channel = replace(env.adapter.channel,
                      credentials={k: "wrong-secret-0000" for k in env.adapter.channel.credentials})
    adapter = env.make_adapter(ONE_SHOT, platform, channel)
    if env.adapter.tokens:
        adapter.set_tokens(replace(env.adapter.tokens, access_token="0" * 32))
    with pytest.raises((PermanentError, AuthExpired)) as info:
        adapter.check_credentials()
    assert not isinstance(info.value, TransientError)
    assert "wrong-secret-0000" not in str(info.value)


def test_contract_api_calls_count_every_request_and_can_be_reset(env):
    env.generate(2)
    env.adapter.api_calls = 0
    env.sandbox.reset_calls()
    list(env.adapter.fetch_orders(*env.window()))
    env.adapter.check_credentials()
    assert env.adapter.api_calls == env.sandbox.calls() > 0
    before = env.sandbox.calls()
    env.adapter.api_calls = 0
    assert env.adapter.api_calls == 0
    env.adapter.check_credentials()
    assert 0 < env.adapter.api_calls == env.sandbox.calls() - before
