"""Recording process runs (``oms_process_run``): every GetOrder, RefreshToken and delivery run.

Use :func:`record_run`; it commits a ``running`` row first (so a crashed run is visible), then
writes the outcome, counts, duration and error text in its own transaction at the end::

    with record_run("getorder", channel_id=channel.id) as run:
        run.fetched += 10
        run.outcome = "success"   # default: success, or failed when an exception escapes

An exception escaping the block is recorded (``failed``, with :func:`~oms_bridge.store.errors.describe_error`
as ``error_text``: a classified sentence, never SQL parameters) and re-raised. Counts are plain
attributes of a small in-memory object, not the ORM row, so the process can update them from anywhere
without sharing its session.

Lost runs: a run killed with ``kill -9``, a crash or a host that vanished leaves its row ``running``
forever. While a run is live, one thread per process (:class:`_HeartbeatPump`) refreshes the
``heartbeat`` of every live run row of that process every ``run_heartbeat_seconds`` (default 30); a
``running`` row whose heartbeat is older than ``run_lost_after_seconds`` (default 180) belongs to a run
that died, whatever host it ran on. :func:`effective_outcome` is the one place that decides it (the CLI,
the web admin and ``/metrics`` all use it or :func:`lost_clause`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, update

from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.store.models import ProcessRun, utcnow
from oms_bridge.store.telemetry import observe_run

__all__ = ["RunStats", "record_run", "effective_outcome", "lost_clause", "LOST"]

COUNTS = ("fetched", "new", "changed", "unchanged", "held", "sent", "failed", "api_calls")
#: The outcome shown for a `running` row whose run died (never stored; see :func:`effective_outcome`).
LOST = "lost"

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    """What a run did, filled in by the process while it works."""

    process: str
    channel_id: int | None
    id: int | None = None
    started: datetime | None = None
    ended: datetime | None = None
    outcome: str = "success"
    error_text: str | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    held: int = 0
    sent: int = 0
    failed: int = 0
    api_calls: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if self.started and self.ended:
            return (self.ended - self.started).total_seconds()
        return None


@contextmanager
def record_run(process: str, *, channel_id: int | None = None, settings: Settings | None = None,
               ad_client_id: int = 0) -> Iterator[RunStats]:
    """Write a ``running`` row, yield the stats, then store the outcome (see module doc)."""
    settings = settings or get_settings()
    stats = RunStats(process=process, channel_id=channel_id, started=utcnow())
    stats.details["runner"] = f"{socket.gethostname()}:{os.getpid()}"
    with session_scope(settings) as session:
        row = ProcessRun(process=process, oms_channel_id=channel_id, started=stats.started, outcome="running",
                         heartbeat=stats.started, ad_client_id=ad_client_id, details_json=json.dumps(stats.details))
        session.add(row)
        session.flush()
        stats.id = row.id
    _PUMP.add(settings, stats.id)
    try:
        yield stats
    except BaseException as exc:
        stats.outcome = "interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failed"
        # Classified, never str(exc): a database error quotes its SQL parameters (buyers' personal data),
        # any other may quote a URL or body with a token in it.
        stats.error_text = stats.error_text or describe_error(exc)
        _finish(stats, settings)
        raise
    _finish(stats, settings)


def _finish(stats: RunStats, settings: Settings) -> None:
    _PUMP.discard(settings, stats.id)
    stats.ended = utcnow()
    observe_run(stats.process, stats.duration_seconds or 0.0)
    # A write transaction (SQLite: the lock at BEGIN): this reads the row then writes it.
    with session_scope(settings) as session:
        row = session.get(ProcessRun, stats.id)
        if row is None:  # pragma: no cover - the row was deleted under us
            return
        row.ended = stats.ended
        row.heartbeat = stats.ended
        row.outcome = stats.outcome
        row.error_text = stats.error_text
        row.window_from = stats.window_from
        row.window_to = stats.window_to
        for name in COUNTS:
            setattr(row, name, getattr(stats, name))
        row.details_json = json.dumps(stats.details, default=str, ensure_ascii=False)


# ------------------------------------------------------------------------------------------ lost runs
def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back what UtcDateTime stored
        value = value.replace(tzinfo=UTC)
    return value


def effective_outcome(run: ProcessRun, settings: Settings, now: datetime | None = None) -> str:
    """The outcome to show: the stored one, or :data:`LOST` for a ``running`` row whose run died.

    Dead means: its heartbeat (or, for rows written before heartbeats, its start) is older than
    ``run_lost_after_seconds`` - true on any host. On the runner's own host a run whose process is gone
    is lost at once (no need to wait for the heartbeat to age).
    """
    if run.outcome != "running":
        return run.outcome
    now = now or utcnow()
    last = _aware(run.heartbeat) or _aware(run.started)
    if last is not None and now - last > timedelta(seconds=settings.run_lost_after_seconds):
        return LOST
    return LOST if _runner_gone_here(run) else run.outcome


def lost_clause(settings: Settings, now: datetime | None = None) -> ColumnElement[bool]:
    """SQL condition for rows :func:`effective_outcome` calls lost by their heartbeat (for counting)."""
    cutoff = (now or utcnow()) - timedelta(seconds=settings.run_lost_after_seconds)
    return and_(ProcessRun.outcome == "running", func.coalesce(ProcessRun.heartbeat, ProcessRun.started) < cutoff)


def _runner_gone_here(run: ProcessRun) -> bool:
    try:
        runner = str(json.loads(run.details_json or "{}").get("runner") or "")
    except ValueError:
        return False
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run: its heartbeat decides
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's process
    return False


class _HeartbeatPump:
    """One daemon thread per process that refreshes the heartbeat of this process's live run rows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, tuple[Settings, set[int]]] = {}  # database URL -> (settings, run ids)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, settings: Settings, run_id: int | None) -> None:
        if run_id is None:
            return
        with self._lock:
            key = settings.effective_database_url
            self._live.setdefault(key, (settings, set()))[1].add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="run-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, settings: Settings, run_id: int | None) -> None:
        with self._lock:
            entry = self._live.get(settings.effective_database_url)
            if entry is not None:
                entry[1].discard(run_id)
                if not entry[1]:
                    del self._live[settings.effective_database_url]

    def _loop(self) -> None:
        while True:
            with self._lock:
                targets = [(settings, sorted(ids)) for settings, ids in self._live.values() if ids]
            period = min((t[0].run_heartbeat_seconds for t in targets), default=30)
            self._wake.wait(period)
            for settings, ids in targets:
                try:
                    with session_scope(settings) as session:
                        session.execute(update(ProcessRun)
                                        .where(ProcessRun.id.in_(ids), ProcessRun.outcome == "running")
                                        .values(heartbeat=utcnow()).execution_options(synchronize_session=False))
                except Exception as exc:  # noqa: BLE001 - the next beat retries; a dead store is reported elsewhere
                    log.warning("could not refresh the heartbeat of runs %s: %s", ids, type(exc).__name__)


_PUMP = _HeartbeatPump()
