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

Outcomes per row (:mod:`channels.calls`, the one runner of marketplace-call destinations, decides them): all
pushes done → ``sent``; an error the admin must fix (cancelled order, unknown carrier, order not ready to ship,
rejected credentials, re-authorization required) → ``held`` with the sentence to read; network/5xx/rate limit →
``retry`` with backoff (``dead`` after ``Settings.delivery_max_attempts``); a ship call whose answer was lost
(:class:`~platforms.base.OutcomeUnknown`) → ``retry`` marked ``outcome_unknown``: the next attempt first asks the
marketplace (``Adapter.shipment_state``) and records a shipment it already holds instead of shipping again (a
platform that cannot read back holds the row for the admin to check). An access token rejected mid-run is
refreshed once, single-flight, after the batch commits, and the row is tried again in the same run.
``oms-bridge oms retry-shipments`` re-arms held/dead rows.

The batches run in three phases (lease and load / marketplace calls with no store transaction open / record),
see :mod:`channels.calls`. Each push the marketplace accepted becomes ``sent`` in phase 3 whatever became of the
lease, so it is never pushed twice. A worker that dies mid-batch leaves its rows leased; they fall due again
when the lease ends and the pushes it did not record are tried again. The one window left: a push the
marketplace accepted just before the worker died is sent once more with the same tracking number; a marketplace
that refuses a second shipment (Shopee: "logistic status not ready to ship") holds the row with that reason.
The lease lasts ``logistics_lease_seconds`` (config.toml, default 300, a choice: ten rows of three marketplace
calls each, with retries, fit comfortably). A long lease only delays recovery after a crash; a short one is
safe, because no call starts after 90 % of the lease (the row is then left for its next lease).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.calls import CallDestination, CallJob, CallRun, canonical_order, failed, held, must_stop, run_destination
from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.models import Order, utcnow
from oms_bridge.store.models.oms import OmsCarrier, OmsPackagePush, carrier_hold_code
from oms_bridge.store.runs import RunStats
from platforms.base import NotSupported, PlatformError, Shipment, ShipResult

__all__ = ["run_logistics_delivery", "canonical_order", "PROCESS", "DESTINATION"]

log = logging.getLogger(__name__)
PROCESS = "logistics_delivery"
DESTINATION = "logistics"
BATCH_SIZE = 10


@dataclass(frozen=True)
class _Push:
    """One pending ``oms_package_push`` as plain data; ``carrier`` is the platform's code (None: default)."""

    id: int
    tracking_number: str | None
    oms_carrier: str | None
    carrier: str | None
    unmapped: bool = False


@dataclass
class _Job(CallJob):
    """A logistics row: its pending pushes, and the pushes the marketplace accepted (phase 2)."""

    pushes: list[_Push] = field(default_factory=list)
    shipped: list[tuple[_Push, str | None, datetime]] = field(default_factory=list)


