"""Logistics push-back leases its rows: no store lock during marketplace calls, a killed worker's rows come
back when the lease ends, and whatever the marketplace accepted is recorded once (never pushed twice)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
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
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import Delivery, utcnow
from oms_bridge.store.models.oms import OmsPackagePush
from oms_bridge.web.app import create_app
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox

SHIP = "/api/v2/logistics/ship_order"
PARAMS = "/api/v2/logistics/get_shipping_parameter"

# A worker process as the scheduler runs it; the test kills it while its push is in flight.
WORKER = """
from channels.logistics import run_logistics_delivery
from oms_bridge.remote.http import RetryPolicy
run_logistics_delivery(policy=RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=0.5,
                                          read_timeout=30.0))
"""


def _shipped_order(settings: Settings, sandbox: ShopeeSandbox, tracking: str) -> tuple[Shop, str, int]:
    """A real-time Shopee shop with one order the OMS has reported shipped (its logistics row armed)."""
    shop = bind_shop(settings, sandbox)
    now = sandbox.clock.now()
    (sn,) = sandbox.generate_orders(shop.shop_id, 1, status="ready_to_ship", start=now - timedelta(hours=3),
                                    end=now - timedelta(hours=1))
    run = run_getorder(shop.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST)
    assert run.new == 1, run.error_text
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        order = oms.pull_all("orders")[0]
        answer = oms.send("package.status.shipped", package_payload(31, sn, "600", "Shipped", tracking=tracking))
        assert answer.json()["logistics_armed"] is True
    return shop, sn, order["id"]


def _logistics(settings: Settings, order_id: int) -> Delivery:
    with session_scope(settings) as s:
        return s.scalars(select(Delivery).where(Delivery.oms_order_id == order_id,
                                                Delivery.destination == "logistics")).one()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _push_in_thread(shop: Shop, result: dict) -> threading.Thread:
    def work() -> None:
        try:
            result["stats"] = run_logistics_delivery(settings=shop.settings, policy=FAST, clock=shop.sandbox.clock.now)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's assertion
            result["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_oms_logistics_store_is_writable_during_a_slow_marketplace_call(sqlite_settings: Settings):
    """Another writer (GetOrder, a webhook, an admin page) with a busy timeout far shorter than the stalled
    ship call gets the SQLite write lock at once: the push holds no store transaction during the call."""
    with ShopeeSandbox(clock=SandboxClock(), seed=21) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "T-21")
        sandbox.faults.inject("timeout", path=SHIP, delay=1.5)  # answers late, within the 2 s read timeout
        result: dict = {}
        worker = _push_in_thread(shop, result)
        try:
            _wait_for(lambda: sandbox.calls(SHIP) >= 1, "the ship call")
            db = sqlite3.connect(get_engine(sqlite_settings).url.database, timeout=0.2, isolation_level=None)
            started = time.monotonic()
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE oms_order SET updatedby = 100 WHERE oms_order_id = ?", (order_id,))
            db.execute("COMMIT")
            waited = time.monotonic() - started
            db.close()
            in_flight = worker.is_alive() and sandbox.shipment_of(shop.shop_id, sn) is None
        finally:
            worker.join(timeout=30)
        assert in_flight, "the write must happen while the marketplace call is still in flight"
        assert waited < 0.2
        assert "error" not in result, result
        assert result["stats"].sent == 1, _logistics(sqlite_settings, order_id).last_error
        assert sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]
        assert sandbox.calls(SHIP) == 1


def test_oms_logistics_worker_killed_mid_push_is_retried_after_its_lease_with_one_shipment(
        sqlite_settings: Settings):
    with ShopeeSandbox(clock=SandboxClock(), seed=22) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "T-22")
        sandbox.faults.inject("timeout", path=PARAMS, delay=2.0)  # the push's first call stalls ...
        proc = subprocess.Popen([sys.executable, "-c", WORKER], env=os.environ.copy(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def started() -> bool:
                assert proc.poll() is None, f"worker exited early: {proc.communicate()}"
                return sandbox.calls(PARAMS) >= 1
            _wait_for(started, "the worker's push")
        finally:
            proc.kill()  # ... and the worker dies in the middle of it
            proc.communicate()
        row = _logistics(sqlite_settings, order_id)
        assert row.state == "retry" and row.next_attempt_at > utcnow() and row.attempts == 0  # the dead lease

        early = run_logistics_delivery(settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now)
        assert early.fetched == 0 and sandbox.calls(SHIP) == 0  # nobody takes a leased row

        late = run_logistics_delivery(settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now,
                                      now=row.next_attempt_at + timedelta(seconds=1))
        assert (late.fetched, late.sent) == (1, 1), _logistics(sqlite_settings, order_id).last_error
        assert sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]
        assert sandbox.calls(SHIP) == 1
        assert _logistics(sqlite_settings, order_id).state == "sent"


def test_oms_logistics_admin_retry_during_the_push_records_it_once(sqlite_settings: Settings):
    """`oms retry-shipments` while the row's push is in flight leaves the leased row alone (a lease is never
    stolen, see oms_bridge.store.outbox): the push is recorded by its own run and nothing is pushed again."""
    with ShopeeSandbox(clock=SandboxClock(), seed=23) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "T-23")
        sandbox.faults.inject("timeout", path=SHIP, delay=1.0)
        result: dict = {}
        worker = _push_in_thread(shop, result)
        try:
            _wait_for(lambda: sandbox.calls(SHIP) >= 1, "the ship call")
            retried = CliRunner().invoke(cli, ["oms", "retry-shipments", "--order", str(order_id)])
        finally:
            worker.join(timeout=30)
        assert retried.exit_code == 0 and "0 shipment(s) re-armed" in retried.output, retried.output
        assert "error" not in result, result
        assert result["stats"].sent == 1 and "superseded" not in result["stats"].details
        assert _logistics(sqlite_settings, order_id).state == "sent"
        with session_scope(sqlite_settings) as s:
            assert s.scalars(select(OmsPackagePush)).one().state == "sent"

        calls = sandbox.calls()
        again = run_logistics_delivery(settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now)
        assert again.fetched == 0 and sandbox.calls() == calls  # no second push
        assert sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]
        assert sandbox.calls(SHIP) == 1


def test_oms_logistics_starts_no_call_once_its_lease_is_over(sqlite_settings: Settings):
    """A lease shorter than the work: the run calls nothing for the row (another worker may own it by now)
    and leaves it due; the next run pushes it."""
    with ShopeeSandbox(clock=SandboxClock(), seed=24) as sandbox:
        shop, sn, order_id = _shipped_order(sqlite_settings, sandbox, "T-24")
        calls = sandbox.calls()
        short = run_logistics_delivery(settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now,
                                       lease_seconds=0.001)
        assert short.details["lease_ran_out"] == 1 and (short.sent, short.failed) == (0, 0)
        assert sandbox.calls() == calls and _logistics(sqlite_settings, order_id).state == "retry"
        assert run_logistics_delivery(settings=sqlite_settings, policy=FAST, clock=sandbox.clock.now).sent == 1
        assert sandbox.calls(SHIP) == 1 and sandbox.shipment_of(shop.shop_id, sn)["tracking_number"]
