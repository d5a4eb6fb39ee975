"""Backfill: read a channel's orders over a past date range, resumably, beside the scheduler.

:func:`run_backfill` walks ``[since, until)`` in windows (default one day; the adapter splits further
as its API needs) and records its checkpoint on an ``oms_backfill`` row after each window commits.
Started again with the same start after an interruption (Ctrl-C, SIGTERM, crash, a platform failure),
it resumes at the checkpoint instead of starting over - also without ``--until`` (whose end, "now",
moves on between runs) and with another window size (windows restart at the checkpoint).

Why it is safe beside the scheduler's GetOrder: it uses the same upsert (unique (channel, external
id) key, unchanged re-read is a no-op) so an order both read is still stored once; it never touches
the GetOrder watermark; it takes its own per-channel lock (``backfill``), so two backfills of one
channel don't run at once, but GetOrder keeps running. Token refreshes are single-flight as everywhere.

Dates given on the command line are calendar days in Asia/Taipei (the merchants' day): ``--since
2026-03-01`` starts at 2026-03-01 00:00 Taipei (= 2026-02-28 16:00 UTC); ``--until`` is inclusive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from channels.binding import inactive_reason, require_channel
from channels.locks import channel_run_lock
from channels.pulling import ChannelPuller, lock_lost_ends_run
from channels.tokens import TAIPEI
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import utcnow
from oms_bridge.store.models.backfill import Backfill
from oms_bridge.store.runs import RunStats, record_run

__all__ = ["run_backfill", "taipei_day_start", "backfill_range", "DEFAULT_WINDOW"]

DEFAULT_WINDOW = timedelta(days=1)


def taipei_day_start(day: date) -> datetime:
    """00:00 of a Taipei calendar day, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=TAIPEI).astimezone(UTC)


def backfill_range(since: date, until: date | None, now: datetime) -> tuple[datetime, datetime]:
    """``[since 00:00 Taipei, day after until 00:00 Taipei)``, capped at now; until defaults to now."""
    start = taipei_day_start(since)
    end = taipei_day_start(until + timedelta(days=1)) if until else now
    return start, min(end, now)


def _windows(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    while start < end:
        out.append((start, min(start + size, end)))
        start = out[-1][1]
    return out


def _checkpoint_row(settings: Settings, channel_id: int, since: datetime, until: datetime,
                    window: timedelta, run_id: int | None) -> tuple[int, datetime, bool]:
    """The unfinished backfill of this range (resume), or a new one. Returns (id, next_start, resumed).

    Same start and an end at or before ``until``: without ``--until`` the end is "now", which is later
    on every run, so an exact match never resumed anything. The resumed row's end moves to ``until``.
    """
    with session_scope(settings) as session:
        row = session.scalars(select(Backfill).where(Backfill.oms_channel_id == channel_id, Backfill.since == since,
                                                     Backfill.until <= until, Backfill.state != "done")
                              .order_by(Backfill.id.desc())).first()
        resumed = row is not None
        if row is not None:
            row.until = until
        if row is None:
            row = Backfill(oms_channel_id=channel_id, since=since, until=until, next_start=since,
                           window_minutes=int(window.total_seconds() // 60))
            session.add(row)
        row.state, row.last_error, row.oms_process_run_id = "running", None, run_id
        session.flush()
        return row.id, row.next_start, resumed


def _save_checkpoint(settings: Settings, backfill_id: int, next_start: datetime, delta: dict[str, int]) -> None:
    with session_scope(settings) as session:
        row = session.get(Backfill, backfill_id)
        row.next_start = next_start
        for name, value in delta.items():
            setattr(row, name, getattr(row, name) + value)


def _finish(settings: Settings, backfill_id: int, state: str, error: str | None) -> None:
    with session_scope(settings) as session:
        row = session.get(Backfill, backfill_id)
        row.state, row.last_error = state, error


def run_backfill(channel_id: int, since: datetime, until: datetime, *, settings: Settings | None = None,
                 clock: Callable[[], datetime] | None = None, policy: Any = None, window: timedelta = DEFAULT_WINDOW,
                 progress: Callable[[int, int], None] | None = None) -> RunStats:
    """Backfill ``[since, until)`` (aware UTC) for a channel; resumes an unfinished run of the same range.

    ``progress(done_windows, total_windows)`` is called after each committed window (CLI progress bar).
    """
    settings = settings or get_settings()
    now_fn = clock or utcnow
    require_channel(settings, channel_id)  # ChannelNotFound, not a foreign-key error on the run row
    with record_run("backfill", channel_id=channel_id, settings=settings) as stats:
        refused = inactive_reason(settings, channel_id)
        if refused:
            stats.outcome, stats.error_text = "skipped", refused
            return stats
        stats.window_from, stats.window_to = since, until
        with channel_run_lock(settings, "backfill", channel_id) as lock:
            if not lock:
                stats.outcome = "skipped"
                stats.error_text = "another backfill of this channel is in progress; skipped"
                return stats
            backfill_id, next_start, resumed = _checkpoint_row(settings, channel_id, since, until, window, stats.id)
            stats.details.update(backfill_id=backfill_id, resumed_from=next_start.isoformat() if resumed else None)
            # Windows start at the checkpoint, not on a grid from ``since``: a resume with another
            # --window-days would otherwise skip the part of a window before the checkpoint's grid line.
            done = len(_windows(since, next_start, window))
            todo = _windows(next_start, until, window)
            total = done + len(todo)
            if progress:
                progress(done, total)
            puller = ChannelPuller(channel_id, stats, settings, now_fn, policy, lock=lock)
            with lock_lost_ends_run(stats), puller.guard():
                if puller.prepare():
                    for w_start, w_end in todo:
                        before = {n: getattr(stats, n) for n in ("fetched", "new", "changed", "held")}
                        if not puller.pull(w_start, w_end):
                            break
                        puller.guard_lock()
                        _save_checkpoint(settings, backfill_id, w_end,
                                         {n: getattr(stats, n) - v for n, v in before.items()})
                        done += 1
                        if progress:
                            progress(done, total)
            stats.details["windows"] = f"{done}/{total}"
            if stats.outcome in ("failed", "reauth_required", "skipped", "interrupted"):
                _finish(settings, backfill_id, "failed", stats.error_text)
            else:
                _finish(settings, backfill_id, "done", None)
    return stats
