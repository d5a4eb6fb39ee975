"""Work an admin starts from a page that takes longer than a request: "Run GetOrder now", a backfill.

The request only hands the job to a small thread pool and answers at once (post/redirect/get); the job
records itself as a normal process run (``oms_process_run``, and ``oms_backfill`` for a backfill's
checkpoint), which the channel page and ``/admin/runs`` show, so nothing here keeps state of its own.
Two jobs of one kind for one channel never overlap: the process takes its per-channel run lock and a
second one is recorded as ``skipped``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from threading import Lock
from typing import Any

from channels.backfill import run_backfill
from channels.getorder import run_getorder
from oms_bridge.settings import Settings

__all__ = ["start_getorder", "start_backfill", "WORKERS"]

log = logging.getLogger(__name__)

#: threads for admin-started runs (a backfill can take minutes; GetOrder now should not wait behind it)
WORKERS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="admin-run")
        return _pool


def _submit(what: str, body: Callable[[], Any]) -> Future:
    def run() -> Any:
        try:
            return body()
        except Exception:  # the run row holds the outcome; the log says the job itself broke
            log.exception("admin-started %s failed", what)
            raise

    return _executor().submit(run)


def start_getorder(channel_id: int, settings: Settings) -> Future:
    """One GetOrder run of the channel, in the background (recorded like a scheduled one)."""
    return _submit(f"getorder of channel {channel_id}", lambda: run_getorder(channel_id, settings=settings))


def start_backfill(channel_id: int, since: datetime, until: datetime, settings: Settings) -> Future:
    """A backfill of ``[since, until)`` in the background; its checkpoint row shows the progress."""
    return _submit(f"backfill of channel {channel_id}",
                   lambda: run_backfill(channel_id, since, until, settings=settings))
