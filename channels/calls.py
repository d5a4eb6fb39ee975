"""Marketplace-call destinations: outbox rows whose delivery is one call to the order's marketplace.

Two destinations use it: logistics push-back (:mod:`channels.logistics`, ``Adapter.ship``) and cancellation
answers (:mod:`channels.cancel_answers`, ``Adapter.answer_cancel_request``). A destination
(:class:`CallDestination`) says how to load a leased row, how to call and what to record; this module runs the
batches, binds the adapters, sorts the marketplace's errors into outcomes and writes them on the rows.

Three phases per batch, so no marketplace call ever runs inside a store transaction (on SQLite that would hold
the file's write lock through slow HTTP calls and stall GetOrder, the webhooks and the admin pages; on
PostgreSQL it would hold row locks during I/O):

1. a short transaction leases the due rows (:func:`oms_bridge.store.outbox.lease_due`, the outbox's one claim
   mechanism: SQLite BEGIN IMMEDIATE, PostgreSQL FOR UPDATE SKIP LOCKED) and loads what the call needs as plain
   data (:meth:`CallDestination.load`); rows that need no call are decided right there;
2. the marketplace calls (:meth:`CallDestination.call`), with no store transaction open; no call starts for a row
   whose lease is (nearly) over (:func:`must_stop`), because another worker may own the row by then;
3. a short transaction records: first what the marketplace did, whatever became of the lease
   (:meth:`CallDestination.record`: a push it accepted, an answer it took, is never sent twice), then the row's
   outcome, only while this run's lease still holds (:func:`~oms_bridge.store.outbox.leased_row`).

Outcomes of a call (:func:`failed` sorts the errors): ``sent``; ``held`` (the admin must act: refused by the
marketplace, re-authorization required, bad binding); ``waiting`` (nothing to do until the marketplace changes);
``later`` (not yet, look again at ``job.until``; no attempt counted); ``retry`` (network, 5xx, rate limit: backoff,
``dead`` after ``Settings.delivery_max_attempts``); ``refresh`` (access token rejected: refreshed once,
single-flight, after the batch commits, and the row is tried again in the same run); ``unknown`` (a state-changing
call whose answer was lost, :class:`~platforms.base.OutcomeUnknown`: retried with hold code
:data:`OUTCOME_UNKNOWN`, and the destination reads the marketplace's state before sending anything again).
A worker that dies mid-batch leaves its rows leased; they fall due again when the lease ends.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.binding import BindingError, adapter_for, channel_label, load_channel
from channels.tokens import refresh_channel_tokens
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.store.models import Channel, Delivery, Order, OrderLine, utcnow
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import Vault, VaultError
from platforms.base import (
    CANONICAL_STATUSES,
    Adapter,
    Address,
    AuthExpired,
    Buyer,
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from platforms.base import Order as CanonicalOrder
from platforms.base import OrderLine as CanonicalLine

__all__ = ["CallDestination", "CallRun", "CallJob", "run_destination", "canonical_order", "failed", "must_stop",
           "OUTCOME_UNKNOWN", "held"]

log = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 1000
#: hold code a row keeps while it waits to be tried again after a lost answer: read the state first
OUTCOME_UNKNOWN = "outcome_unknown"


def canonical_order(order: Order, lines: list[OrderLine], channel_value: str) -> CanonicalOrder:
    """The stored order as the contract's canonical Order (what the adapter's calls take). Pure."""
    try:
        raw = json.loads(order.raw_payload) if order.raw_payload else {}
    except ValueError:
        raw = {}
    created = order.order_created or order.created
    return CanonicalOrder(
        external_id=order.external_id,
        status=order.status if order.status in CANONICAL_STATUSES else "paid",
        platform_status=order.platform_status or "", created_at=created, updated_at=order.order_updated or created,
        currency=order.currency or "", total=order.total_amount, paid_at=order.paid_at,
        lines=tuple(CanonicalLine(sku=ln.sku, name=ln.name, qty=ln.qty, unit_price=ln.unit_price,
                                  discount=ln.discount if ln.discount is not None else Decimal(0),
                                  external_line_id=ln.external_line_id)
                    for ln in lines),
        payment_method=order.payment_method,
        buyer=Buyer(id=order.buyer_id, name=order.buyer_name, email=order.buyer_email, phone=order.buyer_phone),
        shipping_address=Address(name=order.ship_name, phone=order.ship_phone, country=order.ship_country,
                                 state=order.ship_state, city=order.ship_city, district=order.ship_district,
                                 zip=order.ship_zip, line1=order.ship_address1, line2=order.ship_address2),
        raw=raw if isinstance(raw, dict) else {}, channel=channel_value,
    )


@dataclass
class CallRun:
    """One run of a destination: settings, counts, the adapters bound so far, tokens to refresh."""

    settings: Settings
    stats: RunStats
    now: datetime | None
    policy: Any
    clock: Callable[[], datetime] | None
    vault: Vault | None = None
    adapters: dict[int, Adapter] = field(default_factory=dict)
    # channel id -> token version whose access token was rejected (refresh after the batch)
    expired: dict[int, int] = field(default_factory=dict)
    refreshed: set[int] = field(default_factory=set)

    def count(self, key: str) -> None:
        self.stats.details[key] = self.stats.details.get(key, 0) + 1

    def adapter(self, session: Session, channel_id: int) -> Adapter:
        """The channel's adapter, bound once per run (dropped only by a token refresh)."""
        if channel_id not in self.adapters:
            if self.vault is None:
                self.vault = Vault.from_settings(self.settings)
            channel = load_channel(session, channel_id)
            self.adapters[channel_id] = adapter_for(channel, self.vault, policy=self.policy, clock=self.clock,
                                                    session=session)
        return self.adapters[channel_id]


