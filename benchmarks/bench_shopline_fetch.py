"""Shopline fetch benchmark: API calls, mapped orders per second and peak client memory as N grows.

Fetching N orders costs exactly ceil(N / per_page) ``GET /v1/orders`` calls (per_page 50 by default;
the real maximum is unconfirmed). The adapter yields orders page by page, so its memory must stay
flat as N grows. The sandbox runs in a child process on 127.0.0.1, so tracemalloc's peak is the
client's alone.

Usage: python benchmarks/bench_shopline_fetch.py [N ...]   (default: 1000 10000 50000)
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

from platforms.base import ChannelConfig, Order, PlatformConfig
from platforms.http import RetryPolicy
from platforms.shopline.adapter import ShoplineAdapter
from platforms.shopline.sandbox import ShoplineSandbox

PER_PAGE = 50


def _serve(count: int, conn: Connection) -> None:
    """Child process: ``count`` orders over the last 10 days; runs until told to stop."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sandbox = ShoplineSandbox(rate_limit=0, seed=42).start()
    shop = sandbox.add_shop()
    now = sandbox.clock.now()
    sandbox.generate_orders(shop["shop_id"], count, start=now - timedelta(days=10), end=now)
    conn.send({"fields": sandbox.platform_fields(), "shop": shop})
    conn.recv()  # "calls?"
    conn.send(sandbox.calls("/v1/orders"))
    conn.recv()  # "stop"
    sandbox.stop()


def _fetch(adapter: ShoplineAdapter, since: datetime, until: datetime, *, traced: bool) -> tuple[int, float, float]:
    gc.collect()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    mapped = sum(isinstance(o, Order) for o in adapter.fetch_orders(since, until))
    elapsed = time.perf_counter() - started
    peak = 0.0
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return mapped, elapsed, peak


def run(count: int) -> dict[str, float]:
    parent, child = Pipe()
    server = Process(target=_serve, args=(count, child), daemon=True)
    server.start()
    try:
        info = parent.recv()
        shop = info["shop"]

        def make() -> ShoplineAdapter:
            return ShoplineAdapter(PlatformConfig(**info["fields"]),
                                   ChannelConfig(name="bench", shop_id=shop["shop_id"], credentials=shop["credentials"],
                                                 settings={**shop["settings"], "per_page": PER_PAGE}),
                                   policy=RetryPolicy(max_attempts=1, read_timeout=60))

        now = datetime.now(UTC)
        since, until = now - timedelta(days=10, minutes=1), now + timedelta(minutes=1)
        mapped, seconds, _ = _fetch(make(), since, until, traced=False)
        parent.send("calls?")
        calls = parent.recv()
        _, _, peak = _fetch(make(), since, until, traced=True)
        parent.send("stop")
    finally:
        server.join(timeout=10)
    return {"orders": count, "mapped": mapped, "calls": calls, "expected_calls": max(1, math.ceil(count / PER_PAGE)),
            "seconds": seconds, "orders_per_s": mapped / seconds if seconds else 0.0, "peak_mib": peak}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000, 50000]
    print(f"{'orders':>8} {'mapped':>8} {'calls':>6} {'expect':>6} {'seconds':>8} {'orders/s':>9} {'peak MiB':>9}")
    for n in sizes:
        r = run(n)
        print(f"{r['orders']:>8} {r['mapped']:>8} {r['calls']:>6} {r['expected_calls']:>6} {r['seconds']:>8.2f} "
              f"{r['orders_per_s']:>9.0f} {r['peak_mib']:>9.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
