"""A shipment is recorded exactly as the marketplace made it, whatever answers were lost (issue 13 defect 2).

Through :func:`run_logistics_delivery` against the Shopee sandbox, whose ``lost_answer`` fault applies a request
and then drops the connection. The push is marked attempted before the call; a lost answer, or a worker killed
after Shopee accepted the shipment, is resolved by reading the order back - never by sending ``ship_order``
again (Shopee refuses a second one as "logistic status not ready to ship").
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from click.testing import CliRunner
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms, package_payload
from oms_helpers import FAST, Shop, bind_shop, setup_json
from sqlalchemy import select

from channels.getorder import run_getorder
from channels.logistics import run_logistics_delivery
from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery
from oms_bridge.store.models.oms import OmsPackagePush
from oms_bridge.web.app import create_app
from platforms.base import Adapter
from platforms.shopee.adapter import ShopeeAdapter
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox

SHIP = "/api/v2/logistics/ship_order"
TRACKING = "/api/v2/logistics/get_tracking_number"
DETAIL = "/api/v2/order/get_order_detail"

WORKER = """
from channels.logistics import run_logistics_delivery
from oms_bridge.remote.http import RetryPolicy
run_logistics_delivery(policy=RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=0.5,
                                          read_timeout=60.0))
"""


def _shipped_order(settings: Settings, sandbox: ShopeeSandbox, tracking: str, **shop_options) -> tuple[Shop, str, int]:
    """A Shopee order the OMS has reported shipped: its logistics row is armed."""
    shop = bind_shop(settings, sandbox, **shop_options)
    now = sandbox.clock.now()
    (sn,) = sandbox.generate_orders(shop.shop_id, 1, status="ready_to_ship", start=now - timedelta(hours=3),
                                    end=now - timedelta(hours=1))
    run = run_getorder(shop.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST)
    assert run.new == 1, run.error_text
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        order = oms.pull_all("orders")[0]
        answer = oms.send("package.status.shipped", package_payload(41, sn, "600", "Shipped", tracking=tracking))
        assert answer.json()["logistics_armed"] is True
    return shop, sn, order["id"]


def _row(settings: Settings, order_id: int) -> Delivery:
    with session_scope(settings) as s:
        return s.scalars(select(Delivery).where(Delivery.oms_order_id == order_id,
                                                Delivery.destination == "logistics")).one()


def _push_row(settings: Settings) -> OmsPackagePush:
    with session_scope(settings) as s:
        push = s.scalars(select(OmsPackagePush)).one()
        s.expunge(push)
        return push


def _push(shop: Shop, **kw):
    return run_logistics_delivery(settings=shop.settings, policy=FAST, clock=shop.sandbox.clock.now, **kw)


def test_every_ship_answer_lost_one_shipment_recorded_with_shopees_tracking_number(store_settings: Settings):
    """Issue 13 defect 2 end to end: one push sent ship_order five times and ended held "refused"."""
    with ShopeeSandbox(clock=SandboxClock(), seed=31) as sandbox:
        shop, sn, order_id = _shipped_order(store_settings, sandbox, "OMS-31", logistics="dropoff")
        sandbox.faults.inject("lost_answer", path=SHIP, count=1000)  # every answer to ship_order is dropped
        stats = _push(shop)
        assert (stats.sent, stats.held, stats.failed) == (1, 0, 0), _row(store_settings, order_id).last_error
        assert sandbox.calls(SHIP) == 1
        shopee = sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]
        assert shopee.startswith("TW") and shopee != "OMS-31"  # Shopee's own number (dropoff), not the OMS's
        push = _push_row(store_settings)
        assert (push.state, push.platform_tracking, push.attempted_at) == ("sent", shopee, None)
        assert _row(store_settings, order_id).state == "sent" and stats.details["lost_answers"] == 1


def test_lost_answer_and_unreadable_state_waits_then_records_without_resending(sqlite_settings: Settings):
    with ShopeeSandbox(clock=SandboxClock(), seed=32) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "OMS-32")
        sandbox.faults.inject("lost_answer", path=SHIP, count=1000)
        sandbox.faults.inject("lost_answer", path=DETAIL, count=1000)  # and the read-back's answers too
        first = _push(shop)
        row = _row(sqlite_settings, order_id)
        assert (first.sent, row.state) == (0, "retry") and sandbox.calls(SHIP) == 1
        assert _push_row(sqlite_settings).attempted_at is not None  # in doubt: read first next time
        sandbox.faults.clear()
        sandbox.faults.inject("lost_answer", path=SHIP, count=1000)  # a resend would be lost again - and wrong
        later = _push(shop, now=row.next_attempt_at + timedelta(seconds=1))
        assert later.sent == 1, _row(sqlite_settings, order_id).last_error
        assert sandbox.calls(SHIP) == 1 and later.details["read_back"] == 1
        assert _push_row(sqlite_settings).platform_tracking == "OMS-32"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_worker_killed_after_shopee_accepted_the_shipment_is_read_back_not_resent(sqlite_settings: Settings):
    """The crash window of the old module doc: Shopee shipped, the worker died before recording it. The next
    lease reads the order's state and records Shopee's tracking number; ship_order is not sent again."""
    with ShopeeSandbox(clock=SandboxClock(), seed=33) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "OMS-33", logistics="pickup")
        sandbox.faults.inject("timeout", path=TRACKING, delay=30.0)  # the call right after ship_order stalls
        proc = subprocess.Popen([sys.executable, "-c", WORKER], env=os.environ.copy(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def shipped() -> bool:
                assert proc.poll() is None, f"worker exited early: {proc.communicate()}"
                return sandbox.shipment_of(shop.shop_id, sn) is not None
            _wait_for(shipped, "Shopee to accept the worker's ship_order")
        finally:
            proc.kill()  # ... and the worker dies before it records anything
            proc.communicate()
        sandbox.faults.clear()
        row = _row(sqlite_settings, order_id)
        assert _push_row(sqlite_settings).state == "pending" and _push_row(sqlite_settings).attempted_at
        late = _push(shop, now=row.next_attempt_at + timedelta(seconds=1))
        assert (late.fetched, late.sent, late.held) == (1, 1, 0), _row(sqlite_settings, order_id).last_error
        assert sandbox.calls(SHIP) == 1
        assert _push_row(sqlite_settings).platform_tracking == sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]


def test_no_read_back_means_held_with_what_to_check_never_a_blind_resend(sqlite_settings: Settings, monkeypatch):
    """Platform-neutral: an adapter whose shipment_state is the contract's default (NotSupported) holds an
    in-doubt push; `retry-shipments` alone keeps it held, `--resend` (the admin checked) sends it again."""
    monkeypatch.setattr(ShopeeAdapter, "shipment_state", Adapter.shipment_state)
    with ShopeeSandbox(clock=SandboxClock(), seed=34) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "OMS-34")
        sandbox.faults.inject("503", path=SHIP)  # a gateway error: the outcome is unknown to the bridge
        stats = _push(shop)
        row = _row(sqlite_settings, order_id)
        assert stats.held == 1 and row.state == "held" and row.hold_code == f"ship_unknown:{order_id}"
        assert "cannot be asked what it recorded" in row.last_error and "--resend" in row.last_error
        assert sandbox.calls(SHIP) == 1 and sandbox.shipment_of(shop.shop_id, sn) is None

        assert CliRunner().invoke(cli, ["oms", "retry-shipments", "--order", str(order_id)]).exit_code == 0
        assert _push(shop).held == 1 and sandbox.calls(SHIP) == 1  # still in doubt: no blind resend

        resent = CliRunner().invoke(cli, ["oms", "retry-shipments", "--order", str(order_id), "--resend"])
        assert resent.exit_code == 0 and "1 push(es) whose earlier outcome was unknown" in resent.output
        assert _push(shop).sent == 1
        assert sandbox.calls(SHIP) == 2 and sandbox.shipment_of(shop.shop_id, sn)["tracking_number"] == "OMS-34"


def test_order_already_arranged_on_shopee_is_recorded_not_refused(sqlite_settings: Settings):
    """Issue 13 defect 3 on the way back: an order Shopee already shows PROCESSED reaches the OMS as shipped;
    if the OMS still reports a package, its push records Shopee's shipment instead of being refused forever."""
    with ShopeeSandbox(clock=SandboxClock(), seed=35) as sandbox:
        shop = bind_shop(sqlite_settings, sandbox)
        now = sandbox.clock.now()
        (sn,) = sandbox.generate_orders(shop.shop_id, 1, status="PROCESSED", start=now - timedelta(hours=3),
                                        end=now - timedelta(hours=1))
        assert run_getorder(shop.channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST).new == 1
        shopee = sandbox.order(shop.shop_id, sn)["package_list"][0]["tracking_number"]
        with TestClient(create_app()) as client:
            oms = FakeOms.from_setup(setup_json(), client)
            (order,) = oms.pull_all("orders")
            assert order["status"] == "500" and order["tracking_number"] == shopee  # shipped, with its number
            oms.send("package.status.shipped", package_payload(42, sn, "600", "Shipped", tracking="OMS-42"))
        stats = _push(shop)
        assert (stats.sent, stats.held) == (1, 0) and sandbox.calls(SHIP) == 0
        assert _push_row(sqlite_settings).platform_tracking == shopee
