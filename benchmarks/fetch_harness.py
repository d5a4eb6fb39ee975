"""What every marketplace fetch benchmark needs: a sandbox in a child process, and one measured fetch.

The sandbox runs in its own process on 127.0.0.1 so that tracemalloc's peak in this process is the
client's alone (HTTP, JSON, decryption, mapping), not the simulator's order book.

Usage from a benchmark script (run as ``python benchmarks/bench_x_fetch.py``)::

    with sandbox_in_child(ShoplineSandbox, count, days=10, call_paths=("/v1/orders",)) as child:
        adapter = make_adapter(child.fields, child.shop)
        mapped, seconds, _ = measure_fetch(adapter, since, until, traced=False)
        (calls,) = child.calls()
"""

from __future__ import annotations

import gc
import logging
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from typing import Any

from platforms.base import Adapter, Order
from sandboxes.server import Sandbox

__all__ = ["measure_fetch", "sandbox_in_child", "ChildSandbox"]


def measure_fetch(adapter: Adapter, since: datetime, until: datetime, *, traced: bool) -> tuple[int, float, float]:
    """Mapped orders, seconds, and peak traced MiB (0 when untraced: tracing slows Python several-fold)."""
    gc.collect()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    mapped = sum(isinstance(order, Order) for order in adapter.fetch_orders(since, until))
    elapsed = time.perf_counter() - started
    peak = 0.0
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return mapped, elapsed, peak


@dataclass
class ChildSandbox:
    """The running child: what the admin would configure, and the sandbox's call counters on demand."""

    fields: dict[str, Any]
    shop: dict[str, Any]
    extra: dict[str, Any]
    _conn: Connection
    _paths: tuple[str, ...]

    def calls(self) -> tuple[int, ...]:
        """Requests the sandbox has answered so far, per path fragment given to :func:`sandbox_in_child`."""
        self._conn.send("calls")
        return tuple(self._conn.recv())


def _serve(sandbox_cls: type[Sandbox], count: int, days: float, paths: tuple[str, ...],
           describe: Callable[[Sandbox, dict[str, Any]], dict[str, Any]] | None, conn: Connection) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sandbox = sandbox_cls(rate_limit=0, seed=42).start()
    shop = sandbox.add_shop()
    now = sandbox.clock.now()
    sandbox.generate_orders(shop["shop_id"], count, start=now - timedelta(days=days), end=now)
    conn.send({"fields": sandbox.platform_fields(), "shop": shop,
               "extra": describe(sandbox, shop) if describe else {}})
    while conn.recv() == "calls":
        conn.send([sandbox.calls(p) for p in paths])
    sandbox.stop()


@contextmanager
def sandbox_in_child(sandbox_cls: type[Sandbox], count: int, *, days: float, call_paths: tuple[str, ...],
                     describe: Callable[[Sandbox, dict[str, Any]], dict[str, Any]] | None = None
                     ) -> Iterator[ChildSandbox]:
    """A sandbox with ``count`` orders spread over the last ``days`` days, served by a child process."""
    parent, child = Pipe()
    server = Process(target=_serve, args=(sandbox_cls, count, days, call_paths, describe, child), daemon=True)
    server.start()
    try:
        info = parent.recv()
        yield ChildSandbox(info["fields"], info["shop"], info["extra"], parent, call_paths)
    finally:
        parent.send("stop")
        server.join(timeout=10)
