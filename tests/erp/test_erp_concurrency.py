"""Concurrent ERP deliveries never send an order twice (SQLite BEGIN IMMEDIATE, PostgreSQL SKIP LOCKED), and no
admin action during a running delivery can make a second one send its orders again (real processes)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections import Counter

from erp_helpers import make_env

from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.settings import Settings
from sandboxes.idempiere.server import ErpSandbox

OMS_BRIDGE = shutil.which("oms-bridge") or "oms-bridge"
# A second delivery worker that does not take the run lock: it proves the leases alone keep it off the rows.
UNLOCKED_WORKER = "from oms_bridge.erp.delivery import run_erp_delivery; print(run_erp_delivery().sent)"


def test_erp_two_workers_deliver_each_order_once(store_settings: Settings, erp_sandbox: ErpSandbox) -> None:
    env = make_env(store_settings, erp_sandbox)
    refs = [env.add_order() for _ in range(12)]
    errors: list[BaseException] = []
    totals: list[int] = []

    def worker() -> None:
        try:
            totals.append(run_erp_delivery(settings=store_settings, batch_size=3).sent)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(totals) == 12
    assert Counter(len(env.erp_orders(ref)) for ref in refs) == Counter({1: 12})
    assert len(erp_sandbox.orders()) == 12
    assert all(env.delivery(ref).state == "sent" for ref in refs)


def test_erp_admin_retry_during_a_running_delivery_never_sends_twice(store_settings: Settings,
                                                                     erp_sandbox: ErpSandbox) -> None:
    """`oms-bridge erp deliver` is sending 10 orders (its composite is held at the ERP). Meanwhile the admin runs
    `erp retry --all-held`, a second worker that skips the run lock runs, and a second `erp deliver` is started.
    The retry must leave the in-flight rows alone, the second worker must find nothing, the second `erp deliver`
    must refuse to run beside the first, and the first records all its outcomes: 10 C_Orders, once each."""
    env = make_env(store_settings, erp_sandbox, timeout=120)  # the held composite must not time out meanwhile
    refs = [env.add_order() for _ in range(10)]
    arrived, release = threading.Event(), threading.Event()

    def hold_first_composite(service: str) -> None:
        if service == "compositeInterface" and not arrived.is_set():
            arrived.set()
            release.wait(300)

    erp_sandbox.on_request = hold_first_composite
    first = subprocess.Popen([OMS_BRIDGE, "erp", "deliver", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert arrived.wait(120), "the first delivery never reached the ERP"
        retry = subprocess.run([OMS_BRIDGE, "erp", "retry", "--all-held"], capture_output=True, text=True,
                               timeout=120)
        unlocked = subprocess.run([sys.executable, "-c", UNLOCKED_WORKER], capture_output=True, text=True,
                                  timeout=180)
        second = subprocess.run([OMS_BRIDGE, "erp", "deliver"], capture_output=True, text=True, timeout=120)
    finally:
        release.set()
        out, err = first.communicate(timeout=300)
    assert len(erp_sandbox.orders()) == 10  # no second sales order for any of them
    assert erp_sandbox.calls("compositeInterface") == 1
    assert first.returncode == 0, err
    assert json.loads(out)["sent"] == 10  # the first delivery's outcomes were recorded, none "superseded"
    assert retry.returncode == 0, retry.stderr
    assert "0 ERP deliveries re-armed" in retry.stdout
    assert "10 order(s) are being sent by a running delivery right now" in retry.stdout
    assert unlocked.returncode == 0 and unlocked.stdout.strip().splitlines()[-1] == "0", unlocked.stderr
    assert second.returncode == 1 and "another ERP delivery is running" in second.stderr
    assert all(len(env.erp_orders(ref)) == 1 for ref in refs)
    assert all(env.delivery(ref).state == "sent" for ref in refs)
