"""Engine and session factory for the configured store (SQLite file or PostgreSQL).

Both engines hide bound parameters from error messages (``hide_parameters``): they carry buyers'
personal data, and an error's text reaches logs (see :mod:`oms_bridge.store.errors`).

SQLite is opened in WAL mode with a busy timeout and foreign keys on, so several processes
(scheduler, CLI, backfill) can share the file. Use :func:`session_scope` for a unit of work::

    with session_scope() as session:            # writes: takes the write lock at BEGIN (SQLite)
        session.add(platform)
    # committed here, rolled back on exception

    with session_scope(readonly=True) as session:   # reads only: never waits for a writer
        rows = session.scalars(select(Channel)).all()

Why every transaction that may write begins with SQLite's write lock (``BEGIN IMMEDIATE``): in WAL
mode a transaction that starts as a reader and later writes cannot upgrade when another connection
committed in between; SQLite answers "database is locked" *at once*, whatever the busy timeout. Four
GetOrder runs at once (the scheduler's workers) failed that way. Taking the lock at BEGIN makes writers
queue (up to the busy timeout) instead. The rule is the engine's: every transaction on the engine is
``IMMEDIATE`` unless it is marked read-only, so APScheduler's job store and Alembic, which open their
own connections on :func:`get_engine`, follow it too.

Read-only units (``readonly=True``) begin a deferred transaction with ``PRAGMA query_only`` on: they
never wait for a writer (WAL readers see a snapshot), and a write inside one fails loudly at once
instead of racing. Mark hot read paths (pages, health, metrics, listings) read-only.

A second write transaction opened on SQLite by a thread that already holds one would wait for itself
until the busy timeout; :class:`NestedWriteError` says so at once (commit the outer unit first).
On PostgreSQL all of this is a no-op: row locks queue and ``readonly`` changes nothing.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from oms_bridge.settings import Settings, check_setting, get_settings

__all__ = ["make_engine", "get_engine", "get_sessionmaker", "session_scope", "shielded", "interrupt", "dispose_engines",
           "readonly_engine",
           "NestedWriteError", "READONLY_OPTION", "pool_capacity", "pool_limit", "scheduler_workers",
           "check_connection_budget", "ConnectionBudgetError", "CONNECTIONS_PER_WORKER",
           "SCHEDULER_CONNECTIONS", "refused_as_readonly"]

#: Execution option marking a connection's transactions read-only (see module doc).
READONLY_OPTION = "oms_readonly"
#: Default SQLite busy timeout (setting ``sqlite_busy_timeout_seconds``): how long a writer queues for
#: the write lock before "database is locked".
SQLITE_BUSY_SECONDS = 30


#: PostgreSQL connections one scheduler worker may hold at once: its job's run lock, the process's own run
#: lock (both held for the whole run) and the unit of work it is writing.
CONNECTIONS_PER_WORKER = 3
#: the scheduler's own connections besides its workers': its round (claims), the reconcile loop, the run
#: heartbeat and a health read.
SCHEDULER_CONNECTIONS = 4


def scheduler_workers(settings: Settings) -> int:
    """The setting ``scheduler_max_workers`` (job threads per process; default 4), range-checked."""
    return int(check_setting("scheduler_max_workers", settings.extra.get("scheduler_max_workers", 4)))


def pool_capacity(settings: Settings, *, http: bool = True, workers: int | None = None) -> int:
    """The most PostgreSQL connections one process may hold at once: one per HTTP thread (``http``), three per
    scheduler worker, and the scheduler's own (issue 18: a pool fixed at 5 + 10 deadlocked 8 workers, each
    holding one lock connection while waiting for its second)."""
    workers = scheduler_workers(settings) if workers is None else workers
    return (settings.http_threads if http else 0) + CONNECTIONS_PER_WORKER * workers + SCHEDULER_CONNECTIONS


class NestedWriteError(RuntimeError):
    """A thread opened a second SQLite write transaction while holding one (it would wait for itself)."""


# Per thread: the SQLite connections that hold an open write transaction (weak: a dropped one vanishes).
_WRITERS = threading.local()


def _open_writers() -> weakref.WeakSet[Connection]:
    writers = getattr(_WRITERS, "conns", None)
    if writers is None:
        writers = _WRITERS.conns = weakref.WeakSet()
    return writers


def _sqlite_begin(conn: Connection, busy_seconds: float) -> None:
    """BEGIN IMMEDIATE (or a query-only deferred BEGIN for read-only units); refuse a nested writer."""
    readonly = bool(conn.get_execution_options().get(READONLY_OPTION))
    info = conn.connection.info  # lives with the DBAPI connection across pool checkouts
    if info.get("query_only") != readonly:
        conn.exec_driver_sql(f"PRAGMA query_only={'ON' if readonly else 'OFF'}")
        info["query_only"] = readonly
    if readonly:
        conn.exec_driver_sql("BEGIN")
        return
    writers = _open_writers()
    busy = [c for c in writers if c is not conn and not c.closed and c.in_transaction()]
    if busy:
        raise NestedWriteError("this thread already holds the SQLite write lock in another transaction; the new one "
                               "would wait for it forever: finish (commit) the outer unit first, or mark the inner "
                               "one read-only")
    _begin_immediate(conn.connection.driver_connection, busy_seconds)
    writers.add(conn)


def _begin_immediate(dbapi_conn: sqlite3.Connection, busy_seconds: float) -> None:
    """``BEGIN IMMEDIATE``, waiting up to ``busy_seconds`` for the write lock.

    SQLite's own busy handler backs off to 100 ms sleeps, so a writer that has waited long polls
    seldom and loses every hand-over to writers that just arrived (they poll after 1, 2, 5 ms): under
    steady load a CLI command starved for many seconds. Here every waiter polls at the same short,
    jittered interval, so the lock goes to whoever is waiting, long waiters included. The interval
    grows with the number of this process's waiters (each poll holds the interpreter lock: fifteen
    threads polling every 2 ms starved the HTTP threads serving reads), keeping the total poll rate
    of a process near one every 2 ms however many threads wait.
    """
    deadline = time.monotonic() + busy_seconds
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    waiting = False
    try:
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            if not waiting:
                waiting = True
                _WAITERS.change(+1)
            time.sleep(random.uniform(0.0005, 0.003) * _WAITERS.count)
    finally:
        if waiting:
            _WAITERS.change(-1)
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")


class _WaiterCount:
    """How many threads of this process wait for SQLite's write lock right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def change(self, delta: int) -> None:
        with self._lock:
            self.count = max(0, self.count + delta)