@dataclass
class CallJob:
    """One leased row between the phases: what the call needs (phase 1) and what happened (phase 2)."""

    lease: outbox.Lease
    order_id: int
    external_id: str
    channel_id: int
    label: str
    platform_type: str
    token_version: int
    canonical: CanonicalOrder
    # outcome: sent | held | waiting | later | retry | refresh | unknown | None (lease ran out: leave the row)
    outcome: str | None = None
    message: str = ""
    code: str = ""
    retry_after: float | None = None
    until: datetime | None = None
    external_ref: str | None = None

    @property
    def after_lost_answer(self) -> bool:
        """The previous attempt's answer was lost: read the marketplace's state before sending anything."""
        return self.lease.row.hold_code == OUTCOME_UNKNOWN


class CallDestination(abc.ABC):
    """One marketplace-call destination (module doc): its outbox name, process name, lease, three hooks."""

    destination: ClassVar[str]
    process: ClassVar[str]
    #: config.toml key of the lease length, and its default (seconds)
    lease_setting: ClassVar[str]
    default_lease_seconds: ClassVar[float] = 300.0

    @abc.abstractmethod
    def load(self, session: Session, lease: outbox.Lease, run: CallRun) -> CallJob | None:
        """Phase 1: the job for a leased row, or None when the row was decided here (marked on ``lease.row``)."""

    @abc.abstractmethod
    def call(self, job: CallJob, run: CallRun) -> None:
        """Phase 2: the marketplace call(s); set ``job.outcome`` (no store access)."""

    def record(self, session: Session, job: CallJob, run: CallRun) -> None:  # noqa: B027 - optional hook
        """Phase 3, before the row's outcome: what the marketplace did, recorded whatever became of the lease."""

    def bind(self, session: Session, lease: outbox.Lease, run: CallRun, job_type: type[CallJob] = CallJob,
             **extra: Any) -> CallJob | None:
        """A job for the row's order with its adapter bound; a channel that cannot be bound holds the row."""
        order = session.get(Order, lease.row.oms_order_id)
        channel: Channel = load_channel(session, order.oms_channel_id)
        label = channel_label(channel)
        try:
            run.adapter(session, channel.id)
        except (BindingError, VaultError) as exc:
            held(run, lease.row, f"channel {label}: {exc}", f"binding:{label}")
            return None
        lines = list(session.scalars(select(OrderLine).where(OrderLine.oms_order_id == order.id)
                                     .order_by(OrderLine.line_no)))
        return job_type(lease=lease, order_id=order.id, external_id=order.external_id, channel_id=channel.id,
                        label=label, platform_type=channel.platform.platform_type,
                        token_version=channel.token_version, canonical=canonical_order(order, lines, label), **extra)


