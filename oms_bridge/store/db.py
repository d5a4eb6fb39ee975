"""Engine and session factory for the configured store (SQLite file or PostgreSQL).

Both engines hide bound parameters from error messages (``hide_parameters``): they carry buyers'
personal data, and an error's text reaches logs (see :mod:`oms_bridge.store.errors`).

SQLite is opened in WAL mode with a busy timeout and foreign keys on, so several processes
(scheduler, CLI, backfill) can share the file. Use :func:`session_scope` for a unit of work::

    with session_scope() as session:
        session.add(platform)
    # committed here, rolled back on exception
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from oms_bridge.settings import Settings, get_settings

__all__ = ["make_engine", "get_engine", "get_sessionmaker", "session_scope", "dispose_engines"]


def make_engine(url: str) -> Engine:
    """Create an engine with the pragmas and pool settings the bridge relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            # IMMEDIATE: take the write lock at BEGIN so two writers serialise instead of deadlocking.
            immediate = conn.info.get("sqlite_immediate") or getattr(_BEGIN_IMMEDIATE, "on", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


_ENGINES_SEEN: list[Engine] = []
# Set by session_scope(immediate=True) around the session's BEGIN (read by the SQLite begin hook).
_BEGIN_IMMEDIATE = threading.local()


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    _ENGINES_SEEN.append(engine)
    return engine


def get_engine(settings: Settings | None = None) -> Engine:
    """The shared engine for the configured database."""
    return _engine_for((settings or get_settings()).effective_database_url)


def get_sessionmaker(settings: Settings | None = None) -> sessionmaker[Session]:
    """A session factory bound to the configured database (objects stay usable after commit)."""
    return sessionmaker(bind=get_engine(settings), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings | None = None, *, immediate: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error.

    ``immediate=True`` takes SQLite's write lock at BEGIN (use it around read-modify-write of a
    row that another process may change at the same time); on PostgreSQL use ``with_for_update``.
    """
    session = get_sessionmaker(settings)()
    try:
        if immediate:
            # The flag must be visible *while* the session begins (session.connection() emits BEGIN),
            # so it is a thread-local read by the SQLite begin hook, not a mark set on the connection after.
            _BEGIN_IMMEDIATE.on = True
            try:
                session.connection()
            finally:
                _BEGIN_IMMEDIATE.on = False
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close every pooled connection (tests and forks)."""
    # lru_cache keeps no public list of its values; dispose via a cache-info-free walk.
    for engine in _ENGINES_SEEN:
        engine.dispose()
    _ENGINES_SEEN.clear()
    _engine_for.cache_clear()
