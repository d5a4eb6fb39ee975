"""momo fetch benchmark: API calls, mapped orders per second and peak client memory as N grows.

momo documents no pagination: one unsent query returns its whole window (at most 2 months), so the
adapter's memory grows with the largest window's rows, not with the whole range. Fetching a range
of D days costs ceil(D / 59) windows x (list calls per window) + 1 stop-list call; with the default
variants a window is 19 list calls (company 1, store chains 6, third-party carriers x temperatures 12:
momo has no "all" value for those codes). The sandbox
runs in a child process on 127.0.0.1, so tracemalloc's peak is the client's alone (decryption,
JSON parsing and mapping included).

Memory therefore scales with one window's rows and ``max_window_days`` bounds it: ``--window-days 7``
trades more calls for a peak bounded by one week's rows. In production the unsent lists only hold
orders not yet shipped (a confirmed order leaves them), so a window's rows are bounded by the vendor's
shipping backlog, not by order volume; this benchmark's N unshipped orders is the worst case.

Usage: python benchmarks/bench_momo_fetch.py [--window-days D] [N ...]   (default: 59; 1000 10000 50000)
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta

from fetch_harness import measure_fetch, sandbox_in_child

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig
from platforms.momo.adapter import DEFAULT_FILTERS, MomoAdapter
from sandboxes.momo import MomoSandbox

DAYS = 150


def _rows(sandbox: MomoSandbox, shop: dict) -> dict:
    return {"rows": len(sandbox.rows[shop["shop_id"]])}


def run(count: int, window_days: int = 59) -> dict[str, float]:
    with sandbox_in_child(MomoSandbox, count, days=DAYS, call_paths=("/OrderServlet.do",), describe=_rows) as child:
        def make() -> MomoAdapter:
            return MomoAdapter(PlatformConfig(**child.fields),
                               ChannelConfig(name="bench", shop_id=child.shop["shop_id"],
                                             credentials=child.shop["credentials"],
                                             settings={"max_window_days": window_days}),
                               policy=RetryPolicy(max_attempts=1, read_timeout=120))

        now = datetime.now(UTC)
        since, until = now - timedelta(days=DAYS, minutes=1), now + timedelta(minutes=2)
        mapped, seconds, _ = measure_fetch(make(), since, until, traced=False)
        (calls,) = child.calls()
        _, _, peak = measure_fetch(make(), since, until, traced=True)
        rows = child.extra["rows"]
    per_window = 1 + sum(len(v) for v in DEFAULT_FILTERS.values())
    expected_calls = math.ceil((DAYS * 1440 + 3) / (window_days * 1440)) * per_window + 1
    return {"orders": count, "rows": rows, "mapped": mapped, "calls": calls, "expected_calls": expected_calls,
            "seconds": seconds, "orders_per_s": mapped / seconds if seconds else 0.0, "peak_mib": peak}


def main(argv: list[str]) -> None:
    window_days = 59
    if argv[:1] == ["--window-days"]:
        window_days, argv = int(argv[1]), argv[2:]
    sizes = [int(a) for a in argv] or [1000, 10000, 50000]
    print(f"window: {window_days} days over {DAYS} days")
    print(f"{'orders':>8} {'rows':>8} {'mapped':>8} {'calls':>6} {'expect':>6} {'seconds':>8} {'orders/s':>9} "
          f"{'peak MiB':>9}")
    for n in sizes:
        r = run(n, window_days)
        print(f"{r['orders']:>8} {r['rows']:>8} {r['mapped']:>8} {r['calls']:>6} {r['expected_calls']:>6} "
              f"{r['seconds']:>8.2f} {r['orders_per_s']:>9.0f} {r['peak_mib']:>9.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
