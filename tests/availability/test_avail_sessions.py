"""The session rules of :mod:`oms_bridge.store.db`: write transactions take SQLite's write lock at BEGIN
(also on connections the job store and Alembic open on the shared engine), read-only units never wait
and cannot write, and a nested write transaction fails at once instead of waiting for itself."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text, update

from oms_bridge.settings import Settings
from oms_bridge.store.db import NestedWriteError, get_engine, session_scope
from oms_bridge.store.models import Channel


def test_read_only_unit_cannot_write_and_never_waits_for_a_writer(sqlite_settings: Settings) -> None:
    with session_scope(sqlite_settings) as writer:  # holds the write lock (BEGIN IMMEDIATE)
        writer.execute(text("SELECT 1"))
        done = threading.Event()

        def reader() -> None:
            with session_scope(sqlite_settings, readonly=True) as s:
                s.execute(select(Channel.id)).all()
            done.set()
        threading.Thread(target=reader, daemon=True).start()
        assert done.wait(5), "a read-only unit waited for the writer"
    with pytest.raises(Exception, match="readonly"), session_scope(sqlite_settings, readonly=True) as s:
        s.execute(update(Channel).values(name="x"))


def test_a_nested_write_transaction_fails_at_once_instead_of_waiting_for_itself(sqlite_settings: Settings) -> None:
    with session_scope(sqlite_settings) as outer:
        outer.execute(text("SELECT 1"))
        with pytest.raises(NestedWriteError), session_scope(sqlite_settings) as inner:
            inner.execute(text("SELECT 1"))
        with session_scope(sqlite_settings, readonly=True) as reader:  # reading beside it is fine
            reader.execute(text("SELECT 1"))


def test_job_store_and_migrations_take_the_write_lock_up_front(sqlite_settings: Settings) -> None:
    """Connections opened on the shared engine by APScheduler's job store or Alembic begin IMMEDIATE too:
    while one holds the lock, a second writer queues (here: times out quickly) instead of racing."""
    engine = get_engine(sqlite_settings)
    seen: list[str] = []
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        seen.append(str(conn.exec_driver_sql("PRAGMA query_only").scalar()))
        probe_done = threading.Event()
        probe: list[str] = []

        def second_writer() -> None:
            import sqlite3
            raw = sqlite3.connect(engine.url.database, timeout=0.2, isolation_level=None)
            try:
                raw.execute("BEGIN IMMEDIATE")
                probe.append("got the lock")
                raw.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                probe.append(str(exc))
            finally:
                raw.close()
                probe_done.set()
        threading.Thread(target=second_writer, daemon=True).start()
        assert probe_done.wait(5)
        conn.rollback()
    assert seen == ["0"] and probe == ["database is locked"]  # the plain engine connection held the write lock


def test_units_of_work_share_their_engine_and_session_class(store_settings: Settings) -> None:
    """The session factories are made once per engine (issue 18): ``sessionmaker`` makes a new ``Session`` subclass
    and SQLAlchemy set up its event dispatch for each one, half the cost of a short transaction when every unit of
    work made its own. Read-only units keep their own factory, on the same pool, and stay read-only."""
    kinds = {}
    for readonly in (False, True, False, True):
        with session_scope(store_settings, readonly=readonly) as s:
            s.execute(text("SELECT 1"))
            kinds.setdefault(readonly, set()).add((type(s), s.get_bind()))
    assert all(len(seen) == 1 for seen in kinds.values())
    (write_class, write_bind), = kinds[False]
    (read_class, read_bind), = kinds[True]
    assert write_bind is get_engine(store_settings) and read_bind.pool is write_bind.pool
    assert read_bind.get_execution_options() != write_bind.get_execution_options()
