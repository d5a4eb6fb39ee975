"""OMS pull benchmark: orders/s and SQL statements per page when the OMS pages through ``orders/``, next to
its ceiling: a trivial endpoint on the same app (same web stack, same token check) returning the same JSON.

Run: ``python benchmarks/bench_oms_pull.py [orders] [page_size] [database_url]`` (defaults 10000, 100,
embedded SQLite in a temporary directory; each order has two lines, so 10,000 orders are 20,000 lines).
Three kinds of walk through the pages; in every walk each page of the project is followed at once by the ceiling
serving that same page, and the two are timed apart (the machine's speed drifts by ±30 % within a minute: a page and
its ceiling see the same moment). The ratio is taken per walk and the median walk of each kind reported:

- *new store*: the first read of a new store (every order; loads the address catalogue's seed, records the orders
  as offered; their items were made when the orders were stored, as GetOrder stores them);
- *new orders*: ``OMS_PULL_BENCH_ROUNDS`` (3) rounds in which ``orders`` more orders arrive and the OMS reads what
  changed since its last poll (``modified_date__gte``): the first read of new orders in a running service;
- *steady state*: ``OMS_PULL_BENCH_REPEAT`` (5) re-reads of the last round's pages (nothing to record).

The ceiling serves the project's page JSON from memory. Every walk starts from a collected heap, keeps nothing of
what it read (a service keeps nothing of what it served; a walk's parsed pages left in the heap made every full
collection of the next walk scan them), and the app's start-up heap is settled as ``oms-bridge run`` settles it
(``OMS_PULL_BENCH_SETTLE=0`` to measure without).
Also times the webhook path (events/s).

Each figure is given per wall second and per CPU second of this process (the app's threads included): on a
shared, loaded machine the wall-clock ratio moves with the neighbours' load, the CPU ratio much less. With
PostgreSQL the server's own CPU is not in the CPU figure (it is in the wall-clock one): it is printed beside it,
read from the server's processes on this machine (:class:`ServerCpu`), with the ratio of both CPUs together.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psutil
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oms_bridge.model.orders import Address, Buyer  # noqa: E402
from oms_bridge.model.orders import Order as CanonicalOrder  # noqa: E402
from oms_bridge.model.orders import OrderLine as CanonicalLine  # noqa: E402
from oms_bridge.oms.auth import rotate_many  # noqa: E402
from oms_bridge.oms.deps import token_guard  # noqa: E402
from oms_bridge.service import settle_heap  # noqa: E402
from oms_bridge.settings import get_settings, reset_settings  # noqa: E402
from oms_bridge.store.db import get_engine, session_scope  # noqa: E402
from oms_bridge.store.models import Base, Channel, Platform  # noqa: E402
from oms_bridge.store.orders import upsert_orders  # noqa: E402
from oms_bridge.store.statistics import refresh_after_load  # noqa: E402
from oms_bridge.vault import generate_key  # noqa: E402
from oms_bridge.web.app import create_app  # noqa: E402
from sandboxes.data import TW_DISTRICTS  # noqa: E402


def _seed(count: int) -> int:
    """A store with one channel and ``count`` orders; returns the channel's id."""
    settings = get_settings()
    Base.metadata.create_all(get_engine(settings))
    with session_scope(settings) as s:
        platform = Platform(value="shopee", name="Shopee", platform_type="shopee", host="http://127.0.0.1:9")
        s.add(platform)
        s.flush()
        channel = Channel(value="bench", name="bench", oms_platform_id=platform.id)
        s.add(channel)
        s.flush()
        channel_id = channel.id
    _add_orders(channel_id, 0, count)
    return channel_id


