"""Shopline fetch benchmark: API calls, mapped orders per second and peak client memory as N grows.

Fetching N orders costs ``GET /v1/orders`` calls for page 1, then the last page back to page 2, then page 1
again (so an order updated while paging never hides another): P + 1 calls for P = ceil(N / per_page) > 1 pages
(per_page 50 by default; the real maximum is unconfirmed). The adapter yields orders page by page and remembers
the ids of three pages at most, so its memory must stay flat as N grows. The sandbox runs in a child process on
127.0.0.1, so tracemalloc's peak is the client's alone.

Usage: python benchmarks/bench_shopline_fetch.py [N ...]   (default: 1000 10000 50000)
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta

from fetch_harness import measure_fetch, sandbox_in_child

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig
from platforms.shopline.adapter import ShoplineAdapter
from sandboxes.shopline import ShoplineSandbox

PER_PAGE = 50


def _expected_calls(count: int) -> int:
    pages = math.ceil(count / PER_PAGE)
    return 1 if pages <= 1 else pages + 1


def run(count: int) -> dict[str, float]:
    with sandbox_in_child(ShoplineSandbox, count, days=10, call_paths=("/v1/orders",)) as child:
        def make() -> ShoplineAdapter:
            return ShoplineAdapter(PlatformConfig(**child.fields),
                                   ChannelConfig(name="bench", shop_id=child.shop["shop_id"],
                                                 credentials=child.shop["credentials"],
                                                 settings={**child.shop["settings"], "per_page": PER_PAGE}),
                                   policy=RetryPolicy(max_attempts=1, read_timeout=60))

        now = datetime.now(UTC)
        since, until = now - timedelta(days=10, minutes=1), now + timedelta(minutes=1)
        mapped, seconds, _ = measure_fetch(make(), since, until, traced=False)
        (calls,) = child.calls()
        _, _, peak = measure_fetch(make(), since, until, traced=True)
    return {"orders": count, "mapped": mapped, "calls": calls, "expected_calls": _expected_calls(count),
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
