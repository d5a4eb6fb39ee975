"""Per (process, channel) run locks, so several ``oms-bridge run`` instances never overlap.

APScheduler 3 has no cross-instance coordination: two instances sharing one job store may both
decide a job is due. The guarantee therefore lives here, around every job body:

- **PostgreSQL**: ``pg_try_advisory_lock(namespace, channel)`` on a *dedicated* connection that is
  held for the whole run and released (``pg_advisory_unlock``) afterwards. Advisory locks are
  session-scoped, so an instance that dies (even ``kill -9``) frees its locks as soon as the server
  notices the closed socket: nothing is left locked and the next due run elsewhere proceeds.
- **SQLite** (one machine by construction): an exclusive, non-blocking ``flock`` on a lock file per
  (process, channel) next to the database file. The kernel drops it when the process dies.

The mechanism is the processes' own run lock (:func:`channels.locks.channel_run_lock`), used under
a ``scheduler-<process>`` name: the job holds its lock while the process inside takes its own, so
the two must never be the same lock on two connections.

Locks are *try* locks: a run that finds its lock taken is skipped (the other instance is doing
that very work), never queued behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from channels.locks import channel_run_lock, lock_keys
from oms_bridge.settings import Settings

__all__ = ["process_lock", "lock_key"]


def _name(process: str) -> str:
    return f"scheduler-{process}"


def lock_key(process: str, channel_id: int | None) -> tuple[int, int]:
    """The two signed 32-bit keys of ``pg_try_advisory_lock(int, int)`` for a (process, channel)."""
    return lock_keys(_name(process), int(channel_id or 0))


@contextmanager
def process_lock(settings: Settings, process: str, channel_id: int | None = None) -> Iterator[bool]:
    """Hold the run lock of ``process`` for ``channel_id`` (None: a global process) if free.

    Yields True when this caller holds the lock (do the work), False when another process holds it
    (skip). The lock is released when the block exits, on any outcome.
    """
    with channel_run_lock(settings, _name(process), int(channel_id or 0)) as acquired:
        yield bool(acquired)
