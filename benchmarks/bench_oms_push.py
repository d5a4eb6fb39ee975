"""OMS push benchmark: order events/s and SQL statements per event, pushed to a whisperer-style receiver.

Run: ``python benchmarks/bench_oms_push.py [orders] [batch_size] [database_url]`` (defaults 1000, 20,
embedded SQLite in a temporary directory). The receiver (``OmsEventReceiver``, a real HTTP server on
127.0.0.1) checks the token and the ``X-Whisperer-Signature`` of every event. Two passes: the first
builds each order's event (items, addresses, body) and sends it; the second pushes ``order.updated``
after every order changed (bodies built again, new uuids). A ``database_url`` must name an empty
database of its own: the benchmark creates its tables there and leaves them.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, select

from oms_bridge.oms import auth
from oms_bridge.oms.config import PUSH_SECRET_NAME, PUSH_TOKEN_NAME
from oms_bridge.oms.push import run_oms_delivery
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import Base, Channel, Order, OrderLine, Platform
from oms_bridge.store.outbox import arm
from oms_bridge.vault import Vault, generate_key
from sandboxes.data import TW_DISTRICTS
from sandboxes.oms import OmsEventReceiver

TOKEN, SECRET = "bench-oms-token-0123456789", "bench-oms-secret-0123456789"


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
        vault = Vault.from_settings(settings)
        auth.store_secret(s, vault, PUSH_TOKEN_NAME, TOKEN)
        auth.store_secret(s, vault, PUSH_SECRET_NAME, SECRET)
        for n in range(count):
            city, district, zipcode = TW_DISTRICTS[n % len(TW_DISTRICTS)]
            order = Order(oms_channel_id=channel.id, external_id=f"P{n:07d}", status="paid", currency="TWD",
                          order_created=t0 + timedelta(minutes=n), order_updated=t0 + timedelta(minutes=n),
                          total_amount=Decimal("1020"), shipping_fee=Decimal("60"), buyer_name="林志明",
                          ship_city=city, ship_district=district, ship_zip=zipcode, ship_address1="中山路1號")
            order.lines.append(OrderLine(line_no=1, sku="TEA-OOLONG-150", name="茶", qty=Decimal("2"),
                                         unit_price=Decimal("480"), discount=Decimal("0")))
            s.add(order)
            s.flush()
            arm(s, order, ["oms"])


def _change_all() -> None:
    with session_scope() as s:
        for order in s.scalars(select(Order)):
            order.status, order.version = "shipped", order.version + 1
            s.flush()
            arm(s, order, ["oms"])


def main(count: int = 1000, batch_size: int = 20, database_url: str = "") -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the receiver's access log, one line per event
    home = Path(tempfile.mkdtemp(prefix="bench-oms-push-"))
    os.environ.update({"OMS_BRIDGE_HOME": str(home), "OMS_BRIDGE_SECRET_KEYS": generate_key()})
    if database_url:
        os.environ["OMS_BRIDGE_DATABASE_URL"] = database_url
    with OmsEventReceiver(token=TOKEN, secret=SECRET) as receiver:
        (home / "config.toml").write_text(f'[oms_bridge.oms]\norder_notify = "push"\npush_url = '
                                          f'"{receiver.server_url}"\npush_batch_size = {batch_size}\n',
                                          encoding="utf-8")
        reset_settings()
        _seed(count)
        statements = [0]
        event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
        for label in ("order.created", "order.updated"):
            if label == "order.updated":
                _change_all()
            statements[0] = 0
            started = time.perf_counter()
            stats = run_oms_delivery()
            elapsed = time.perf_counter() - started
            print(f"{label}: {stats.sent} events in {elapsed:.2f}s = {stats.sent / elapsed:.0f} events/s; "
                  f"{statements[0] / max(1, stats.sent):.1f} SQL statements per event; HTTP calls {stats.api_calls}; "
                  f"receiver: {len(receiver.events)} events, {sum(receiver.duplicates.values())} duplicates, "
                  f"{len(receiver.refused)} refused")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 1000, int(args[1]) if len(args) > 1 else 20, args[2] if len(args) > 2 else "")
