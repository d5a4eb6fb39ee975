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

A PostgreSQL lock dies with its connection: when that backend is terminated (``pg_terminate_backend``,
a failover, a network cut) the lock is gone while the run goes on with fresh pooled connections, and a
second run of the same channel may start. :meth:`RunLock.check` (one round trip on the lock's own
connection: is this backend still holding the lock?) raises :class:`LockLost`; the processes call it
inside each batch transaction right before it commits and before the watermark moves, so a run that
lost its lock stops before writing more and is recorded ``interrupted``, not ``failed``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine

__all__ = ["channel_run_lock", "lock_keys", "sqlite_channel_mutex", "LockTimeout", "LockLost", "RunLock"]

log = logging.getLogger(__name__)


class LockTimeout(Exception):
    """A blocking lock could not be taken in time."""


class LockLost(Exception):
    """The run lock vanished under a running run (its PostgreSQL connection ended)."""


class RunLock:
    """The outcome of :func:`channel_run_lock`: true when held; :meth:`check` proves it still is."""

    def __init__(self, held: bool, name: str, conn: Connection | None = None, keys: tuple[int, int] | None = None):
        self.held = held
        self.name = name
        self._conn = conn
        self._keys = keys

    def __bool__(self) -> bool:
        return self.held

    def check(self) -> None:
        """Raise :class:`LockLost` unless the lock is still held (PostgreSQL; the SQLite ``flock`` cannot be lost
        while its process lives)."""
        if not self.held or self._conn is None:
            return
        k1, k2 = self._keys
        try:
            still = self._conn.execute(_HELD, {"k1": k1 & 0xFFFFFFFF, "k2": k2 & 0xFFFFFFFF}).scalar()
            self._conn.commit()
        except DBAPIError as exc:
            self.held = False
            raise LockLost(f"the {self.name} run lock was lost: its database connection ended "
                           f"({type(exc.orig or exc).__name__})") from None
        if not still:
            self.held = False
            raise LockLost(f"the {self.name} run lock was lost")


# This backend still holds the two-key advisory lock (classid/objid are the keys as unsigned oids).
_HELD = text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
             "AND granted AND objsubid = 2 AND classid::bigint = :k1 AND objid::bigint = :k2)")


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
def channel_run_lock(settings: Settings, process: str, channel_id: int) -> Iterator[RunLock]:
    """Yield a true :class:`RunLock` holding the lock, or a false one when another run holds it."""
    name = f"{process} (channel {channel_id})"
    if not settings.is_sqlite:
        k1, k2 = lock_keys(process, channel_id)
        with get_engine(settings).connect() as conn:
            got = bool(conn.execute(select(func.pg_try_advisory_lock(k1, k2))).scalar())
            conn.commit()
            lock = RunLock(got, name, conn, (k1, k2))
            try:
                yield lock
            finally:
                if lock.held:  # a lost lock went with its connection: nothing to release
                    _unlock(conn, k1, k2)
        return
    path = _lock_file(settings, process, channel_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield RunLock(False, name)
            return
        try:
            yield RunLock(True, name)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _unlock(conn: Connection, k1: int, k2: int) -> None:
    """Release the lock; on a connection that already ended the lock went with it (nothing to report)."""
    try:
        conn.execute(select(func.pg_advisory_unlock(k1, k2)))
        conn.commit()
    except SQLAlchemyError:
        log.info("run lock (%s, %s): its connection had ended; the lock went with it", k1, k2)
        conn.invalidate()


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
