"""ERP delivery throughput: orders/s into the iDempiere sandbox next to its ceiling, round trips and record
operations per 1,000 orders.

Run: ``python benchmarks/bench_erp.py [orders=1000] [batch ...]`` where a batch is a number or ``default``
(no override: the connection's ``batch_size``, else ``Settings.erp_batch_size``, 25); default ``default 50``.
For each, a fresh store (SQLite in a temp dir) and a fresh sandbox get N orders of 1-3 lines with a
per-buyer business partner and a shipping fee; ``run_erp_delivery`` sends them all (the *project* figure:
the whole run, store reads and writes included).

The *ceiling* is measured in the same run (:class:`Twin`): the very SOAP bodies the project sends
(pre-checks, product lookups, composites), each posted raw with one keep-alive ``requests.Session`` to a
second sandbox of the same seed at the moment the first one receives it, so the server does exactly the
same work under the same machine load; ceiling = N / the replays' time, project = N / (the run's time
minus the replays'). *ratio* = ceiling / project: what the bridge costs on top of the server and HTTP
(issue 18's goal: at most 2). Both sandboxes run in this process (threads), as the ERP's time counts the
same on both sides. Of ``ERP_BENCH_REPEAT`` (default 3) runs, the one with the median ratio is printed. With
``ERP_BENCH_SHAPE=lean`` every order has one line, no fee and the channel's default partner: 3 record
operations per order, the fewest a sales order takes (the worst case for operations per round trip).

- *round trips*: SOAP requests (every POST the sandbox receives; WSDL fetches excluded);
- *record operations*: what the ERP does on records: each operation inside a compositeOperation (partner,
  location, order, line, charge, setDocAction) plus each queryData.

Expected round trips per batch: 1 pre-check + 1 compositeOperation, plus a product lookup only for
search keys the run has not seen yet (+1 DocumentNo query only when the order type has no DocumentNo
output column).
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal

import requests
from lxml import etree

from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.settings import Settings, get_settings, reset_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import dispose_engines, get_engine, session_scope
from oms_bridge.store.models import Base, Channel, ErpConnection, Order, OrderLine, Platform
from oms_bridge.store.runs import RunStats
from oms_bridge.vault import Vault, generate_key
from sandboxes.data import PRODUCTS, person_name
from sandboxes.idempiere.server import ErpSandbox

LEAN = os.environ.get("ERP_BENCH_SHAPE") == "lean"


def setup(count: int, sandbox: ErpSandbox):
    home = tempfile.mkdtemp(prefix="bench-erp-")
    os.environ["OMS_BRIDGE_HOME"] = home
    os.environ["OMS_BRIDGE_SECRET_KEYS"] = generate_key()
    os.environ.pop("OMS_BRIDGE_DATABASE_URL", None)
    reset_settings()
    settings = get_settings()
    Base.metadata.create_all(get_engine(settings))
    fields = sandbox.connection_fields()
    rng = random.Random(7)
    with session_scope(settings) as s:
        platform = Platform(value="p", name="p", platform_type="shopee", host="http://127.0.0.1")
        conn = ErpConnection(value="gw", url=fields["url"], username=fields["username"],
                             password_enc=Vault.from_settings(settings).encrypt(fields["password"]),
                             erp_client_id=fields["client_id"], erp_role_id=fields["role_id"],
                             erp_org_id=fields["org_id"], erp_warehouse_id=fields["warehouse_id"], stage=0)
        s.add_all([platform, conn])
        s.flush()
        channel = Channel(value="c", name="c", oms_platform_id=platform.id, oms_erp_connection_id=conn.id,
                          **sandbox.channel_mapping())
        s.add(channel)
        s.flush()
        for i in range(count):
            order = Order(oms_channel_id=channel.id, external_id=f"B{i:07d}", status="paid", currency="TWD",
                          order_created=datetime(2026, 11, 1, tzinfo=UTC), shipping_fee=Decimal(0 if LEAN else 60),
                          buyer_email=None if LEAN else f"buyer{i % 50}@example.com", buyer_name=person_name(rng),
                          ship_country="TW", ship_city="臺北市", ship_district="大安區", ship_zip="106",
                          ship_address1="復興南路1號")
            for no, product in enumerate(rng.sample(PRODUCTS, 1 if LEAN else rng.randint(1, 3)), start=1):
                order.lines.append(OrderLine(line_no=no, sku=product.sku, name=product.name, qty=Decimal(1),
                                             unit_price=product.price))
            s.add(order)
            s.flush()
            outbox.arm(s, order, ["erp"])
    return settings


def record_operations(sandbox: ErpSandbox) -> int:
    """Operations inside each compositeOperation, plus one per ModelADService call (queryData)."""
    ops = 0
    for body in sandbox.bodies:
        root = etree.fromstring(body)
        inner = root.findall(".//{http://idempiere.org/ADInterface/1_0}operation")
        ops += len(inner) if inner else 1
    return ops


class Twin:
    """The ceiling, measured request by request: a second sandbox of the same seed receives every request body the
    bridge sends, raw with one keep-alive ``requests.Session``, right when the first sandbox receives it (before
    that one works on it). The twin does exactly the same work at the same moment, so machine load weighs on
    project and ceiling alike; the replay time is taken out of the project's run time."""

    def __init__(self, sandbox: ErpSandbox):
        self.sandbox = sandbox
        self.twin = ErpSandbox().start()
        self.http = requests.Session()
        self.seconds = 0.0
        sandbox.on_request = self.replay

    def replay(self, _service: str) -> None:
        path, body = self.sandbox.request_log[-1][1], self.sandbox.bodies[-1]
        started = time.perf_counter()
        self.http.post(self.twin.server_url + path, data=body, headers=HEADERS, timeout=300).raise_for_status()
        self.seconds += time.perf_counter() - started

    def stop(self) -> int:
        """Stop the twin; returns how many C_Orders it holds (the same as the project's sandbox, or the replay lied)."""
        self.sandbox.on_request = None
        self.http.close()
        created = len(self.twin.orders())
        self.twin.stop()
        return created