class _Logistics(CallDestination):
    destination = DESTINATION
    process = PROCESS
    lease_setting = "logistics_lease_seconds"

    def load(self, session: Session, lease: outbox.Lease, run: CallRun) -> _Job | None:
        """Phase 1: what the marketplace calls need, as plain data; None when the row is decided already."""
        row = lease.row
        order = session.get(Order, row.oms_order_id)
        pushes = session.scalars(select(OmsPackagePush).where(OmsPackagePush.oms_order_id == order.id,
                                                              OmsPackagePush.state == "pending")
                                 .order_by(OmsPackagePush.id)).all()
        if not pushes:
            outbox.mark_sent(row, now=run.now, external_ref=row.external_ref)
            run.stats.sent += 1
            return None
        if order.status in ("cancelled", "returned"):
            held(run, row, f"order {order.external_id} is {order.status}; its shipment was not reported to the "
                           "marketplace", "order_cancelled")
            return None
        job = self.bind(session, lease, run, _Job)
        if job is not None:
            job.pushes = [_plain_push(session, p, job.platform_type) for p in pushes]
        return job

    def call(self, job: _Job, run: CallRun) -> None:  # type: ignore[override]
        """Phase 2: tell the marketplace, push by push (after a lost answer: ask it first)."""
        adapter = run.adapters[job.channel_id]  # built in phase 1; dropped only by a refresh after phase 3
        if job.after_lost_answer and not self._read_back(job, run):
            return
        for push in job.pushes:
            if push.unmapped:
                job.outcome, job.code = "held", carrier_hold_code(job.platform_type, push.oms_carrier or "")
                job.message = (f"the OMS cargo company {push.oms_carrier!r} has no {job.platform_type} carrier: run "
                               f"`oms-bridge oms carriers set {job.platform_type} '{push.oms_carrier}' "
                               "<carrier code>`")
                return
            if must_stop(job, run):
                return
            shipped_at = run.now or utcnow()
            shipment = Shipment(tracking_number=push.tracking_number or "", carrier=push.carrier,
                                shipped_at=shipped_at)
            try:
                result = adapter.ship(job.canonical, shipment)
            except PlatformError as exc:
                failed(job, run, exc, refused=f"{job.platform_type} refused the shipment of order {job.external_id}",
                       code=f"ship_rejected:{job.order_id}")
                return
            job.shipped.append((push, result.tracking_number, shipped_at))
        self._done(job)

    def _read_back(self, job: _Job, run: CallRun) -> bool:
        """After a lost answer: what the marketplace holds decides (True: go on shipping what is not shipped)."""
        try:
            state: ShipResult | None = run.adapters[job.channel_id].shipment_state(job.canonical)
        except NotSupported:
            job.outcome, job.code = "held", f"outcome_unknown:{job.order_id}"
            job.message = (f"the answer to the shipment call of order {job.external_id} was lost and "
                           f"{job.platform_type} cannot read a shipment back: check the order on the marketplace, "
                           "then `oms-bridge oms retry-shipments` (it ships again)")
            return False
        except PlatformError as exc:
            failed(job, run, exc, refused=f"{job.platform_type} refused to read the shipment of order "
                                          f"{job.external_id}", code=f"ship_rejected:{job.order_id}")
            if job.outcome == "retry":
                job.outcome = "unknown"  # still unknown: the next attempt reads again
            return False
        if state is None:
            return True
        shipped_at = run.now or utcnow()
        job.shipped = [(push, state.tracking_number, shipped_at) for push in job.pushes if not push.unmapped]
        run.count("read_back_shipped")
        self._done(job)
        return False

    @staticmethod
    def _done(job: _Job) -> None:
        job.outcome = "sent"
        done = [t or p.tracking_number or "" for p, t, _at in job.shipped]
        job.external_ref = ",".join(t for t in done if t) or None

    def record(self, session: Session, job: _Job, run: CallRun) -> None:  # type: ignore[override]
        """Phase 3: pushes the marketplace accepted become ``sent`` whatever became of the lease."""
        lock = session.get_bind().dialect.name == "postgresql"
        for push, platform_tracking, shipped_at in job.shipped:
            stored = session.get(OmsPackagePush, push.id, with_for_update=lock, populate_existing=True)
            # A newer shipped event (other tracking/carrier) re-queued it meanwhile: that one still has to go.
            if stored is not None and stored.state == "pending" and \
                    (stored.tracking_number, stored.carrier) == (push.tracking_number, push.oms_carrier):
                stored.state, stored.pushed_at, stored.platform_tracking = "sent", shipped_at, platform_tracking


LOGISTICS = _Logistics()


def run_logistics_delivery(*, settings: Settings | None = None, now: datetime | None = None, policy: Any = None,
                           clock: Callable[[], datetime] | None = None, batch_size: int = BATCH_SIZE,
                           lease_seconds: float | None = None) -> RunStats:
    """Push every due shipment to its marketplace (see module doc); counts also in ``oms_process_run``.

    ``lease_seconds`` overrides the configured lease (``logistics_lease_seconds``).
    """
    return run_destination(LOGISTICS, settings=settings, now=now, policy=policy, clock=clock, batch_size=batch_size,
                           lease_seconds=lease_seconds)


def _plain_push(session: Session, push: OmsPackagePush, platform_type: str) -> _Push:
    """The push with its OMS cargo company mapped through ``oms_carrier`` (``unmapped`` when it has none)."""
    if not push.carrier:
        return _Push(push.id, push.tracking_number, None, None)
    mapped = session.scalars(select(OmsCarrier).where(OmsCarrier.platform_type == platform_type,
                                                      OmsCarrier.oms_carrier == push.carrier)).one_or_none()
    if mapped is None or not mapped.isactive:
        return _Push(push.id, push.tracking_number, push.carrier, None, unmapped=True)
    return _Push(push.id, push.tracking_number, push.carrier, mapped.platform_carrier)
