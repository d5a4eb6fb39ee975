"""GetOrder: pull new and changed orders of one channel into the store, never losing or doubling one.

One run (:func:`run_getorder`):

1. Takes the per-channel run lock (:mod:`channels.locks`); if another GetOrder of the channel runs,
   this one is recorded as ``skipped``.
2. A channel in ``reauth_required`` ends as outcome ``reauth_required`` with the admin's message
   (no call, no obscure failure); a token inside the refresh margin is refreshed first
   (single-flight) - see :class:`channels.pulling.ChannelPuller`.
3. Window: ``(watermark − overlap) → (run start − lag)``; first run: ``run start − initial lookback``.
   Settings: ``getorder_overlap_minutes`` (default 10), ``getorder_lag_seconds`` (30; orders written
   on the marketplace in the last seconds may not be listed yet), ``getorder_initial_lookback_minutes``
   (1440 = 1 day). The adapter splits the window as its API needs (Shopee 15 days, momo 2 months)
   and pages/batches itself.
4. Orders are upserted in batches of ``getorder_batch_size`` (200), each its own committed
   transaction (:func:`oms_bridge.store.orders.upsert_orders`: unique-key upsert, an unchanged
   re-read is a no-op, unmappable orders are held while the rest flow).
5. The watermark moves to the window end only after every batch of the window committed, and never
   backwards. Orders arrive in no guaranteed time order, so it is not advanced per batch. A crash
   anywhere leaves it where it was: the next run re-reads the window and the upsert turns the
   re-read into no-ops - every order exactly once, in its latest state.
6. An access token rejected mid-run triggers one single-flight refresh and the window is read again.
7. Afterwards, held orders (with an id) are re-read by id - up to 50 per run - so a held order whose
   cause was fixed is released without waiting for the marketplace to change it.
8. Token warnings (:func:`channels.tokens.token_warnings`) go into the run's ``details.warnings``.
9. Credentials the marketplace rejects mark the channel ``auth_state='error'`` with the fix; the next
   run that gets through sets it back to ``active``.

Counts on the ``oms_process_run`` row: fetched / new / changed / unchanged / held / api_calls.
Outcome ``partial`` when new or changed orders were held; ``failed`` with the error text when a
platform error survived the retries (the watermark stays; the next run retries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update

from channels import pulling
from channels.binding import inactive_reason, load_channel, require_channel
from channels.locks import channel_run_lock
from channels.pulling import ChannelPuller, lock_lost_ends_run
from channels.tokens import token_warnings
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, utcnow
from oms_bridge.store.runs import RunStats, record_run
from platforms.base import CredentialsInvalid

__all__ = ["run_getorder", "getorder_window", "advance_watermark"]


def getorder_window(watermark: datetime | None, run_start: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The window a run reads: (watermark − overlap, or start − lookback) → (start − lag)."""
    until = run_start - timedelta(seconds=settings.getorder_lag_seconds)
    if watermark is None:
        since = run_start - timedelta(minutes=settings.getorder_initial_lookback_minutes)
    else:
        since = watermark - timedelta(minutes=settings.getorder_overlap_minutes)
    return since, until


def advance_watermark(settings: Settings, channel_id: int, until: datetime,
                      guard: Callable[[], None] | None = None) -> None:
    """Move the channel's watermark forward to ``until`` (never backwards), in its own transaction
    (``guard``, the run lock's check, runs right before it commits)."""
    with session_scope(settings) as session:
        session.execute(update(Channel)
                        .where(Channel.id == channel_id,
                               or_(Channel.order_watermark.is_(None), Channel.order_watermark < until))
                        .values(order_watermark=until).execution_options(synchronize_session=False))
        if guard is not None:
            guard()


def run_getorder(channel_id: int, *, settings: Settings | None = None, clock: Callable[[], datetime] | None = None,
                 policy: Any = None) -> RunStats:
    """One GetOrder run for a channel, recorded on ``oms_process_run`` (see module doc)."""
    settings = settings or get_settings()
    now_fn = clock or utcnow
    require_channel(settings, channel_id)  # ChannelNotFound, not a foreign-key error on the run row
    with record_run("getorder", channel_id=channel_id, settings=settings) as stats:
        refused = inactive_reason(settings, channel_id)
        if refused:
            stats.outcome, stats.error_text = "skipped", refused
            return stats
        with channel_run_lock(settings, "getorder", channel_id) as lock:
            if not lock:
                stats.outcome = "skipped"
                stats.error_text = "another GetOrder run of this channel is in progress; skipped"
                return stats
            run_start = now_fn()
            puller = ChannelPuller(channel_id, stats, settings, now_fn, policy, lock=lock)
            with lock_lost_ends_run(stats), puller.guard(), _credential_state(settings, channel_id, stats):
                if not puller.prepare():
                    return stats
                since, until = getorder_window(puller.watermark, run_start, settings)
                stats.window_from, stats.window_to = since, until
                if since >= until:
                    stats.details["note"] = "empty window"
                    return stats
                if not puller.pull(since, until):
                    return stats
                pulling.checkpoint("before_watermark")
                advance_watermark(settings, channel_id, until, guard=lock.check)
                held_before = stats.held
                puller.retry_held()
                stats.held = held_before  # re-read held orders are not "newly held"
                _record_warnings(settings, channel_id, stats, now_fn)
                if stats.held and (stats.new or stats.changed):
                    stats.outcome = "partial"
                    stats.details["held_note"] = f"{stats.held} order(s) held; see `oms-bridge orders list --held`"
    return stats


@contextmanager
def _credential_state(settings: Settings, channel_id: int, stats: RunStats) -> Iterator[None]:
    """Keep ``auth_state`` honest: the marketplace rejecting the credentials mid-run marks the channel
    ``error`` with what to do (the dashboard and ``channel list`` showed "active" while every run failed);
    a run that got through clears an earlier ``error``. The exception still ends the run as ``failed``."""
    try:
        yield
    except CredentialsInvalid as exc:
        with session_scope(settings) as session:
            label = load_channel(session, channel_id).value
            session.execute(update(Channel).where(Channel.id == channel_id).values(
                auth_state="error", auth_message=(
                    f"the marketplace rejected the credentials of channel {label} ({exc}); correct them "
                    f"(oms-bridge channel update {label} --credential KEY, or the platform's app secret) and "
                    f"run `oms-bridge channel authorize {label}`")).execution_options(synchronize_session=False))
        raise
    if stats.outcome not in ("success", "partial"):
        return
    with session_scope(settings) as session:
        session.execute(update(Channel).where(Channel.id == channel_id, Channel.auth_state == "error")
                        .values(auth_state="active", auth_message=None).execution_options(synchronize_session=False))


def _record_warnings(settings: Settings, channel_id: int, stats: RunStats, now_fn: Callable[[], datetime]) -> None:
    with session_scope(settings, readonly=True) as session:
        warnings = token_warnings(load_channel(session, channel_id), now_fn(), settings=settings)
    if warnings:
        stats.details["warnings"] = warnings
