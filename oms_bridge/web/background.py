"""Work an admin starts from a page that takes longer than a request: "Run GetOrder now", a backfill.

The request only hands the job to a small thread pool and answers at once (post/redirect/get); the job
records itself as a normal process run (``oms_process_run``, and ``oms_backfill`` for a backfill's
checkpoint), which the channel page and ``/admin/runs`` show, so nothing here keeps state of its own.
Repeated clicks do not pile up: while a job of one kind for one channel is queued or running, another
is refused (``None``; the page says so). Across instances the process's own per-channel run lock
still holds: a second run elsewhere is recorded as ``skipped``.
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
_jobs: dict[tuple[str, int], Future] = {}  # (kind, channel id) -> the job queued or running


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="admin-run")
        return _pool


def _submit(kind: str, channel_id: int, body: Callable[[], Any]) -> Future | None:
    def run() -> Any:
        try:
            return body()
        except Exception:  # the run row holds the outcome; the log says the job itself broke
            log.exception("admin-started %s of channel %s failed", kind, channel_id)
            raise

    executor = _executor()
    with _pool_lock:
        running = _jobs.get((kind, channel_id))
        if running is not None and not running.done():
            return None
        future = _jobs[(kind, channel_id)] = executor.submit(run)
        return future


def start_getorder(channel_id: int, settings: Settings) -> Future | None:
    """One GetOrder run of the channel in the background (recorded like a scheduled one); None while the
    previous one started here is still queued or running."""
    return _submit("getorder", channel_id, lambda: run_getorder(channel_id, settings=settings))


def start_backfill(channel_id: int, since: datetime, until: datetime, settings: Settings) -> Future | None:
    """A backfill of ``[since, until)`` in the background (its checkpoint row shows the progress); None
    while the previous one started here is still queued or running."""
    return _submit("backfill", channel_id, lambda: run_backfill(channel_id, since, until, settings=settings))
