"""Pulling orders of one channel into the store: shared by GetOrder and backfill.

:class:`ChannelPuller` holds what one run needs (the bound adapter, the token version it uses, the
run's stats) and does the steps both processes share:

- :meth:`ChannelPuller.prepare`: refuse a channel in ``reauth_required`` (outcome
  ``reauth_required`` with the admin's message, no call), refuse an OAuth channel that was never
  authorized, and refresh a token inside the refresh margin first (single-flight).
- :meth:`ChannelPuller.pull`: read one window from the adapter and upsert it in committed batches
  (:func:`store_orders`). An access token rejected mid-read (:class:`~platforms.base.AuthExpired`)
  triggers one single-flight refresh, guarded by the token version that was rejected, and the window
  is read again (the upsert makes the re-read of already stored orders a no-op).
- :meth:`ChannelPuller.retry_held`: re-reads held orders by id (up to ``HELD_RETRY_LIMIT`` per run) so
  an order held for a cause that has since been fixed is released without waiting for a marketplace edit.
- :meth:`ChannelPuller.guard`: turns platform and configuration errors into the run's outcome and
  error text (``failed`` / ``reauth_required``) instead of a traceback.

:func:`checkpoint` marks points of a run ("fetched", "upserted", "committed", "before_watermark");
it does nothing, and crash-safety tests replace it to interrupt a run exactly there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from channels.binding import BindingError, adapter_for, channel_label, load_channel
from channels.locks import LockLost, RunLock
from channels.tokens import (
    FAILED,
    NOT_AUTHORIZED,
    REAUTH,
    TRANSIENT,
    mark_reauth_required,
    reauth_message,
    refresh_channel_tokens,
)
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel as ChannelRow
from oms_bridge.store.models import Order as OrderRow
from oms_bridge.store.orders import UpsertCounts, upsert_orders
from oms_bridge.store.runs import RunStats
from oms_bridge.store.statistics import refresh_after_load
from oms_bridge.store.telemetry import count_fetched
from oms_bridge.vault import Vault, VaultError
from platforms.base import Adapter, AuthExpired, Order, PermanentError, ReauthRequired, TransientError, UnmappableOrder

__all__ = ["ChannelPuller", "store_orders", "checkpoint", "lock_lost_ends_run", "HELD_RETRY_LIMIT"]

#: Held orders re-read by id per GetOrder run (see :meth:`ChannelPuller.retry_held`).
HELD_RETRY_LIMIT = 50


def checkpoint(name: str) -> None:
    """A named point in a run; does nothing (tests replace it to crash a run right there)."""


def store_orders(items: Iterable[Order | UnmappableOrder], channel_id: int, stats: RunStats, settings: Settings,
                 *, now_fn: Callable[[], datetime], guard: Callable[[], None] | None = None) -> UpsertCounts:
    """Upsert the fetched items in committed batches of ``getorder_batch_size``, counting into ``stats``.

    A load that stored many new orders refreshes the planner's statistics afterwards
    (:func:`oms_bridge.store.statistics.refresh_after_load`, PostgreSQL).

    ``guard`` runs inside each batch transaction right before it commits (the run lock's
    :meth:`~channels.locks.RunLock.check`): when it raises, that batch rolls back and nothing more is written.
    """
    total = UpsertCounts()
    batch: list[Order | UnmappableOrder] = []
    labels: dict[int, str | None] = {}

    def flush() -> None:
        checkpoint("fetched")
        with session_scope(settings) as session:
            counts = upsert_orders(session, channel_id, batch, stats.id, now=now_fn())
            if channel_id not in labels:
                labels[channel_id] = session.scalar(select(ChannelRow.value).where(ChannelRow.id == channel_id))
            checkpoint("upserted")
            if guard is not None:
                guard()
        stats.details["batches"] = stats.details.get("batches", 0) + 1
        checkpoint("committed")
        count_fetched(labels[channel_id] or str(channel_id), len(batch))
        for name in ("new", "changed", "unchanged", "held"):
            setattr(stats, name, getattr(stats, name) + getattr(counts, name))
        total.add(counts)
        batch.clear()

    for item in items:
        stats.fetched += 1
        batch.append(item)
        if len(batch) >= settings.getorder_batch_size:
            flush()
    if batch:
        flush()
    if total.new:  # a bulk load leaves the planner's statistics behind (PostgreSQL)
        analysed = refresh_after_load(settings, total.new)
        if analysed:
            stats.details["analyzed"] = analysed
    return total


@contextmanager
def lock_lost_ends_run(stats: RunStats) -> Iterator[None]:
    """A run that lost its lock stops where it noticed (nothing written after) and says what really happened:
    ``interrupted``, with the batches that did commit - not ``failed`` with a database error."""
    try:
        yield
    except LockLost as exc:
        batches = stats.details.get("batches", 0)
        stats.outcome = "interrupted"
        stats.error_text = (f"{exc} after {batches} batch(es) committed; stopped before writing more (another run "
                            "may have taken over). Nothing is lost: what committed stays, and the next run reads "
                            "again from the last point this one recorded (watermark / backfill checkpoint)")



class ChannelPuller:
    """One run's view of a channel: adapter, token version, stats (see module doc)."""

    def __init__(self, channel_id: int, stats: RunStats, settings: Settings, now_fn: Callable[[], datetime],
                 policy: Any = None, lock: RunLock | None = None):
        self.channel_id = channel_id
        self.lock = lock  # checked before every batch commits (see channels.locks)
        self.stats = stats
        self.settings = settings
        self.now_fn = now_fn
        self.policy = policy
        self.adapter: Adapter | None = None
        self.oauth = False
        self.version = 0
        self.label = str(channel_id)
        self.watermark: datetime | None = None
        self.refresh_calls = 0

    def guard_lock(self) -> None:
        """:class:`~channels.locks.LockLost` when the run lost its lock (call right before a write commits)."""
        if self.lock is not None:
            self.lock.check()

    @property
    def api_calls(self) -> int:
        return (self.adapter.api_calls if self.adapter else 0) + self.refresh_calls

    # -- outcomes ---------------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        self.stats.outcome, self.stats.error_text = "failed", message

    def reauth(self, reason: str) -> None:
        """The platform said the authorization is gone: mark the channel and the run."""
        with session_scope(self.settings) as session:
            channel = load_channel(session, self.channel_id)
            name = self.adapter.display_name if self.adapter else channel.platform.name
            message = reauth_message(name, channel_label(channel), reason)
            mark_reauth_required(session, self.channel_id, message, now=self.now_fn())
        self.stats.outcome, self.stats.error_text = "reauth_required", message

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Platform/configuration errors become the run's outcome; api_calls is always recorded."""
        try:
            yield
        except (BindingError, VaultError) as exc:
            self.fail(f"channel {self.label} cannot be used: {exc}")
        except ReauthRequired as exc:
            self.reauth(str(exc))
        except TransientError as exc:
            self.fail(f"temporary failure, retries exhausted ({exc}); nothing was lost - the next run reads the "
                      "same window again")
        except (PermanentError, AuthExpired) as exc:
            self.fail(str(exc))
        finally:
            self.stats.api_calls = self.api_calls

    # -- steps ------------------------------------------------------------------------------------
    def prepare(self) -> bool:
        """Bind the adapter and make sure the tokens are usable; False (outcome set) when the run must stop."""
        vault = Vault.from_settings(self.settings)
        with session_scope(self.settings, readonly=True) as session:
            channel = load_channel(session, self.channel_id)
            self.label, state, message = channel_label(channel), channel.auth_state, channel.auth_message
            self.watermark, self.version = channel.order_watermark, channel.token_version
            self.adapter = adapter_for(channel, vault, policy=self.policy, clock=self.now_fn, session=session)
            self.oauth = self.adapter.uses_oauth
        if state == "reauth_required":
            self.stats.outcome = "reauth_required"
            self.stats.error_text = message or (f"channel {self.label} needs re-authorization: run "
                                                f"`oms-bridge channel authorize {self.label}`")
            return False
        if not self.oauth:
            return True
        if self.adapter.tokens is None:
            self.stats.outcome = "skipped"
            self.stats.error_text = (f"channel {self.label} is not authorized yet: run "
                                     f"`oms-bridge channel authorize {self.label}`")
            return False
        margin = timedelta(minutes=self.settings.refresh_margin_minutes)
        if self.adapter.tokens.expires_within(self.now_fn(), margin):
            return self._refresh(force=False)
        return True

    def pull(self, since: datetime, until: datetime) -> bool:
        """Read ``[since, until)`` into the store; False (outcome set) when the run must stop."""
        retried = False
        while True:
            try:
                store_orders(self.adapter.fetch_orders(since, until), self.channel_id, self.stats, self.settings,
                             now_fn=self.now_fn, guard=self.guard_lock)
                return True
            except AuthExpired:
                if retried or not self.oauth:
                    raise
                retried = True
                self.stats.details["auth_retry"] = self.stats.details.get("auth_retry", 0) + 1
                if not self._refresh(force=True):
                    return False

    def retry_held(self, limit: int = HELD_RETRY_LIMIT) -> None:
        """Re-read held orders by id, so a fixed cause (mapping, payload) releases them without a marketplace edit.

        At most ``limit`` per run (one batched ``get_orders`` call on most platforms). Orders held
        without an external id cannot be re-read; a failing re-read is noted and never fails the run.
        """
        with session_scope(self.settings, readonly=True) as session:
            ids = session.scalars(
                select(OrderRow.external_id)
                .where(OrderRow.oms_channel_id == self.channel_id, OrderRow.is_held.is_(True),
                       ~OrderRow.external_id.startswith("unmappable-"))
                .order_by(OrderRow.id).limit(limit)).all()
        if not ids:
            return
        try:
            items = self.adapter.get_orders(list(ids))
        except (TransientError, PermanentError) as exc:
            self.stats.details["held_retry_error"] = str(exc)
            return
        released_before = self.stats.changed
        store_orders(items, self.channel_id, self.stats, self.settings, now_fn=self.now_fn, guard=self.guard_lock)
        self.stats.details["held_retried"] = len(ids)
        self.stats.details["held_changed"] = self.stats.changed - released_before

    def _refresh(self, *, force: bool) -> bool:
        """Single-flight refresh; on success the adapter uses the committed new tokens."""
        result = refresh_channel_tokens(self.channel_id, settings=self.settings, clock=self.now_fn, force=force,
                                        policy=self.policy, if_version=self.version if force else None)
        self.refresh_calls += result.api_calls
        self.stats.details.setdefault("refresh", []).append(result.outcome)
        if result.outcome == REAUTH:
            self.stats.outcome, self.stats.error_text = "reauth_required", result.message
            return False
        if result.outcome in (NOT_AUTHORIZED, FAILED) or (result.outcome == TRANSIENT and force):
            self.fail(result.message)
            return False
        if result.tokens is not None and result.outcome != TRANSIENT:
            self.adapter.set_tokens(result.tokens)
            self.version = result.token_version
        return True
