"""How long the pages an operator polls take on a large store: /metrics, /healthz, the dashboard and its
chart data, a channel's page, the runs list (and one run), the held list and the orders list (SQLite;
pass a PostgreSQL server URL as argv[1] to measure that: a throw-away database is created on that
server and dropped afterwards).

    python benchmarks/bench_admin.py [POSTGRESQL_URL] [--orders N] [--channels N]

Builds a store with N orders (each with a line, a buyer, erp + oms delivery rows armed when created and
sent 30 s later: ~5 % held for a few unmapped SKUs, one of them for most, ~1 % dead, ~1 % retrying), one
GetOrder run per channel per 5 minutes of a day and one (mostly empty) ERP delivery run a minute, then
times each page (median of 5 requests): the dashboard and its charts, the held page grouped by cause and
filtered as the dashboard links it, and the orders page searched by number, buyer and SKU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from scratch_db import create_scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url", nargs="?", default="")
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--channels", type=int, default=20)
    args = parser.parse_args()
    os.environ["OMS_BRIDGE_HOME"] = tempfile.mkdtemp(prefix="bench-admin-")
    os.environ["OMS_BRIDGE_SECRET_KEYS"] = Fernet.generate_key().decode()
    scratch = None
    if args.database_url:
        scratch = _scratch_database(args.database_url)
        os.environ["OMS_BRIDGE_DATABASE_URL"] = scratch[1]
    try:
        _run(args)
    finally:
        if scratch:
            from oms_bridge.store.db import dispose_engines

            dispose_engines()
            scratch[0]()


def _scratch_database(server_url: str):
    """A new empty database on the server (never the one named in the URL); returns (drop, url)."""
    url, drop = create_scratch_database(server_url, "bench_admin")
    return drop, url


def _run(args: argparse.Namespace) -> None:

    from fastapi.testclient import TestClient
    from sqlalchemy import insert

    from oms_bridge.configure.channels import add_channel
    from oms_bridge.configure.platforms import add_platform
    from oms_bridge.settings import get_settings
    from oms_bridge.store.db import get_engine, session_scope
    from oms_bridge.store.models import Base, Delivery, Order, OrderLine, ProcessRun
    from oms_bridge.vault import Vault
    from oms_bridge.web.app import create_app
    from oms_bridge.web.security import SESSION_COOKIE, authenticate, issue_session, set_admin_password

    settings = get_settings()
    engine = get_engine(settings)
    Base.metadata.create_all(engine)
    vault = Vault.from_settings(settings)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with session_scope(settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9")
        ids = []
        for i in range(args.channels):
            ch = add_channel(s, vault, value=f"ch-{i}", platform="momo-app", shop_id=str(i))
            ch.auth_state = "active"
            ch.order_watermark = now - timedelta(minutes=3)
            ids.append(ch.id)
    with engine.begin() as conn:
        batch = 5000
        buyers = ["陳怡君", "王小明", "林美麗", "張志豪", "李淑芬"]
        for start in range(0, args.orders, batch):
            conn.execute(insert(Order), [
                {"oms_channel_id": ids[n % len(ids)], "external_id": f"O{n}", "status": "paid",
                 "order_created": now - timedelta(seconds=n), "currency": "TWD",
                 "buyer_name": f"{buyers[n % len(buyers)]}{n}", "buyer_email": f"b{n}@example.com"}
                for n in range(start, min(args.orders, start + batch))])
            conn.execute(insert(OrderLine), [
                {"oms_order_id": n + 1, "line_no": 1, "sku": f"SKU-{n % 400}", "name": "item", "qty": 1,
                 "unit_price": 100} for n in range(start, min(args.orders, start + batch))])
        skus = ["SAUCE-CHILI"] * 6 + ["NOODLE-9", "TEA-GREEN-9", "MUG-1", "BOX-7"]
        for start in range(0, args.orders, batch):
            rows = []
            for n in range(start, min(args.orders, start + batch)):
                state = "held" if n % 20 == 0 else "dead" if n % 100 == 1 else "retry" if n % 100 == 2 else "sent"
                armed = now - timedelta(seconds=n)
                sku = skus[(n // 20) % len(skus)]
                cause = {"held": ("sku_unmapped", sku), "dead": ("gave_up", "the ERP did not answer"),
                         "retry": ("delivery_failed", "the ERP did not answer")}.get(state, (None, None))
                rows.append({"oms_order_id": n + 1, "destination": "erp", "state": state,
                             "last_error": f"SKU {sku} has no ERP product" if state != "sent" else None,
                             "hold_code": f"missing_sku:{sku}" if state == "held" else None,
                             "cause_code": cause[0], "cause_subject": cause[1], "attempts": 3 if cause[0] else 0,
                             "next_attempt_at": now + timedelta(minutes=5) if state == "retry" else None,
                             "updated": now - timedelta(seconds=n), "armed_at": armed,
                             "sent_at": armed + timedelta(seconds=30) if state == "sent" else None})
                rows.append({"oms_order_id": n + 1, "destination": "oms", "state": "sent", "last_error": None,
                             "hold_code": None, "cause_code": None, "cause_subject": None, "attempts": 0,
                             "next_attempt_at": None, "updated": now - timedelta(seconds=n),
                             "armed_at": armed, "sent_at": armed + timedelta(seconds=30)})
            conn.execute(insert(Delivery), rows)
        conn.execute(insert(ProcessRun), [
            {"process": "getorder", "oms_channel_id": cid, "started": now - timedelta(minutes=5 * k),
             "ended": now - timedelta(minutes=5 * k) + timedelta(seconds=2), "outcome": "success", "fetched": 10}
            for cid in ids for k in range(288)])
        conn.execute(insert(ProcessRun), [
            {"process": "erp_delivery", "oms_channel_id": None, "started": now - timedelta(minutes=k),
             "ended": now - timedelta(minutes=k) + timedelta(seconds=1), "outcome": "success",
             "sent": 25 if k % 30 == 0 else 0} for k in range(1440)])
    if engine.dialect.name == "postgresql":  # what autovacuum does soon after a load: plans need statistics
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"store: {args.orders} orders, {2 * args.orders} deliveries, {288 * len(ids) + 1440} runs, "
          f"{len(ids)} channels on {engine.dialect.name}; built in {time.perf_counter() - started:.1f} s")

    set_admin_password("admin", "benchmark-password", settings=settings)
    client = TestClient(create_app(), client=("127.0.0.1", 50000))  # /metrics: local clients by default
    client.cookies.set(SESSION_COOKIE, issue_session(authenticate("admin", "benchmark-password", settings=settings),
                                                     settings=settings))
    last = args.orders - 1
    paths = ("/healthz", "/metrics", "/admin/", "/admin/held", "/admin/held?state=held", "/admin/held?state=dead",
             "/admin/held?state=retrying", "/admin/held?cause=sku_unmapped&subject=SAUCE-CHILI&page=10",
             "/admin/held?channel=ch-3", "/admin/held/map?sku=SAUCE-CHILI", "/admin/orders",
             "/admin/orders?page=200", f"/admin/orders?q=O{last}", "/admin/orders?q=O4999",
             "/admin/orders?q=O4999&field=number",
             "/admin/orders?q=%E7%8E%8B%E5%B0%8F%E6%98%8E1&field=buyer", "/admin/orders?q=SKU-17&field=sku",
             "/admin/orders?q=SKU-17", "/admin/orders?erp=held", "/admin/orders?from=2026-01-01&to=2030-01-01",
             "/admin/orders/ch-0/O100", "/admin/runs", "/admin/skus",
             "/admin/charts/orders?hours=24", "/admin/charts/orders?hours=168", "/admin/charts/backlog?hours=24",
             "/admin/charts/runs?hours=24", "/admin/channels", "/admin/channels/ch-0", "/admin/runs?outcome=failed",
             "/admin/runs?empty=1&page=50", "/admin/runs/1")
    for path in paths:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            answer = client.get(path)
            times.append(time.perf_counter() - t0)
            assert answer.status_code == 200, (path, answer.status_code)
        print(f"{path:<58} median {statistics.median(times) * 1000:8.1f} ms   ({len(answer.content) / 1024:.0f} KiB)")


if __name__ == "__main__":
    sys.exit(main())
