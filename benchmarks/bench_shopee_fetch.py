"""Shopee fetch benchmark: API calls, mapped orders per second, and peak memory as N grows.

Fetching N orders in one ≤15-day window costs the floor when nothing changes while the pages are read:
ceil(N/100) get_order_list calls plus ceil(N/50) get_order_detail calls (Shopee's largest page and batch),
plus ceil(P/50) get_mass_tracking_number calls for the P PROCESSED orders (their tracking numbers). The
details are read after the last list page, which proves the listing complete (platforms/shopee/listing.py).
With ``--churn K`` an order of the page just read changes after each of the first K list calls (as a buyer
would, mid-read): the listing's proof fails and the window is re-listed in halves, so the extra list calls
show what a change during paging costs; every order must still come back exactly once.

The adapter's memory must stay flat apart from the order numbers of one window: it yields orders as they are
mapped. The sandbox runs in a child process on 127.0.0.1 (so tracemalloc's peak is the client's alone); the
adapter authorizes through the sandbox's real ``auth_partner`` redirect, exactly as a browser would.

Usage: python benchmarks/bench_shopee_fetch.py [--churn K] [N ...]   (default: 1000 10000 100000)
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from fetch_harness import measure_fetch, sandbox_in_child

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig
from platforms.shopee.adapter import ShopeeAdapter
from sandboxes.shopee import ShopeeSandbox

PATHS = ("get_order_list", "get_order_detail", "get_mass_tracking_number")


def _authorize(adapter: ShopeeAdapter) -> None:
    url = adapter.authorize_url("https://bridge.example/cb", "bench")
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    adapter.set_tokens(adapter.exchange_code(dict(parse_qsl(urlsplit(location).query))))


def _describer(churn: int):
    """Runs in the sandbox's process: counts PROCESSED orders and installs the mid-read changes."""
    def describe(sandbox: ShopeeSandbox, shop: dict[str, Any]) -> dict[str, Any]:
        state = sandbox.shops[int(shop["shop_id"])]
        processed = sum(row[4] == "PROCESSED" for row in state.index.values())
        calls = {"n": 0}

        def change(_shop: int, _cursor: str, page: list[str]) -> None:
            calls["n"] += 1
            if calls["n"] <= churn and page:
                sandbox.update_order(shop["shop_id"], page[0], note=f"changed mid-read {calls['n']}")

        sandbox.on_list_page(change)
        return {"processed": processed}

    return describe


def run(count: int, churn: int = 0) -> dict[str, float]:
    with sandbox_in_child(ShopeeSandbox, count, days=10, call_paths=PATHS, describe=_describer(churn)) as child:
        adapter = ShopeeAdapter(PlatformConfig(**child.fields),
                                ChannelConfig(name="bench", shop_id=child.shop["shop_id"]),
                                policy=RetryPolicy(max_attempts=1))
        _authorize(adapter)
        now = datetime.now(UTC)
        since, until = now - timedelta(days=10, minutes=1), now - timedelta(seconds=1)
        adapter.api_calls = 0
        mapped, elapsed, _ = measure_fetch(adapter, since, until, traced=False)
        first = child.calls()
        _, _, peak = measure_fetch(adapter, since, until, traced=True)
        list_calls, detail_calls, tracking_calls = first  # the timed pass (the traced one repeats it)
    processed = child.extra["processed"]
    floor = (max(1, math.ceil(count / 100)), math.ceil(count / 50), math.ceil(processed / 50))
    if churn:  # an order that changed is read in its new state; every other one exactly once
        assert count - churn <= mapped <= count, f"mapped {mapped} of {count}"
    else:
        assert mapped == count, f"mapped {mapped} of {count}"
        assert first == floor, f"calls {first} != {floor}"
    total = list_calls + detail_calls + tracking_calls
    return {"n": count, "list": list_calls, "detail": detail_calls, "tracking": tracking_calls,
            "calls_per_1000": 1000 * total / count, "orders_per_s": mapped / elapsed, "seconds": elapsed,
            "peak_mib": peak}


def main(argv: list[str]) -> None:
    churn = 0
    if argv[:1] == ["--churn"]:
        churn, argv = int(argv[1]), argv[2:]
    sizes = [int(a) for a in argv] or [1000, 10000, 100000]
    print(f"churn {churn}: an order changes after each of the first {churn} list calls" if churn else
          "quiet: nothing changes while the pages are read")
    print(f"{'N':>8} {'list':>6} {'detail':>7} {'tracking':>9} {'calls/1000':>11} {'orders/s':>9} {'seconds':>8} "
          f"{'peak MiB':>9}")
    for size in sizes:
        r = run(size, churn)
        print(f"{r['n']:>8} {r['list']:>6} {r['detail']:>7} {r['tracking']:>9} {r['calls_per_1000']:>11.1f} "
              f"{r['orders_per_s']:>9.0f} {r['seconds']:>8.1f} {r['peak_mib']:>9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
