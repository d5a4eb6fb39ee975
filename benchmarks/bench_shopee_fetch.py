"""Shopee fetch benchmark: API calls, mapped orders per second, and peak memory as N grows.

Fetching N orders in one ≤15-day window must cost exactly ceil(N/100) get_order_list calls plus
ceil(N/50) get_order_detail calls (Shopee's largest page and batch), and the adapter's memory must stay
flat because it yields orders as they are mapped. The sandbox runs in a child process on 127.0.0.1 (so
tracemalloc's peak is the client's alone); the adapter authorizes through the sandbox's real
``auth_partner`` redirect, exactly as a browser would.

Usage: python benchmarks/bench_shopee_fetch.py [N ...]   (default: 1000 10000 100000)
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import requests
from fetch_harness import measure_fetch, sandbox_in_child

from platforms.base import ChannelConfig, PlatformConfig
from platforms.http import RetryPolicy
from platforms.shopee.adapter import ShopeeAdapter
from platforms.shopee.sandbox import ShopeeSandbox


def _authorize(adapter: ShopeeAdapter) -> None:
    url = adapter.authorize_url("https://bridge.example/cb", "bench")
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    adapter.set_tokens(adapter.exchange_code(dict(parse_qsl(urlsplit(location).query))))


def run(count: int) -> dict[str, float]:
    paths = ("get_order_list", "get_order_detail")
    with sandbox_in_child(ShopeeSandbox, count, days=10, call_paths=paths) as child:
        adapter = ShopeeAdapter(PlatformConfig(**child.fields),
                                ChannelConfig(name="bench", shop_id=child.shop["shop_id"]),
                                policy=RetryPolicy(max_attempts=1))
        _authorize(adapter)
        now = datetime.now(UTC)
        since, until = now - timedelta(days=10, minutes=1), now + timedelta(seconds=1)
        adapter.api_calls = 0
        mapped, elapsed, _ = measure_fetch(adapter, since, until, traced=False)
        _, _, peak = measure_fetch(adapter, since, until, traced=True)
        list_calls, detail_calls = (c // 2 for c in child.calls())  # the timed pass and the traced pass
    expected = (max(1, math.ceil(count / 100)), math.ceil(count / 50))
    assert mapped == count, f"mapped {mapped} of {count}"
    assert (list_calls, detail_calls) == expected, f"calls {(list_calls, detail_calls)} != {expected}"
    assert adapter.api_calls == 2 * sum(expected)
    return {"n": count, "list": list_calls, "detail": detail_calls, "calls_per_1000": 1000 * sum(expected) / count,
            "orders_per_s": mapped / elapsed, "seconds": elapsed, "peak_mib": peak}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000, 100000]
    print(f"{'N':>8} {'list':>6} {'detail':>7} {'calls/1000':>11} {'orders/s':>9} {'seconds':>8} {'peak MiB':>9}")
    for size in sizes:
        r = run(size)
        print(f"{r['n']:>8} {r['list']:>6} {r['detail']:>7} {r['calls_per_1000']:>11.1f} {r['orders_per_s']:>9.0f} "
              f"{r['seconds']:>8.1f} {r['peak_mib']:>9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