def _add_orders(channel_id: int, first: int, count: int) -> None:
    """Orders ``first`` … ``first + count - 1`` as GetOrder stores them (two lines each, 3 items)."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    orders = []
    for n in range(first, first + count):
        city, district, zipcode = TW_DISTRICTS[n % len(TW_DISTRICTS)]
        orders.append(CanonicalOrder(
            external_id=f"B{n:07d}", status="paid", platform_status="READY_TO_SHIP", currency="TWD",
            created_at=t0 + timedelta(minutes=n), updated_at=t0 + timedelta(minutes=n), total=Decimal("1080"),
            shipping_fee=Decimal("60"), buyer=Buyer(name="林志明"),
            shipping_address=Address(name="林志明", city=city, district=district, zip=zipcode, line1="中山路1號"),
            lines=(CanonicalLine(sku="TEA-OOLONG-150", name="茶", qty=Decimal("2"), unit_price=Decimal("480")),
                   CanonicalLine(sku="MUG-1", name="杯", qty=Decimal("1"), unit_price=Decimal("60")))))
    for start in range(0, count, 1000):
        with session_scope() as s:
            upsert_orders(s, channel_id, orders[start:start + 1000])
    refresh_after_load(get_settings(), count)  # as GetOrder does after a run that stored orders (PostgreSQL)


@dataclass
class Side:
    """One side's totals over a walk (the project's pages, or the ceiling's)."""

    wall: float = 0.0
    cpu: float = 0.0
    orders: int = 0
    server: float = 0.0  # CPU seconds of the database server's processes (PostgreSQL on this machine)

    def add(self, wall: float, cpu: float, orders: int, server: float = 0.0) -> None:
        self.wall, self.cpu, self.orders = self.wall + wall, self.cpu + cpu, self.orders + orders
        self.server += server