_WAITERS = _WaiterCount()


def _sqlite_end(conn: Connection) -> None:
    _open_writers().discard(conn)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 30,
                busy_seconds: float = SQLITE_BUSY_SECONDS) -> Engine:
    """Create an engine with the pragmas and pool settings the bridge relies on.

    PostgreSQL: ``pool_size`` + ``max_overflow`` connections at most (:func:`get_engine` raises the overflow
    to :func:`pool_capacity` when the settings ``database_pool_size`` + ``database_max_overflow`` are lower).

    SQLite: ``pool_size`` kept open, no upper bound (a connection to a file costs a file handle; the HTTP
    threads and the scheduler's workers bound how many exist). A bounded pool let fifteen logins that
    queued for the write lock hold every connection, and ``/healthz``, a read, waited for one of them.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_seconds, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=-1, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            # Let the "begin" hook issue BEGIN itself (pysqlite's own is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            _sqlite_begin(conn, busy_seconds)

        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow,
                           hide_parameters=True)
    event.listen(engine, "connect", _utc_session)
    return engine


def _utc_session(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every PostgreSQL test
    """PostgreSQL sessions of the store run in UTC: times come back from the driver as aware UTC, ready to use (a
    page the OMS reads holds about a thousand; :class:`oms_bridge.store.types.UtcDateTime` converts only what is
    not), whatever the server's own ``TimeZone``. Stored values are instants either way."""
    with dbapi_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    dbapi_conn.commit()


_ENGINES_SEEN: list[Engine] = []


@lru_cache(maxsize=8)
def _engine_for(url: str, pool_size: int, max_overflow: int, busy_seconds: float) -> Engine:
    engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow, busy_seconds=busy_seconds)
    _ENGINES_SEEN.append(engine)
    return engine


def _overflow(settings: Settings) -> int:
    return max(settings.database_max_overflow, pool_capacity(settings) - settings.database_pool_size)


def pool_limit(settings: Settings) -> int:
    """How many connections the PostgreSQL pool of :func:`get_engine` opens at most."""
    return settings.database_pool_size + _overflow(settings)


def get_engine(settings: Settings | None = None) -> Engine:
    """The shared engine for the configured database (its transactions are write transactions).

    On PostgreSQL its pool opens up to :func:`pool_capacity` connections (the HTTP threads and the scheduler's
    workers of this process), or more when ``database_pool_size`` + ``database_max_overflow`` say so.
    """
    settings = settings or get_settings()
    return _engine_for(settings.effective_database_url, settings.database_pool_size, _overflow(settings),
                       float(settings.sqlite_busy_timeout_seconds))


class ConnectionBudgetError(RuntimeError):
    """The processes to start could open more PostgreSQL connections than the server accepts."""


