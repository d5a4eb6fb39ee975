"""OMS pull benchmark: orders/s and SQL statements per page when the OMS pages through ``orders/``.

Run: ``python benchmarks/bench_oms_pull.py [orders] [page_size] [database_url]`` (defaults 2000, 100,
embedded SQLite in a temporary directory). Two passes: the first read makes the order items and
resolves every address against the catalogue (writes); the second is the steady state (reads, plus
nothing to mark). Also times the webhook path (events/s).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import event

from oms_bridge.oms.auth import rotate_many
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import Base, Channel, Order, OrderLine, Platform
from oms_bridge.store.outbox import arm
from oms_bridge.vault import generate_key
from oms_bridge.web.app import create_app
from sandboxes.data import TW_DISTRICTS


def _seed(count: int) -> None:
    settings = get_settings()
    Base.metadata.create_all(get_engine(settings))
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    with session_scope(settings) as s:
        platform = Platform(value="shopee", name="Shopee", platform_type="shopee", host="http://127.0.0.1:9")
        s.add(platform)
        s.flush()
        channel = Channel(value="bench", name="bench", oms_platform_id=platform.id)
        s.add(channel)
        s.flush()
        for n in range(count):
            city, district, zipcode = TW_DISTRICTS[n % len(TW_DISTRICTS)]
            order = Order(oms_channel_id=channel.id, external_id=f"B{n:07d}", status="paid", currency="TWD",
                          order_created=t0 + timedelta(minutes=n), order_updated=t0 + timedelta(minutes=n),
                          total_amount=Decimal("1020"), shipping_fee=Decimal("60"), buyer_name="林志明",
                          ship_city=city, ship_district=district, ship_zip=zipcode, ship_address1="中山路1號")
            order.lines.append(OrderLine(line_no=1, sku="TEA-OOLONG-150", name="茶", qty=Decimal("2"),
                                         unit_price=Decimal("480"), discount=Decimal("0")))
            s.add(order)
            s.flush()
            arm(s, order, ["oms"])


def main(count: int = 2000, page_size: int = 100, database_url: str = "") -> None:
    home = tempfile.mkdtemp(prefix="bench-oms-")
    os.environ.update({"OMS_BRIDGE_HOME": home, "OMS_BRIDGE_SECRET_KEYS": generate_key()})
    if database_url:
        os.environ["OMS_BRIDGE_DATABASE_URL"] = database_url
    reset_settings()
    _seed(count)
    with session_scope() as s:
        tokens = rotate_many(s)
    statements = [0]
    event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    with TestClient(create_app()) as client:
        for label in ("first read (items + addresses)", "steady state"):
            statements[0] = 0
            url = f"/api/v1/applications/oms/orders/?limit={page_size}"
            started, pages, seen = time.perf_counter(), 0, 0
            while url:
                body = client.get(url, headers={"Authorization": f"Token {tokens['orders']}"}).json()
                seen += len(body["results"])
                pages += 1
                url = body["next"]
            elapsed = time.perf_counter() - started
            print(f"{label}: {seen} orders in {elapsed:.2f}s = {seen / elapsed:.0f} orders/s; "
                  f"{statements[0] / pages:.0f} SQL statements per page of {page_size}")
        hooks = 500
        started = time.perf_counter()
        for n in range(hooks):
            payload = {"event": {"type": "package.created", "uuid": f"e{n}"},
                       "payload": {"id": n, "order_number": f"B{n:07d}", "state": {"enum_value": "100"}}}
            client.post("/api/v1/applications/oms/packages/", content=json.dumps(payload),
                        headers={"Authorization": f"Token {tokens['webhooks']}"})
        elapsed = time.perf_counter() - started
        print(f"webhooks: {hooks} package.created in {elapsed:.2f}s = {hooks / elapsed:.0f} events/s")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 2000, int(args[1]) if len(args) > 1 else 100, args[2] if len(args) > 2 else "")