def held(run: CallRun, row: Delivery, reason: str, code: str) -> None:
    """Hold a row (phase 1 or 3) with the sentence the admin reads."""
    outbox.mark_held(row, reason, code=code)
    run.stats.held += 1
    log.warning("%s: order %s held: %s", row.destination, row.oms_order_id, reason)


def must_stop(job: CallJob, run: CallRun) -> bool:
    """True when no further call may start for this job: its lease is (nearly) over, or the channel's token is
    being refreshed (the row is then tried again after the refresh)."""
    if job.lease.expired():
        log.warning("%s: lease of order %s ran out; its next lease goes on", job.lease.row.destination, job.order_id)
        run.count("lease_ran_out")
        return True
    if job.channel_id in run.expired:
        job.outcome, job.message = "refresh", "access token expired; refreshing"
        return True
    return False


def failed(job: CallJob, run: CallRun, exc: PlatformError, *, refused: str, code: str) -> None:
    """Set the job's outcome for an error of a marketplace call (the one place that decides retry vs hold).

    ``refused`` is the sentence for a :class:`PermanentError` (``"<platform> refused …"``, the error follows),
    ``code`` its hold code.
    """
    if isinstance(exc, AuthExpired):
        if job.channel_id in run.refreshed:
            job.outcome, job.code = "held", f"reauth:{job.label}"
            job.message = (f"{job.label}: the marketplace rejects the refreshed access token ({exc}); "
                           "re-authorize the channel")
            return
        run.expired[job.channel_id] = job.token_version
        # Not a failure yet: the row waits for the refresh after this batch and is tried again.
        job.outcome, job.message = "refresh", f"access token expired ({exc}); refreshing"
        run.count("token_refreshes")
    elif isinstance(exc, ReauthRequired):
        job.outcome, job.code = "held", f"reauth:{job.label}"
        job.message = f"{job.label}: {exc}; re-authorize the channel (oms-bridge channel authorize {job.label})"
    elif isinstance(exc, OutcomeUnknown):
        job.outcome = "unknown"
        job.message = f"{exc}; the next attempt reads the marketplace's state before sending anything"
    elif isinstance(exc, RateLimited):
        job.outcome, job.message, job.retry_after = "retry", str(exc), exc.retry_after
    elif isinstance(exc, TransientError):
        job.outcome, job.message = "retry", str(exc)
    elif isinstance(exc, PermanentError):
        job.outcome, job.code, job.message = "held", code, f"{refused}: {exc}"
    else:
        job.outcome, job.message = "retry", str(exc)


def _call_safely(dest: CallDestination, job: CallJob, run: CallRun) -> None:
    """:meth:`CallDestination.call`, with an unexpected error turned into a retry of this row: phase 3 must still
    run, or what the marketplace already accepted in this batch would be sent again after the lease."""
    try:
        dest.call(job, run)
    except Exception as exc:  # noqa: BLE001 - an answer we cannot read must not lose the batch's records
        log.exception("%s: order %s failed unexpectedly", dest.destination, job.order_id)
        job.outcome = "retry"
        job.message = f"unexpected error talking to {job.platform_type}: {describe_error(exc)}"