HEADERS = {"SOAPAction": '""', "Content-Type": "text/xml; charset=utf-8"}


def measured_run(count: int, size: int | None) -> tuple[float, float, RunStats, Settings, int, int]:
    """One delivery of ``count`` fresh orders into a fresh sandbox with its twin: (project orders/s, ceiling
    orders/s, stats, settings, round trips, record operations)."""
    sandbox = ErpSandbox().start()
    try:
        settings = setup(count, sandbox)
        sandbox.reset_calls()
        twin = Twin(sandbox)
        started = time.perf_counter()
        stats = run_erp_delivery(settings=settings, batch_size=size)
        elapsed = time.perf_counter() - started
        created = twin.stop()
        assert created == len(sandbox.orders()) == stats.sent, (created, stats.sent)
        project = stats.sent / (elapsed - twin.seconds)
        return project, stats.sent / twin.seconds, stats, settings, sandbox.calls(), record_operations(sandbox)
    finally:
        sandbox.stop()
        dispose_engines()


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    batches = sys.argv[2:] or ["default", "50"]
    repeat = int(os.environ.get("ERP_BENCH_REPEAT", "3"))
    print(f"ERP delivery into the iDempiere sandbox, {count} orders per run, the run with the median ratio of "
          f"{repeat}")
    print(f"{'batch':>11} {'orders/s':>9} {'ceiling/s':>10} {'ratio':>6} {'round trips':>12} {'per 1000':>9} "
          f"{'record ops':>11} {'ops/trip':>9} {'sent':>6}")
    for batch in batches:
        size = None if batch == "default" else int(batch)
        runs = sorted((measured_run(count, size) for _ in range(repeat)), key=lambda r: r[1] / r[0])
        project, top, stats, settings, calls, ops = runs[len(runs) // 2]
        label = f"{batch}({settings.erp_batch_size})" if size is None else batch
        print(f"{label:>11} {project:>9.1f} {top:>10.1f} {top / project:>6.2f} {calls:>12} "
              f"{calls * 1000 / count:>9.0f} {ops:>11} {ops / calls:>9.1f} {stats.sent:>6}", flush=True)


if __name__ == "__main__":
    main()