class ServerCpu:
    """CPU seconds used so far by the PostgreSQL server's processes on this machine (its backends, WAL writer,
    checkpointer …), read with psutil between two requests.

    Why: on PostgreSQL the wall-clock ratio holds the server's work (the items, events and ``oms`` rows a first
    read writes, the foreign-key checks at commit) on the same two cores, which this process's CPU figure leaves
    out; reporting it shows where the wall-clock ratio's excess goes. The kernel counts CPU time in ticks (10 ms),
    so one page's figure is coarse; a walk's total is not. 0 when the store is SQLite (nothing to read)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._processes: dict[int, psutil.Process] = {}

    def total(self) -> float:
        if not self.enabled:
            return 0.0
        for process in psutil.process_iter(["name"]):
            if (process.info["name"] or "").startswith("postgres"):
                self._processes.setdefault(process.pid, process)
        used = 0.0
        for pid, process in list(self._processes.items()):
            try:
                times = process.cpu_times()
            except psutil.Error:  # a backend that ended: its time is no longer counted by either side
                del self._processes[pid]
                continue
            used += times.user + times.system
        return used


def _get(client: TestClient, url: str, token: str) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, the parsed body) of one request."""
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(url, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    return time.perf_counter() - started, time.process_time() - cpu, body


def _walk(client: TestClient, url: str, token: str, served: dict[int, dict], ceiling_url: str,
          statements: list[int], server: ServerCpu) -> tuple[Side, Side, float]:
    """(the project, the ceiling, the project's SQL statements per page) over one walk through the pages, each
    project page followed at once by the ceiling serving it (``served``: what the ceiling serves).

    The walk starts from a collected heap, so that it does not pay for the garbage of the one before. The
    database server's CPU is read between requests, outside the timed ones."""
    gc.collect()
    project, ceiling, pages, counted = Side(), Side(), 0, 0
    while url:
        before, server_before = statements[0], server.total()
        wall, cpu, body = _get(client, url, token)
        counted += statements[0] - before
        server_after = server.total()
        project.add(wall, cpu, len(body["results"]), server_after - server_before)
        served[1] = body
        wall, cpu, same = _get(client, ceiling_url, token)
        ceiling.add(wall, cpu, len(same["results"]), server.total() - server_after)
        served.clear()
        pages += 1
        url = body["next"]
    return project, ceiling, counted / pages


#: walks of the steady state (setting OMS_PULL_BENCH_REPEAT); the median is reported
REPEAT = int(os.environ.get("OMS_PULL_BENCH_REPEAT", "5"))


#: rounds of new orders after the new store's: their first reads' median is reported
ROUNDS = int(os.environ.get("OMS_PULL_BENCH_ROUNDS", "3"))


def main(count: int = 10000, page_size: int = 100, database_url: str = "") -> None:
    home = tempfile.mkdtemp(prefix="bench-oms-")
    os.environ.update({"OMS_BRIDGE_HOME": home, "OMS_BRIDGE_SECRET_KEYS": generate_key()})
    if database_url:
        os.environ["OMS_BRIDGE_DATABASE_URL"] = database_url
    reset_settings()
    channel_id = _seed(count)
    with session_scope() as s:
        tokens = rotate_many(s)
    statements = [0]
    event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    app = create_app()
    served: dict[int, dict] = {}

    def trivial(request: Request, page: int = 1) -> dict:
        """The ceiling: the same JSON, from memory, behind the same token check."""
        return served[page]

    app.add_api_route("/api/v1/applications/oms/bench_trivial/", trivial, methods=["GET"],
                      dependencies=[Depends(token_guard("orders"))])
    if os.environ.get("OMS_PULL_BENCH_SETTLE", "1") == "1":
        settle_heap()  # as `oms-bridge run` does once its app is built (0: measure without it)
    url = f"/api/v1/applications/oms/orders/?limit={page_size}"
    ceiling_url = "/api/v1/applications/oms/bench_trivial/?page=1"

    server = ServerCpu(enabled=bool(database_url))
    results: dict[str, list[tuple[Side, Side, float]]] = {"new store": [], "new orders": [], "steady state": []}
    with TestClient(app) as client:
        def walk(url: str) -> tuple[Side, Side, float]:
            return _walk(client, url, tokens["orders"], served, ceiling_url, statements, server)

        # - new store: the first read of the new store (every order; the catalogue's seed is loaded on the way);
        # - new orders: ROUNDS rounds of the OMS's incremental poll: `count` new orders arrive and it reads what
        #   changed since its last poll (``modified_date__gte``), the first read of new orders in a running service;
        # - steady state: REPEAT re-reads of the last round's pages (nothing to record).
        results["new store"].append(walk(url))
        for round_no in range(1, ROUNDS + 1):
            since = datetime.now(UTC)
            _add_orders(channel_id, round_no * count, count)
            url = (f"/api/v1/applications/oms/orders/?limit={page_size}"
                   f"&modified_date__gte={since.isoformat().replace('+00:00', 'Z')}")
            results["new orders"].append(walk(url))
            assert results["new orders"][-1][0].orders == count, results["new orders"][-1]
        for _ in range(REPEAT):
            results["steady state"].append(walk(url))
        print(f"OMS pull, {count} orders ({2 * count} lines, {3 * count} items), pages of {page_size}, "
              f"{'PostgreSQL' if database_url else 'SQLite'}; the median walk of each kind, each page of the project "
              "followed by the ceiling (a trivial endpoint on the same app) serving the same JSON")
        def pages(side: Side) -> float:
            return side.orders / page_size

        for label, walks in results.items():
            if not walks:
                continue
            project, top, per_page = sorted(walks, key=lambda w: w[0].cpu / w[1].cpu)[len(walks) // 2]
            print(f"  {label:<12} ({len(walks)} walks): {project.orders / project.wall:6.0f} orders/s, "
                  f"{project.orders / project.cpu:6.0f} per CPU s; ceiling {top.orders / top.wall:6.0f}/s, "
                  f"{top.orders / top.cpu:6.0f} per CPU s; {per_page:4.1f} SQL statements per page; ratio "
                  f"{project.wall / top.wall:3.1f}x wall, {project.cpu / top.cpu:3.1f}x CPU (goal <= 3)")
            if server.enabled:
                mine, theirs = project.server * 1000 / pages(project), top.server * 1000 / pages(top)
                print(f"  {'':<12}   database server CPU per page: project {mine:5.1f} ms, ceiling {theirs:4.1f} ms; "
                      "this process's and the server's CPU together: "
                      f"{(project.cpu + project.server) / (top.cpu + top.server):3.1f}x")
        hooks = 500
        started = time.perf_counter()
        for n in range(hooks):
            payload = {"event": {"type": "package.created", "uuid": f"e{n}"},
                       "payload": {"id": n, "order_number": f"B{n:07d}", "state": {"enum_value": "100"}}}
            client.post("/api/v1/applications/oms/packages/", content=json.dumps(payload),
                        headers={"Authorization": f"Token {tokens['webhooks']}"})
        elapsed = time.perf_counter() - started
        print(f"  webhooks: {hooks} package.created in {elapsed:.2f}s = {hooks / elapsed:.0f} events/s")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 10000, int(args[1]) if len(args) > 1 else 100, args[2] if len(args) > 2 else "")
