"""ERP delivery throughput: orders/s into the iDempiere sandbox and SOAP calls per 1,000 orders.

Run: ``python benchmarks/bench_erp.py [orders_per_batch_size=200]``. For each batch size (1, 10, 50)
a fresh store (SQLite in a temp dir) and a fresh sandbox get N orders of 1-3 lines with a per-buyer
business partner; ``run_erp_delivery`` sends them all. SOAP calls are counted by the sandbox (every
POST), so the WSDL fetches are not included. Expected calls per batch: 1 POReference pre-check +
1 product lookup + 1 compositeOperation (+1 DocumentNo query only when the order type has no
DocumentNo output column).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal

from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.erp.sandbox import ErpSandbox
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import dispose_engines, get_engine, session_scope
from oms_bridge.store.models import Base, Channel, ErpConnection, Order, OrderLine, Platform
from oms_bridge.vault import Vault, generate_key
from platforms.sandbox_data import PRODUCTS, person_name


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
                          order_created=datetime(2026, 11, 1, tzinfo=UTC), shipping_fee=Decimal("60"),
                          buyer_email=f"buyer{i % 50}@example.com", buyer_name=person_name(rng), ship_country="TW",
                          ship_city="臺北市", ship_district="大安區", ship_zip="106", ship_address1="復興南路1號")
            for no, product in enumerate(rng.sample(PRODUCTS, rng.randint(1, 3)), start=1):
                order.lines.append(OrderLine(line_no=no, sku=product.sku, name=product.name, qty=Decimal(1),
                                             unit_price=product.price))
            s.add(order)
            s.flush()
            outbox.arm(s, order, ["erp"])
    return settings


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"ERP delivery into the iDempiere sandbox, {count} orders per batch size")
    print(f"{'batch':>6} {'orders/s':>10} {'SOAP calls':>11} {'calls/1000 orders':>18} {'sent':>6}")
    for batch in (1, 10, 50):
        sandbox = ErpSandbox().start()
        try:
            settings = setup(count, sandbox)
            sandbox.reset_calls()
            started = time.perf_counter()
            stats = run_erp_delivery(settings=settings, batch_size=batch)
            elapsed = time.perf_counter() - started
            calls = sandbox.calls()
            print(f"{batch:>6} {stats.sent / elapsed:>10.1f} {calls:>11} {calls * 1000 / count:>18.0f} "
                  f"{stats.sent:>6}")
        finally:
            sandbox.stop()
            dispose_engines()


if __name__ == "__main__":
    main()
