"""Per (process, channel) run locks, so several ``oms-bridge run`` instances never overlap.

APScheduler 3 has no cross-instance coordination: two instances sharing one job store may both
decide a job is due. The guarantee therefore lives here, around every job body:

- **PostgreSQL**: ``pg_try_advisory_lock(namespace, channel)`` on a *dedicated* connection that is
  held for the whole run and released (``pg_advisory_unlock``) afterwards. Advisory locks are
  session-scoped, so an instance that dies (even ``kill -9``) frees its locks as soon as the server
  notices the closed socket: nothing is left locked and the next due run elsewhere proceeds.
- **SQLite** (one machine by construction): an exclusive, non-blocking ``flock`` on a lock file per
  (process, channel) in ``$OMS_BRIDGE_HOME/locks``. The kernel drops it when the process dies.

The keys (``oms-bridge-scheduler:<process>``) differ from the processes' own run locks
(:mod:`channels.locks`, ``oms-bridge:<process>``): the job holds its lock while the process inside
takes its own, so the two must never be the same lock on two connections.

Locks are *try* locks: a run that finds its lock taken is skipped (the other instance is doing
that very work), never queued behind it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine

__all__ = ["process_lock", "lock_key"]

log = logging.getLogger(__name__)


def lock_key(process: str, channel_id: int | None) -> tuple[int, int]:
    """The two signed 32-bit keys of ``pg_try_advisory_lock(int, int)`` for a (process, channel)."""
    namespace = zlib.crc32(f"oms-bridge-scheduler:{process}".encode())
    if namespace >= 2**31:
        namespace -= 2**32
    return namespace, int(channel_id or 0)


@contextmanager
def process_lock(settings: Settings, process: str, channel_id: int | None = None) -> Iterator[bool]:
    """Hold the run lock of ``process`` for ``channel_id`` (None: a global process) if free.

    Yields True when this caller holds the lock (do the work), False when another process holds it
    (skip). The lock is released when the block exits, on any outcome.
    """
    if settings.is_sqlite:
        with _file_lock(settings, process, channel_id) as acquired:
            yield acquired
    else:
        with _advisory_lock(settings, process, channel_id) as acquired:
            yield acquired


@contextmanager
def _advisory_lock(settings: Settings, process: str, channel_id: int | None) -> Iterator[bool]:
    key1, key2 = lock_key(process, channel_id)
    # A dedicated connection: the lock belongs to this database session, not to the job's own sessions.
    conn = get_engine(settings).connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        acquired = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": key1, "b": key2}).scalar())
        try:
            yield acquired
        finally:
            if acquired:
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": key1, "b": key2})
    finally:
        conn.close()


@contextmanager
def _file_lock(settings: Settings, process: str, channel_id: int | None) -> Iterator[bool]:
    lock_dir = settings.home / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"scheduler-{process}-{int(channel_id or 0)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