def check_connection_budget(settings: Settings, *, processes: int = 1, http: bool = True) -> None:
    """Refuse, before anything starts, a worker and process count whose connections cannot all fit on the
    PostgreSQL server (``max_connections`` minus ``superuser_reserved_connections``); no-op on SQLite.

    The first process serves HTTP (``http``); the others (``processes - 1``) only run jobs.
    """
    if settings.is_sqlite:
        return
    workers = scheduler_workers(settings)
    first = pool_capacity(settings, http=http)
    others = (processes - 1) * pool_capacity(settings, http=False)
    with get_engine(settings).connect() as conn:
        limit = conn.exec_driver_sql("SELECT current_setting('max_connections')::int - "
                                     "current_setting('superuser_reserved_connections')::int").scalar()
    if first + others <= limit:
        return
    parts = [f"{settings.http_threads} HTTP threads"] if http else []
    parts.append(f"{CONNECTIONS_PER_WORKER} × {workers} scheduler workers + {SCHEDULER_CONNECTIONS} for the scheduler")
    if processes > 1:
        parts.append(f"{processes - 1} more worker processes × {pool_capacity(settings, http=False)}")
    raise ConnectionBudgetError(
        f"scheduler_max_workers = {workers} with {processes} process(es) needs up to {first + others} PostgreSQL "
        f"connections ({' + '.join(parts)}), but the server accepts {limit} (max_connections minus "
        "superuser_reserved_connections): lower scheduler_max_workers, the number of processes or http_threads, "
        "or raise max_connections on the server")


def readonly_engine(settings: Settings | None = None) -> Engine:
    """The shared engine (same pool) with its transactions marked read-only (see module doc)."""
    return _binds(get_engine(settings)).readonly


def get_sessionmaker(settings: Settings | None = None, *, readonly: bool = False) -> sessionmaker[Session]:
    """A session factory bound to the configured database (objects stay usable after commit)."""
    binds = _binds(get_engine(settings))
    return binds.readonly_sessions if readonly else binds.sessions


class _Binds:
    """An engine's read-only twin and the session factories of both, made once per engine.

    Why once: ``sessionmaker`` makes a new ``Session`` subclass, and SQLAlchemy sets up its event dispatch for each
    new subclass on first use; made for every unit of work, that setup was half the cost of a short transaction
    (the token check every OMS request runs, issue 18)."""

    def __init__(self, engine: Engine) -> None:
        self.readonly = engine.execution_options(**{READONLY_OPTION: True})
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self.readonly_sessions = sessionmaker(bind=self.readonly, expire_on_commit=False)


_BINDS: weakref.WeakKeyDictionary[Engine, _Binds] = weakref.WeakKeyDictionary()


def _binds(engine: Engine) -> _Binds:
    found = _BINDS.get(engine)
    if found is None:  # two threads may both make one: either is right, one is kept
        found = _BINDS.setdefault(engine, _Binds(engine))
    return found


@contextmanager
def session_scope(settings: Settings | None = None, *, readonly: bool = False,
                  immediate: bool | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error.

    A write transaction by default (SQLite: ``BEGIN IMMEDIATE``, so a read-then-write never meets a
    stale snapshot); ``readonly=True`` for units that only read. ``immediate`` is accepted for callers
    written when the write lock was opt-in; it is the default now and changes nothing.
    On PostgreSQL use ``with_for_update`` for read-modify-write of a contended row.
    """
    del immediate
    session = get_sessionmaker(settings, readonly=readonly)()
    try:
        yield session
        with shielded():
            session.commit()
    except BaseException:
        with shielded():
            session.rollback()
        raise
    finally:
        with shielded():
            session.close()


class _Shield:
    """An exit a signal asked for while the main thread's session commits, rolls back or closes (see
    :func:`shielded`)."""

    depth = 0
    pending: BaseException | None = None


_SHIELD = _Shield()


@contextmanager
def shielded() -> Iterator[None]:
    """Hold back :func:`interrupt` (a signal handler's exit) until this step ends.

    Why: a ``SystemExit`` raised by SIGTERM in the middle of ``Session.commit()`` left SQLAlchemy's session
    half-way, unable to roll back or close; its connection stayed in its transaction, holding SQLite's write
    lock, and recording the run as interrupted then waited for that lock until the busy timeout (30 s): the
    process did not stop. Only the main thread receives signals, so only its steps are held back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _SHIELD.depth += 1
    try:
        yield
    finally:
        _SHIELD.depth -= 1
        if not _SHIELD.depth and _SHIELD.pending is not None:
            exc, _SHIELD.pending = _SHIELD.pending, None
            raise exc


def interrupt(exc: BaseException) -> None:
    """Raise ``exc`` now, or at the end of the :func:`shielded` step under way (call from a signal handler)."""
    if _SHIELD.depth:
        _SHIELD.pending = _SHIELD.pending or exc
        return
    raise exc


def refused_as_readonly(exc: BaseException) -> bool:
    """True when ``exc`` is SQLite refusing a write inside a read-only unit (``PRAGMA query_only``).

    For a read that only sometimes has to write: try it read-only, and on this refusal run it again in a write
    unit (see ``oms_bridge.oms.api.list_orders``)."""
    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and getattr(orig, "sqlite_errorname", "") == "SQLITE_READONLY"


def dispose_engines() -> None:
    """Close every pooled connection (tests and forks)."""
    # lru_cache keeps no public list of its values; dispose via a cache-info-free walk.
    for engine in _ENGINES_SEEN:
        engine.dispose()
    _ENGINES_SEEN.clear()
    _engine_for.cache_clear()
