"""Shopee fetch benchmark: API calls, mapped orders per second, and peak memory as N grows.

Fetching N orders in one ≤15-day window must cost exactly ceil(N/100) get_order_list calls plus
ceil(N/50) get_order_detail calls (Shopee's largest page and batch), and the adapter's memory must stay
flat because it yields orders as they are mapped. The sandbox runs in a child process on 127.0.0.1 (so
tracemalloc's peak is the client's alone); the adapter authorizes through the sandbox's real
``auth_partner`` redirect, exactly as a browser would.

Usage: python benchmarks/bench_shopee_fetch.py [N ...]   (default: 1000 10000 100000)
"""

from __future__ import annotations

import gc
import logging
import math
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from urllib.parse import parse_qsl, urlsplit

import requests

from platforms.base import ChannelConfig, Order, PlatformConfig
from platforms.http import RetryPolicy
from platforms.shopee.adapter import ShopeeAdapter
from platforms.shopee.sandbox import ShopeeSandbox


def _fetch(adapter: ShopeeAdapter, since, until, *, traced: bool) -> tuple[int, float, float]:
    """Mapped orders, seconds, and peak traced MiB (0 when untraced: tracing slows Python several-fold)."""
    gc.collect()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    mapped = 0
    for order in adapter.fetch_orders(since, until):
        mapped += isinstance(order, Order)
    elapsed = time.perf_counter() - started
    peak = 0.0
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return mapped, elapsed, peak


def _serve(count: int, conn: Connection) -> None:
    """Child process: a sandbox with ``count`` orders over the last 10 days; runs until told to stop."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sandbox = ShopeeSandbox(rate_limit=0, seed=42).start()
    shop = sandbox.add_shop()
    now = sandbox.clock.now()
    sandbox.generate_orders(shop["shop_id"], count, start=now - timedelta(days=10), end=now)
    conn.send({"fields": sandbox.platform_fields(), "shop_id": shop["shop_id"]})
    conn.recv()  # "calls?"
    conn.send((sandbox.calls("get_order_list"), sandbox.calls("get_order_detail")))
    conn.recv()  # "stop"
    sandbox.stop()


def _authorize(adapter: ShopeeAdapter) -> None:
    url = adapter.authorize_url("https://bridge.example/cb", "bench")
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    adapter.set_tokens(adapter.exchange_code(dict(parse_qsl(urlsplit(location).query))))


def run(count: int) -> dict[str, float]:
    parent, child = Pipe()
    server = Process(target=_serve, args=(count, child), daemon=True)
    server.start()
    try:
        info = parent.recv()
        adapter = ShopeeAdapter(PlatformConfig(**info["fields"]), ChannelConfig(name="bench", shop_id=info["shop_id"]),
                                policy=RetryPolicy(max_attempts=1))
        _authorize(adapter)
        now = datetime.now(UTC)
        since, until = now - timedelta(days=10, minutes=1), now + timedelta(seconds=1)
        adapter.api_calls = 0
        mapped, elapsed, _ = _fetch(adapter, since, until, traced=False)
        _, _, peak = _fetch(adapter, since, until, traced=True)
        parent.send("calls?")
        list_calls, detail_calls = (c // 2 for c in parent.recv())  # the timed pass and the traced pass
        expected = (max(1, math.ceil(count / 100)), math.ceil(count / 50))
        assert mapped == count, f"mapped {mapped} of {count}"
        assert (list_calls, detail_calls) == expected, f"calls {(list_calls, detail_calls)} != {expected}"
        assert adapter.api_calls == 2 * sum(expected)
        return {"n": count, "list": list_calls, "detail": detail_calls, "calls_per_1000": 1000 * sum(expected) / count,
                "orders_per_s": mapped / elapsed, "seconds": elapsed, "peak_mib": peak}
    finally:
        parent.send("stop")
        server.join(timeout=10)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000, 100000]
    print(f"{'N':>8} {'list':>6} {'detail':>7} {'calls/1000':>11} {'orders/s':>9} {'seconds':>8} {'peak MiB':>9}")
    for size in sizes:
        r = run(size)
        print(f"{r['n']:>8} {r['list']:>6} {r['detail']:>7} {r['calls_per_1000']:>11.1f} {r['orders_per_s']:>9.0f} "
              f"{r['seconds']:>8.1f} {r['peak_mib']:>9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
