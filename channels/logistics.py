"""Logistics push-back: due ``logistics`` outbox rows → the marketplace learns the tracking number.

The OMS reports a shipped package by webhook; :mod:`oms_bridge.oms.webhooks` queues its tracking
number and cargo company in ``oms_package_push`` and arms the order's ``logistics`` row
(``action="ship"``). One run (:func:`run_logistics_delivery`) takes the due rows, and for every
pending push of the order:

1. maps the OMS cargo company through ``oms_carrier`` (per platform type; the seed's cargo-company
   step). An unmapped carrier holds the row with code ``carrier:<platform>:<carrier>``, which
   ``oms-bridge oms carriers set`` re-arms. A package without a cargo company ships with the
   platform's default (``Shipment.carrier=None``);
2. calls the channel's adapter ``ship(order, Shipment(...))`` (Shopee ship_order, Cyberbiz
   custom_shipping, momo unsendCompanyConfirm, Shopline shipment — the adapter's business) and
   marks the push ``sent`` with what the marketplace reported back.

Outcomes per row, like the ERP destination: all pushes done → ``sent``; an error the admin must
fix (cancelled order, unknown carrier, order not ready to ship, rejected credentials,
re-authorization required) → ``held`` with the sentence to read; network/5xx/rate limit →
``retry`` with backoff (``dead`` after ``Settings.delivery_max_attempts``). An access token
rejected mid-run is refreshed once, single-flight, after the batch commits, and the row is
tried again in the same run. ``oms-bridge oms retry-shipments`` re-arms held/dead rows.

Three phases per batch, so no marketplace call ever runs inside a store transaction (on SQLite that
would hold the file's write lock through slow HTTP calls and stall GetOrder, the webhooks and the
admin pages; on PostgreSQL it would hold row locks during I/O):

1. a short transaction leases the due rows (:func:`oms_bridge.store.outbox.lease_due`, the outbox's
   one claim mechanism: SQLite BEGIN IMMEDIATE, PostgreSQL FOR UPDATE SKIP LOCKED) and loads what
   ``ship`` needs as plain data (canonical order, pending pushes, mapped carriers, the adapter);
   rows that need no call (nothing to push, cancelled order, unbindable channel) are decided here;
2. the marketplace calls, with no store transaction open; no call starts for a row whose lease is
   (nearly) over, because another worker may own the row by then;
3. a short transaction records the outcomes: each push the marketplace accepted becomes ``sent``
   (always, even when the row was re-armed meanwhile, so it is never pushed twice), and the row's
   outcome is written only while this run's lease still holds (:func:`~oms_bridge.store.outbox.leased_row`).

A worker that dies mid-batch leaves its rows leased; they fall due again when the lease ends and the
pushes it did not record are tried again. The one window left: a push the marketplace accepted just
before the worker died is sent once more with the same tracking number; a marketplace that refuses
a second shipment (Shopee: "logistic status not ready to ship") holds the row with that reason.
The lease lasts ``logistics_lease_seconds`` (config.toml, default 300, a choice: ten rows of three
marketplace calls each, with retries, fit comfortably). A long lease only delays recovery after a
crash; a short one is safe, because no call starts after 90 % of the lease (the row is then left
for its next lease).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.binding import BindingError, adapter_for, channel_label, load_channel
from channels.tokens import refresh_channel_tokens
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.store.models import Delivery, Order, OrderLine, utcnow
from oms_bridge.store.models.oms import OmsCarrier, OmsPackagePush, carrier_hold_code
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import Vault, VaultError
from platforms.base import (
    CANONICAL_STATUSES,
    Adapter,
    Address,
    AuthExpired,
    Buyer,
    PermanentError,
    RateLimited,
    ReauthRequired,
    Shipment,
    TransientError,
)
from platforms.base import Order as CanonicalOrder
from platforms.base import OrderLine as CanonicalLine

__all__ = ["run_logistics_delivery", "canonical_order", "PROCESS", "DESTINATION"]

log = logging.getLogger(__name__)
PROCESS = "logistics_delivery"
DESTINATION = "logistics"
BATCH_SIZE = 10
MAX_BATCHES_PER_RUN = 1000
DEFAULT_LEASE_SECONDS = 300.0


def canonical_order(order: Order, lines: list[OrderLine], channel_value: str) -> CanonicalOrder:
    """The stored order as the contract's canonical Order (what ``Adapter.ship`` takes). Pure."""
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
class _Run:
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


@dataclass(frozen=True)
class _Push:
    """One pending ``oms_package_push`` as plain data; ``carrier`` is the platform's code (None: default)."""

    id: int
    tracking_number: str | None
    oms_carrier: str | None
    carrier: str | None
    unmapped: bool = False


