"""Cyberbiz fetch benchmark: orders/s, API calls and peak memory of fetch_orders against the sandbox.

Run: ``python benchmarks/bench_cyberbiz_fetch.py [orders] [auth_model] [combo]`` (defaults 5000, v1; auth_model
``token``, ``v2`` or ``v1``; ``combo`` gives every order a combo product line to expand). Client pacing
is switched off here (the sandbox's 5 requests/s limit too) so the numbers show the adapter's own cost:
HMAC signing, JSON parsing, mapping. With pacing on, a fetch costs at least pages / 5 seconds.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, Order, PlatformConfig
from platforms.cyberbiz.adapter import CyberbizAdapter
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.server import SandboxClock


def main(count: int = 5000, auth_model: str = "v1", combo: bool = False) -> None:
    now = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
    with CyberbizSandbox(clock=SandboxClock(now, frozen=True), rate_limit=0) as sandbox:
        shop = sandbox.add_shop(auth_model=auth_model)
        sandbox.generate_orders(shop["shop_id"], count, start=now - timedelta(days=20), end=now, combo=combo)
        fields = sandbox.platform_fields()
        adapter = CyberbizAdapter(
            PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret=fields["app_secret"],
                           settings={**fields["settings"], "requests_per_second": 0}),
            ChannelConfig(name="bench", shop_id=shop["shop_id"], credentials=shop["credentials"],
                          settings=shop["settings"]),
            policy=RetryPolicy(sleep=lambda s: None), clock=sandbox.clock.now)
        if adapter.uses_oauth:
            adapter.set_tokens(adapter.exchange_code(sandbox.consent(adapter.authorize_url("http://x/cb", "s"))))
            adapter.api_calls = 0
        window = (now - timedelta(days=30), now + timedelta(seconds=1))
        started = time.perf_counter()
        mapped = sum(1 for o in adapter.fetch_orders(*window) if isinstance(o, Order))
        elapsed = time.perf_counter() - started
        calls = adapter.api_calls
        tracemalloc.start()  # a second pass for memory: tracing slows everything down several times
        for _order in adapter.fetch_orders(*window):
            pass
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    label = f"{auth_model} with combos" if combo else auth_model
    print(f"cyberbiz {label}: {mapped}/{count} orders in {elapsed:.2f} s = {mapped / elapsed:,.0f} orders/s; "
          f"{calls} API calls ({count / max(calls, 1):.1f} orders/call); "
          f"peak traced memory during a fetch {peak / 1e6:.1f} MB (includes the in-process sandbox's pages)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000, sys.argv[2] if len(sys.argv) > 2 else "v1",
         len(sys.argv) > 3 and sys.argv[3] == "combo")
