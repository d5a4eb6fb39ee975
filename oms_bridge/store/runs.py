"""Recording process runs (``oms_process_run``): every GetOrder, RefreshToken and delivery run.

Use :func:`record_run`; it commits a ``running`` row first (so a crashed run is visible), then
writes the outcome, counts, duration and error text in its own transaction at the end::

    with record_run("getorder", channel_id=channel.id) as run:
        run.fetched += 10
        run.outcome = "success"   # default: success, or failed when an exception escapes

An exception escaping the block is recorded (``failed``, its message as ``error_text``) and
re-raised. Counts are plain attributes of a small in-memory object, not the ORM row, so the
process can update them from anywhere without sharing its session.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun, utcnow
from oms_bridge.store.telemetry import observe_run
from platforms.masking import mask_text

__all__ = ["RunStats", "record_run"]

COUNTS = ("fetched", "new", "changed", "unchanged", "held", "sent", "failed", "api_calls")


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
    stats = RunStats(process=process, channel_id=channel_id, started=utcnow())
    stats.details["runner"] = f"{socket.gethostname()}:{os.getpid()}"
    with session_scope(settings) as session:
        row = ProcessRun(process=process, oms_channel_id=channel_id, started=stats.started, outcome="running",
                         ad_client_id=ad_client_id, details_json=json.dumps(stats.details))
        session.add(row)
        session.flush()
        stats.id = row.id
    try:
        yield stats
    except BaseException as exc:
        stats.outcome = "interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failed"
        # Masked: an unexpected exception may quote a URL or body with a token in it.
        stats.error_text = stats.error_text or mask_text(f"{type(exc).__name__}: {exc}")
        _finish(stats, settings)
        raise
    _finish(stats, settings)


def _finish(stats: RunStats, settings: Settings | None) -> None:
    stats.ended = utcnow()
    observe_run(stats.process, stats.duration_seconds or 0.0)
    # IMMEDIATE: this reads the row then writes it; a deferred SQLite transaction would fail at once
    # ("database is locked") when another run commits in between, instead of waiting its turn.
    with session_scope(settings, immediate=True) as session:
        row = session.get(ProcessRun, stats.id)
        if row is None:  # pragma: no cover - the row was deleted under us
            return
        row.ended = stats.ended
        row.outcome = stats.outcome
        row.error_text = stats.error_text
        row.window_from = stats.window_from
        row.window_to = stats.window_to
        for name in COUNTS:
            setattr(row, name, getattr(stats, name))
        row.details_json = json.dumps(stats.details, default=str, ensure_ascii=False)