@dataclass
class _Job:
    """One leased row between the phases: what ``ship`` needs (phase 1) and what happened (phase 2)."""

    lease: outbox.Lease
    order_id: int
    external_id: str
    channel_id: int
    label: str
    platform_type: str
    token_version: int
    canonical: CanonicalOrder
    pushes: list[_Push]
    # outcome: "sent" | "held" | "retry" | "refresh" | None (lease ran out: leave the row to its next lease)
    outcome: str | None = None
    message: str = ""
    code: str = ""
    retry_after: float | None = None
    shipped: list[tuple[_Push, str | None, datetime]] = field(default_factory=list)


def run_logistics_delivery(*, settings: Settings | None = None, now: datetime | None = None, policy: Any = None,
                           clock: Callable[[], datetime] | None = None, batch_size: int = BATCH_SIZE,
                           lease_seconds: float | None = None) -> RunStats:
    """Push every due shipment to its marketplace (see module doc); counts also in ``oms_process_run``.

    ``lease_seconds`` overrides the configured lease (``logistics_lease_seconds``).
    """
    settings = settings or get_settings()
    if lease_seconds is None:
        lease_seconds = float(settings.extra.get("logistics_lease_seconds", DEFAULT_LEASE_SECONDS))
    with record_run(PROCESS, settings=settings) as stats:
        run = _Run(settings, stats, now, policy, clock)
        seen: set[int] = set()
        for _ in range(MAX_BATCHES_PER_RUN):
            with session_scope(settings, immediate=True) as session:  # phase 1: lease and load
                leases = outbox.lease_due(session, DESTINATION, now=now, limit=batch_size, exclude=seen,
                                          lease_seconds=lease_seconds)
                if not leases:
                    break
                seen.update(lease.delivery_id for lease in leases)
                stats.fetched += len(leases)
                jobs = [job for lease in leases if (job := _load(session, lease, run)) is not None]
            for job in jobs:  # phase 2: the marketplace, no store transaction open
                _ship_safely(job, run)
            with session_scope(settings, immediate=True) as session:  # phase 3: record
                for job in jobs:
                    _record(session, job, run)
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


def _refresh(run: _Run, channel_id: int, version: int) -> None:
    result = refresh_channel_tokens(channel_id, settings=run.settings, clock=run.clock, force=True,
                                    policy=run.policy, if_version=version)
    run.refreshed.add(channel_id)
    stale = run.adapters.pop(channel_id, None)
    if stale is not None:
        run.stats.api_calls += stale.api_calls
    log.info("logistics: refreshed tokens of channel %s: %s", channel_id, result.message)


def _held(run: _Run, row: Delivery, reason: str, code: str) -> None:
    outbox.mark_held(row, reason, code=code)
    run.stats.held += 1
    log.warning("logistics: order %s held: %s", row.oms_order_id, reason)


def _adapter(session: Session, run: _Run, channel_id: int) -> Adapter:
    if channel_id not in run.adapters:
        if run.vault is None:
            run.vault = Vault.from_settings(run.settings)
        channel = load_channel(session, channel_id)
        run.adapters[channel_id] = adapter_for(channel, run.vault, policy=run.policy, clock=run.clock,
                                               session=session)
    return run.adapters[channel_id]


def _load(session: Session, lease: outbox.Lease, run: _Run) -> _Job | None:
    """Phase 1: what the marketplace calls need, as plain data; None when the row is decided already."""
    row = lease.row
    order = session.get(Order, row.oms_order_id)
    channel = load_channel(session, order.oms_channel_id)
    label = channel_label(channel)
    platform_type = channel.platform.platform_type
    pushes = session.scalars(select(OmsPackagePush).where(OmsPackagePush.oms_order_id == order.id,
                                                          OmsPackagePush.state == "pending")
                             .order_by(OmsPackagePush.id)).all()
    if not pushes:
        outbox.mark_sent(row, now=run.now, external_ref=row.external_ref)
        run.stats.sent += 1
        return None
    if order.status in ("cancelled", "returned"):
        _held(run, row, f"order {order.external_id} is {order.status} on {platform_type}; its shipment was not "
                        "reported to the marketplace", "order_cancelled")
        return None
    try:
        _adapter(session, run, channel.id)
    except (BindingError, VaultError) as exc:
        _held(run, row, f"channel {label}: {exc}", f"binding:{label}")
        return None
    lines = list(session.scalars(select(OrderLine).where(OrderLine.oms_order_id == order.id)
                                 .order_by(OrderLine.line_no)))
    return _Job(lease, order.id, order.external_id, channel.id, label, platform_type, channel.token_version,
                canonical_order(order, lines, label), [_plain_push(session, p, platform_type) for p in pushes])


def _plain_push(session: Session, push: OmsPackagePush, platform_type: str) -> _Push:
    """The push with its OMS cargo company mapped through ``oms_carrier`` (``unmapped`` when it has none)."""
    if not push.carrier:
        return _Push(push.id, push.tracking_number, None, None)
    mapped = session.scalars(select(OmsCarrier).where(OmsCarrier.platform_type == platform_type,
                                                      OmsCarrier.oms_carrier == push.carrier)).one_or_none()
    if mapped is None or not mapped.isactive:
        return _Push(push.id, push.tracking_number, push.carrier, None, unmapped=True)
    return _Push(push.id, push.tracking_number, push.carrier, mapped.platform_carrier)