def _finish(session: Session, job: CallJob, run: CallRun) -> None:
    """Phase 3: the row's outcome, only under this run's lease."""
    if job.outcome is None:
        return
    row = outbox.leased_row(session, job.lease)
    if row is None:  # re-armed (a newer event) or leased again: the newer claim decides
        run.count("superseded")
        if job.outcome == "refresh":
            job.outcome = None
        return
    max_attempts = run.settings.delivery_max_attempts
    now = run.now or utcnow()
    if job.outcome == "sent":
        outbox.mark_sent(row, now=run.now, external_ref=(job.external_ref or "")[:255] or None)
        run.stats.sent += 1
    elif job.outcome == "held":
        held(run, row, job.message, job.code)
    elif job.outcome == "waiting":
        outbox.mark_waiting(row, job.message, code=job.code or None)
    elif job.outcome == "later":
        outbox.mark_deferred(row, job.message, until=job.until or now + timedelta(minutes=1), code=job.code or None)
    elif job.outcome == "refresh":
        outbox.mark_retry(row, job.message, now=run.now, retry_after=0, max_attempts=max_attempts,
                          failure=f"{job.platform_type}: the access token is being refreshed")
    else:  # the cause names the platform and the kind of failure, never the order (it groups on /admin/held)
        failure = (f"{job.platform_type}: the answer was lost" if job.outcome == "unknown"
                   else f"{job.platform_type}: the call failed")
        outbox.mark_retry(row, job.message, max_attempts=max_attempts, now=run.now, retry_after=job.retry_after,
                          failure=failure)
        if job.outcome == "unknown" and row.state == "retry":
            row.hold_code = OUTCOME_UNKNOWN
        run.stats.failed += 1


def _refresh(run: CallRun, channel_id: int, version: int) -> None:
    result = refresh_channel_tokens(channel_id, settings=run.settings, clock=run.clock, force=True,
                                    policy=run.policy, if_version=version)
    run.refreshed.add(channel_id)
    stale = run.adapters.pop(channel_id, None)
    if stale is not None:
        run.stats.api_calls += stale.api_calls
    log.info("refreshed tokens of channel %s: %s", channel_id, result.message)


def run_destination(dest: CallDestination, *, settings: Settings | None = None, now: datetime | None = None,
                    policy: Any = None, clock: Callable[[], datetime] | None = None, batch_size: int = 10,
                    lease_seconds: float | None = None) -> RunStats:
    """Work every due row of ``dest`` (module doc); counts also in ``oms_process_run``."""
    settings = settings or get_settings()
    if lease_seconds is None:
        lease_seconds = float(settings.extra.get(dest.lease_setting, dest.default_lease_seconds))
    with record_run(dest.process, settings=settings) as stats:
        run = CallRun(settings, stats, now, policy, clock)
        seen: set[int] = set()
        for _ in range(MAX_BATCHES_PER_RUN):
            with session_scope(settings, immediate=True) as session:  # phase 1: lease and load
                leases = outbox.lease_due(session, dest.destination, now=now, limit=batch_size, exclude=seen,
                                          lease_seconds=lease_seconds)
                if not leases:
                    break
                seen.update(lease.delivery_id for lease in leases)
                stats.fetched += len(leases)
                jobs = [job for lease in leases if (job := dest.load(session, lease, run)) is not None]
            for job in jobs:  # phase 2: the marketplace, no store transaction open
                _call_safely(dest, job, run)
            with session_scope(settings, immediate=True) as session:  # phase 3: record
                for job in jobs:
                    dest.record(session, job, run)
                    _finish(session, job, run)
            for channel_id, version in list(run.expired.items()):
                _refresh(run, channel_id, version)
            run.expired.clear()
            seen.difference_update(j.lease.delivery_id for j in jobs if j.outcome == "refresh")  # one more try
        stats.api_calls += sum(a.api_calls for a in run.adapters.values())
        if stats.failed and not stats.sent:
            stats.outcome = "failed" if not stats.held else "partial"
        elif stats.failed or stats.held:
            stats.outcome = "partial"
    return stats
