"""End to end: marketplace sandbox → GetOrder → the OMS pulls → the OMS ships a package by webhook →
the logistics run pushes the tracking number → the marketplace sandbox shows it. Once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms, package_payload
from oms_helpers import FAST, Shop, setup_json
from oms_helpers import bind_shop as _bind
from sqlalchemy import select

from channels.getorder import run_getorder
from channels.logistics import run_logistics_delivery
from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, ProcessRun
from oms_bridge.store.models.oms import OmsPackagePush
from oms_bridge.web.app import create_app
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import Sandbox, SandboxClock
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
HOURS_AGO_3, HOURS_AGO_1 = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
SANDBOXES: list[type[Sandbox]] = [ShopeeSandbox, CyberbizSandbox, MomoSandbox, ShoplineSandbox]


@pytest.fixture(params=SANDBOXES, ids=lambda cls: cls.platform_type)
def shop(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Iterator[Shop]:
    with request.param(clock=SandboxClock(NOW), seed=11) as sandbox:
        yield _bind(sqlite_settings, sandbox)


def _push(shop: Shop):
    return run_logistics_delivery(settings=shop.settings, policy=FAST, clock=shop.sandbox.clock.now)


def _logistics(settings: Settings, order_id: int) -> Delivery:
    with session_scope(settings) as s:
        return s.scalars(select(Delivery).where(Delivery.oms_order_id == order_id,
                                                Delivery.destination == "logistics")).one()


def test_oms_shipped_package_ends_as_tracking_number_on_the_marketplace(shop: Shop):
    sandbox, settings = shop.sandbox, shop.settings
    sns = sandbox.generate_orders(shop.shop_id, 2, status="ready_to_ship", start=HOURS_AGO_3, end=HOURS_AGO_1)
    run = run_getorder(shop.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST)
    assert run.new == 2, run.error_text

    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        orders = {o["number"]: o for o in oms.pull_all("orders")}
        assert set(orders) == set(sns)
        target = orders[sns[0]]
        items = tuple(i["id"] for i in target["orderitem_set"])
        assert oms.send("package.created", package_payload(
            501, sns[0], "100", "Waiting", at="2026-03-15T04:10:00Z", item_ids=items)).json()["status"] == "applied"
        shipped = package_payload(501, sns[0], "600", "Shipped", at="2026-03-15T05:00:00Z", item_ids=items,
                                  tracking="TW2026031500001", carrier="黑貓宅急便")
        assert oms.send("package.status.shipped", shipped, event_uuid="ship-501").json()["logistics_armed"]

        # The OMS's cargo company has no mapping yet: held with the fix in the message.
        first = _push(shop)
        assert (first.held, first.sent) == (1, 0)
        row = _logistics(settings, target["id"])
        assert row.state == "held" and "oms carriers set" in row.last_error
        assert sandbox.shipment_of(shop.shop_id, sns[0]) is None

        carrier_code = {"shopee": "BLACKCAT", "cyberbiz": "ezcat", "momo": "統一速達",
                        "shopline": "黑貓宅急便"}[sandbox.platform_type]
        fixed = CliRunner().invoke(cli, ["oms", "carriers", "set", sandbox.platform_type, "黑貓宅急便", carrier_code])
        assert fixed.exit_code == 0 and "1 held shipment(s)" in fixed.output, fixed.output
        second = _push(shop)
        assert (second.sent, second.held, second.failed) == (1, 0, 0), _logistics(settings, target["id"]).last_error
        recorded = sandbox.shipment_of(shop.shop_id, sns[0])
        assert recorded is not None
        if sandbox.platform_type == "shopline":  # no documented call stores our number: kept here, and said so
            assert recorded["status"] == "shipped" and recorded["tracking_number"] is None
            assert any("kept in the bridge" in warning for warning in second.details.get("warnings", []))
        else:
            assert "TW2026031500001" in json.dumps(recorded, ensure_ascii=False, default=str)
        assert sandbox.shipment_of(shop.shop_id, sns[1]) is None
        row = _logistics(settings, target["id"])
        assert row.state == "sent" and row.external_ref

        # The OMS repeats the shipped webhook (same uuid, then a new uuid with the same data): no second push.
        assert oms.send("package.status.shipped", shipped, event_uuid="ship-501").json()["status"] == "duplicate"
        assert oms.send("package.status.shipped", shipped).json()["logistics_armed"] is False
        calls_before = sandbox.calls()
        third = _push(shop)
        assert (third.fetched, third.sent) == (0, 0) and sandbox.calls() == calls_before
        with session_scope(settings) as s:
            push = s.scalars(select(OmsPackagePush)).one()
            assert push.state == "sent" and push.tracking_number == "TW2026031500001"
            assert s.scalars(select(ProcessRun).where(ProcessRun.process == "logistics_delivery")).first()


def test_oms_cancelled_order_is_not_shipped(sqlite_settings):
    with ShopeeSandbox(clock=SandboxClock(NOW), seed=12) as sandbox:
        shop = _bind(sqlite_settings, sandbox)
        (sn,) = sandbox.generate_orders(shop.shop_id, 1, status="ready_to_ship",
                                        start=HOURS_AGO_3, end=HOURS_AGO_1)
        run_getorder(shop.channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
        with session_scope(sqlite_settings) as s:
            order = s.scalars(select(Order).where(Order.external_id == sn)).one()
            order.status = "cancelled"
            order_id = order.id
        with TestClient(create_app()) as client:
            oms = FakeOms.from_setup(setup_json(), client)
            oms.pull_all("orders")
            oms.send("package.status.shipped", package_payload(7, sn, "600", "Shipped", tracking="T-7"))
        stats = _push(shop)
        assert stats.held == 1 and "cancelled" in _logistics(sqlite_settings, order_id).last_error
        assert sandbox.shipment_of(shop.shop_id, sn) is None


def test_oms_transient_marketplace_failure_retries_then_succeeds(sqlite_settings):
    with ShopeeSandbox(clock=SandboxClock(NOW), seed=13) as sandbox:
        shop = _bind(sqlite_settings, sandbox)
        (sn,) = sandbox.generate_orders(shop.shop_id, 1, status="ready_to_ship",
                                        start=HOURS_AGO_3, end=HOURS_AGO_1)
        run_getorder(shop.channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
        with TestClient(create_app()) as client:
            oms = FakeOms.from_setup(setup_json(), client)
            order = oms.pull_all("orders")[0]
            oms.send("package.status.shipped", package_payload(8, sn, "600", "Shipped", tracking="T-8"))
        sandbox.faults.inject("503", count=4, path="/api/v2/logistics/ship_order")
        stats = _push(shop)
        assert (stats.failed, stats.sent) == (1, 0)
        row = _logistics(sqlite_settings, order["id"])
        assert row.state == "retry" and row.next_attempt_at is not None
        assert (row.cause_code, row.cause_subject) == ("delivery_failed", "shopee: the call failed")  # no order no.
        assert sandbox.shipment_of(shop.shop_id, sn) is None
        sandbox.faults.clear()
        later = run_logistics_delivery(settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now,
                                       now=row.next_attempt_at)
        assert later.sent == 1
        assert sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]


def test_oms_expired_access_token_is_refreshed_once_and_the_push_goes_through(store_settings):
    """Both stores: the refresh takes a row lock on PostgreSQL, after the push batch has committed."""
    settings = store_settings
    with ShopeeSandbox(clock=SandboxClock(NOW), seed=14) as sandbox:
        shop = _bind(settings, sandbox)
        (sn,) = sandbox.generate_orders(shop.shop_id, 1, status="ready_to_ship", start=HOURS_AGO_3, end=HOURS_AGO_1)
        run_getorder(shop.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST)
        with TestClient(create_app()) as client:
            oms = FakeOms.from_setup(setup_json(), client)
            oms.pull_all("orders")
            oms.send("package.status.shipped", package_payload(9, sn, "600", "Shipped", tracking="T-9"))
        with session_scope(settings) as s:
            version = s.get(Channel, shop.channel_id).token_version
        sandbox.clock.advance(hours=5)  # the 4-hour Shopee access token is dead now
        stats = _push(shop)
        assert (stats.sent, stats.held, stats.failed, stats.outcome) == (1, 0, 0, "success"), stats
        assert stats.details["token_refreshes"] == 1
        assert sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]
        with session_scope(settings) as s:
            assert s.get(Channel, shop.channel_id).token_version == version + 1


def test_oms_simulator_closes_the_loop(sqlite_settings):
    """The production simulator (used by the demo): pull everything, ship a package, tracking on Shopee."""
    from sandboxes.oms import OmsSimulator

    with ShopeeSandbox(clock=SandboxClock(NOW), seed=15) as sandbox:
        shop = _bind(sqlite_settings, sandbox)
        sns = sandbox.generate_orders(shop.shop_id, 3, status="ready_to_ship", start=HOURS_AGO_3, end=HOURS_AGO_1)
        run_getorder(shop.channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST)
        with TestClient(create_app()) as client:
            oms = OmsSimulator(setup_json(), client)
            copied = oms.pull_everything(page_size=50)
            assert len(copied["orders"]) == 3 and len(copied["townships"]) == 368
            assert len(copied["orderitem_set"]) == sum(len(o["orderitem_set"]) for o in copied["orders"])
            answer = oms.ship(copied["orders"][0], package_id=1, tracking_number="SIM-1")
            assert answer["logistics_armed"] is True
        assert _push(shop).sent == 1
        assert sandbox.shipment_of(shop.shop_id, copied["orders"][0]["number"])["tracking_number"]
        assert all(sandbox.shipment_of(shop.shop_id, sn) is None for sn in sns if sn != copied["orders"][0]["number"])
