"""Per-channel run locks, so two runs of the same process for one channel never overlap.

- PostgreSQL: a session-level advisory lock ``pg_try_advisory_lock(<process key>, <channel id>)``
  held on a dedicated connection for the whole run; it vanishes with the connection if the process
  dies. The process key is a CRC32 of ``oms-bridge:<process>`` (see :func:`lock_keys`), so other
  areas' advisory locks (scheduler) use different keys and never collide with these.
- SQLite: an exclusive ``flock`` on a small file next to the database file
  (``<db>.<process>-<channel>.lock``); the kernel drops it when the process dies. SQLite is a
  single-host store, so a host-level lock is the complete guarantee, and - unlike holding a
  ``BEGIN IMMEDIATE`` transaction for the whole run - it does not block the run's own writes.

The lock is *try*-only: a run that finds it taken is skipped (recorded), never queued.
"""

from __future__ import annotations

import fcntl
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine

__all__ = ["channel_run_lock", "lock_keys", "sqlite_channel_mutex", "LockTimeout"]


class LockTimeout(Exception):
    """A blocking lock could not be taken in time."""


def lock_keys(process: str, channel_id: int) -> tuple[int, int]:
    """The two int4 keys of the advisory lock for one process on one channel."""
    crc = zlib.crc32(f"oms-bridge:{process}".encode())
    return (crc - (1 << 32) if crc >= (1 << 31) else crc), int(channel_id)


def _lock_file(settings: Settings, process: str, channel_id: int) -> Path:
    database = make_url(settings.effective_database_url).database
    if database and database != ":memory:":
        return Path(f"{database}.{process}-{channel_id}.lock")
    return settings.home / "locks" / f"{process}-{channel_id}.lock"


@contextmanager
def channel_run_lock(settings: Settings, process: str, channel_id: int) -> Iterator[bool]:
    """Yield True holding the lock, or False when another run holds it."""
    if not settings.is_sqlite:
        k1, k2 = lock_keys(process, channel_id)
        with get_engine(settings).connect() as conn:
            got = bool(conn.execute(select(func.pg_try_advisory_lock(k1, k2))).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(select(func.pg_advisory_unlock(k1, k2)))
                    conn.commit()
        return
    path = _lock_file(settings, process, channel_id)
    path.parent.mkdir(parents=True, exist_ok=True)
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


@contextmanager
def sqlite_channel_mutex(settings: Settings, name: str, channel_id: int, *, timeout: float = 300.0,
                         poll: float = 0.05) -> Iterator[None]:
    """Wait (up to ``timeout`` s) for an exclusive per-channel ``flock`` on SQLite; no-op elsewhere.

    Used where SQLite's own write lock must not be held across a network call (it would block every
    writer of the file): the token refresh takes this mutex for single flight, and keeps its database
    transactions short.
    """
    if not settings.is_sqlite:
        yield
        return
    path = _lock_file(settings, name, channel_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"channel {channel_id}: {name} lock still taken after {timeout:.0f} s") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
