"""Two delivery workers at once never send an order twice (SQLite BEGIN IMMEDIATE, PostgreSQL SKIP LOCKED)."""

from __future__ import annotations

import threading
from collections import Counter

from erp_helpers import make_env

from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.erp.sandbox import ErpSandbox
from oms_bridge.settings import Settings


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