def _ship_safely(job: _Job, run: _Run) -> None:
    """:func:`_ship`, with an unexpected error turned into a retry of this row: phase 3 must still run,
    or the pushes the marketplace already accepted in this batch would be pushed again after the lease."""
    try:
        _ship(job, run)
    except Exception as exc:  # noqa: BLE001 - an answer we cannot read must not lose the batch's records
        log.exception("logistics: pushing order %s failed unexpectedly", job.order_id)
        job.outcome = "retry"
        job.message = f"unexpected error talking to {job.platform_type}: {describe_error(exc)}"


def _ship(job: _Job, run: _Run) -> None:
    """Phase 2: tell the marketplace, push by push, and note the outcome on the job (no store access)."""
    adapter = run.adapters[job.channel_id]  # built in phase 1; dropped only by a refresh after phase 3
    for push in job.pushes:
        if push.unmapped:
            job.outcome, job.code = "held", carrier_hold_code(job.platform_type, push.oms_carrier or "")
            job.message = (f"the OMS cargo company {push.oms_carrier!r} has no {job.platform_type} carrier: run "
                           f"`oms-bridge oms carriers set {job.platform_type} '{push.oms_carrier}' <carrier code>`")
            return
        if job.lease.expired():
            log.warning("logistics: lease of order %s ran out; its next lease pushes the rest", job.order_id)
            run.stats.details["lease_ran_out"] = run.stats.details.get("lease_ran_out", 0) + 1
            return
        if job.channel_id in run.expired:  # another row just found the token expired: try after the refresh
            job.outcome = "refresh"
            job.message = "access token expired; refreshing"
            return
        shipped_at = run.now or utcnow()
        shipment = Shipment(tracking_number=push.tracking_number or "", carrier=push.carrier, shipped_at=shipped_at)
        try:
            result = adapter.ship(job.canonical, shipment)
        except AuthExpired as exc:
            if job.channel_id in run.refreshed:
                job.outcome, job.code = "held", f"reauth:{job.label}"
                job.message = (f"{job.label}: the marketplace rejects the refreshed access token ({exc}); "
                               "re-authorize the channel")
                return
            run.expired[job.channel_id] = job.token_version
            # Not a failure yet: the row waits for the refresh after this batch and is tried again.
            job.outcome, job.message = "refresh", f"access token expired ({exc}); refreshing"
            run.stats.details["token_refreshes"] = run.stats.details.get("token_refreshes", 0) + 1
            return
        except ReauthRequired as exc:
            job.outcome, job.code = "held", f"reauth:{job.label}"
            job.message = f"{job.label}: {exc}; re-authorize the channel (oms-bridge channel authorize {job.label})"
            return
        except RateLimited as exc:
            job.outcome, job.message, job.retry_after = "retry", str(exc), exc.retry_after
            return
        except TransientError as exc:
            job.outcome, job.message = "retry", str(exc)
            return
        except PermanentError as exc:
            job.outcome, job.code = "held", f"ship_rejected:{job.order_id}"
            job.message = f"{job.platform_type} refused the shipment of order {job.external_id}: {exc}"
            return
        job.shipped.append((push, result.tracking_number, shipped_at))
    job.outcome = "sent"


def _record(session: Session, job: _Job, run: _Run) -> None:
    """Phase 3: pushes the marketplace accepted become ``sent``; the row's outcome only under our lease."""
    lock = session.get_bind().dialect.name == "postgresql"
    for push, platform_tracking, shipped_at in job.shipped:
        stored = session.get(OmsPackagePush, push.id, with_for_update=lock, populate_existing=True)
        # A newer shipped event (other tracking/carrier) re-queued it meanwhile: that one still has to go.
        if stored is not None and stored.state == "pending" and \
                (stored.tracking_number, stored.carrier) == (push.tracking_number, push.oms_carrier):
            stored.state, stored.pushed_at, stored.platform_tracking = "sent", shipped_at, platform_tracking
    if job.outcome is None:
        return
    row = outbox.leased_row(session, job.lease)
    if row is None:  # re-armed (e.g. another package shipped) or leased again: the newer claim decides
        run.stats.details["superseded"] = run.stats.details.get("superseded", 0) + 1
        if job.outcome == "refresh":
            job.outcome = None
        return
    max_attempts = run.settings.delivery_max_attempts
    if job.outcome == "sent":
        done = [t or p.tracking_number or "" for p, t, _at in job.shipped]
        outbox.mark_sent(row, now=run.now, external_ref=",".join(t for t in done if t)[:255] or None)
        run.stats.sent += 1
    elif job.outcome == "held":
        _held(run, row, job.message, job.code)
    elif job.outcome == "refresh":
        outbox.mark_retry(row, job.message, now=run.now, retry_after=0, max_attempts=max_attempts)
    else:
        outbox.mark_retry(row, job.message, max_attempts=max_attempts, now=run.now, retry_after=job.retry_after)
        run.stats.failed += 1
