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

A shipment is never sent twice blindly (DESIGN: a call that changes state outside is not retried blindly).
Just before the call the push is recorded as attempted (``oms_package_push.attempted_at``, its own short
transaction); a definite answer (accepted, or refused/never sent) settles it. A push still marked attempted
is *in doubt*: its answer was lost (:class:`~platforms.base.OutcomeUnknown`) or its worker died mid-call.
Before sending an in-doubt push again, and right after a lost answer, the run asks the adapter what the
marketplace recorded (:meth:`~platforms.base.Adapter.shipment_state`): a shipment found there is recorded as
the marketplace made it (its tracking number), and only a marketplace that shows none gets the call again (on
a later lease, after reading once more). An adapter that cannot read a shipment back (``NotSupported``)
holds an in-doubt push with code ``ship_unknown:<order id>`` and what to check; ``oms-bridge oms
retry-shipments --order N --resend`` sends it again once the admin has seen it is not shipped. An order the
marketplace already reports shipped (e.g. Shopee PROCESSED) is also read back first, so its shipment is
recorded rather than refused.

Outcomes per row (:mod:`channels.calls`, the one runner of marketplace-call destinations, records them): all
pushes done → ``sent``; an error the admin must fix (cancelled order, unknown carrier, order not ready to ship,
rejected credentials, re-authorization required) → ``held`` with the sentence to read; network/5xx/rate limit →
``retry`` with backoff (``dead`` after ``Settings.delivery_max_attempts``). An access token rejected mid-run is
refreshed once, single-flight, after the batch commits, and the row is tried again in the same run.
``oms-bridge oms retry-shipments`` re-arms held/dead rows.

The batches run in three phases (lease and load / marketplace calls with no store transaction open but the
short "attempted" mark / record), see :mod:`channels.calls`. Each push the marketplace accepted becomes ``sent``
in phase 3 whatever became of the lease, so it is never pushed twice. A worker that dies mid-batch leaves its
rows leased; they fall due again when the lease ends, and a push it had started is in doubt (above), so the next
lease reads the marketplace's state before anything is sent. The lease lasts ``logistics_lease_seconds``
(config.toml, default 300, a choice: ten rows of three marketplace calls each, with retries, fit comfortably).
A long lease only delays recovery after a crash; a short one is safe, because no call starts after 90 % of the
lease (the row is then left for its next lease).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels.calls import CallDestination, CallJob, CallRun, canonical_order, failed, held, must_stop, run_destination
from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, utcnow
from oms_bridge.store.models.oms import OmsCarrier, OmsPackagePush, carrier_hold_code
from oms_bridge.store.runs import RunStats
from platforms.base import Adapter, NotSupported, OutcomeUnknown, PermanentError, PlatformError, Shipment, ShipResult

__all__ = ["run_logistics_delivery", "canonical_order", "PROCESS", "DESTINATION"]

log = logging.getLogger(__name__)
PROCESS = "logistics_delivery"
DESTINATION = "logistics"
BATCH_SIZE = 10
#: stored statuses meaning the marketplace already shipped the order: its shipment is read back before any call
SHIPPED_STATUSES = ("shipped", "delivered", "completed")


@dataclass(frozen=True)
class _Push:
    """One pending ``oms_package_push`` as plain data; ``carrier`` is the platform's code (None: default)."""

    id: int
    tracking_number: str | None
    oms_carrier: str | None
    carrier: str | None
    unmapped: bool = False
    in_doubt: bool = False  # an earlier attempt's outcome is unknown (lost answer, worker died mid-call)


@dataclass
class _Job(CallJob):
    """A logistics row: its pending pushes, the pushes the marketplace accepted (phase 2), and those it provably
    did not ship in this run (refused, or never sent: their doubt is cleared)."""

    pushes: list[_Push] = field(default_factory=list)
    shipped: list[tuple[_Push, str | None, datetime]] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)


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
        """Phase 2: tell the marketplace, push by push; an in-doubt push (or an order the marketplace already
        reports shipped) is read back first, and a lost answer is read back at once, never re-sent."""
        adapter = run.adapters[job.channel_id]  # built in phase 1; dropped only by a refresh after phase 3
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
            if push.in_doubt or job.canonical.status in SHIPPED_STATUSES:
                found = _read_back(job, run, adapter, push, shipped_at, required=push.in_doubt)
                if found == "stop":
                    return
                if found == "recorded":
                    continue
            shipment = Shipment(tracking_number=push.tracking_number or "", carrier=push.carrier,
                                shipped_at=shipped_at)
            _mark_attempted(run, push.id, shipped_at)
            try:
                result = adapter.ship(job.canonical, shipment)
            except OutcomeUnknown as exc:
                run.count("lost_answers")
                log.warning("logistics: the answer to the shipment of order %s was lost (%s); reading it back",
                            job.order_id, exc)
                found = _read_back(job, run, adapter, push, shipped_at, required=True, lost=exc)
                if found == "recorded":
                    continue
                if found == "ship":  # not shipped there yet: send again on the next lease, after reading once more
                    job.outcome, job.message = "retry", (
                        f"the answer to the shipment of order {job.external_id} was lost ({exc}); "
                        f"{job.platform_type} shows no shipment yet, so it is read again and only then sent on the "
                        "next run")
                return
            except PlatformError as exc:
                job.settled.append(push.id)  # any other error: the marketplace did not ship it (Adapter.ship)
                failed(job, run, exc, refused=f"{job.platform_type} refused the shipment of order {job.external_id}",
                       code=f"ship_rejected:{job.order_id}")
                return
            job.shipped.append((push, result.tracking_number, shipped_at))
            if result.note:  # e.g. the marketplace cannot hold our tracking number: the run says so, once per text
                warnings = run.stats.details.setdefault("warnings", [])
                if result.note not in warnings:
                    warnings.append(result.note)
        job.outcome = "sent"
        done = [t or p.tracking_number or "" for p, t, _at in job.shipped]
        job.external_ref = ",".join(t for t in done if t) or None

    def record(self, session: Session, job: _Job, run: CallRun) -> None:  # type: ignore[override]
        """Phase 3: pushes the marketplace accepted become ``sent`` whatever became of the lease; pushes it
        provably did not ship lose their doubt."""
        lock = session.get_bind().dialect.name == "postgresql"
        for push, platform_tracking, shipped_at in job.shipped:
            stored = session.get(OmsPackagePush, push.id, with_for_update=lock, populate_existing=True)
            # A newer shipped event (other tracking/carrier) re-queued it meanwhile: that one still has to go.
            if stored is not None and stored.state == "pending" and \
                    (stored.tracking_number, stored.carrier) == (push.tracking_number, push.oms_carrier):
                stored.state, stored.pushed_at, stored.platform_tracking = "sent", shipped_at, platform_tracking
                stored.attempted_at = None
        if job.settled:
            session.execute(update(OmsPackagePush).where(OmsPackagePush.id.in_(job.settled),
                                                         OmsPackagePush.state == "pending")
                            .values(attempted_at=None).execution_options(synchronize_session=False))


LOGISTICS = _Logistics()


def run_logistics_delivery(*, settings: Settings | None = None, now: datetime | None = None, policy: Any = None,
                           clock: Callable[[], datetime] | None = None, batch_size: int = BATCH_SIZE,
                           lease_seconds: float | None = None) -> RunStats:
    """Push every due shipment to its marketplace (see module doc); counts also in ``oms_process_run``.

    ``lease_seconds`` overrides the configured lease (``logistics_lease_seconds``).
    """
    return run_destination(LOGISTICS, settings=settings, now=now, policy=policy, clock=clock, batch_size=batch_size,
                           lease_seconds=lease_seconds)


def _read_back(job: _Job, run: CallRun, adapter: Adapter, push: _Push, shipped_at: datetime, *, required: bool,
               lost: OutcomeUnknown | None = None) -> str:
    """Ask the marketplace what it recorded for the order's shipment.

    ``"recorded"``: it shipped (the push is recorded with its tracking number); ``"ship"``: it shows no shipment,
    so sending is safe; ``"stop"``: the outcome is noted on the job (read failed, or it cannot be read back and
    the push is in doubt, ``required``). A platform without read-back and no doubt just ships (``"ship"``).
    """
    try:
        state: ShipResult | None = adapter.shipment_state(job.canonical)
    except NotSupported:
        if not required:
            return "ship"
        why = f"the answer was lost ({lost})" if lost else "an earlier attempt stopped before its answer arrived"
        job.outcome, job.code = "held", f"ship_unknown:{job.order_id}"
        job.message = (f"the shipment of order {job.external_id} may have reached {job.platform_type}: {why}, and "
                       f"{job.platform_type} cannot be asked what it recorded. Check the order on {job.platform_type}: "
                       f"if it is not shipped there, run `oms-bridge oms retry-shipments --order {job.order_id} "
                       "--resend`; if it is, nothing needs sending")
        return "stop"
    except PermanentError as exc:
        job.outcome, job.code = "held", f"ship_readback:{job.order_id}"
        job.message = (f"{job.platform_type} could not say whether order {job.external_id} is shipped: {exc}; "
                       f"nothing was sent (`oms-bridge oms retry-shipments --order {job.order_id}` asks again)")
        return "stop"
    except PlatformError as exc:
        failed(job, run, exc, refused=f"{job.platform_type} could not read order {job.external_id}",
               code=f"ship_readback:{job.order_id}")
        return "stop"
    if state is None:
        return "ship"
    run.count("read_back")
    log.info("logistics: %s already shows the shipment of order %s (tracking %s); recorded, not sent again",
             job.platform_type, job.order_id, state.tracking_number or "not assigned yet")
    job.shipped.append((push, state.tracking_number, shipped_at))
    return "recorded"


def _mark_attempted(run: CallRun, push_id: int, when: datetime) -> None:
    """Record, before the call, that this push may reach the marketplace (its own short transaction)."""
    with session_scope(run.settings, immediate=True) as session:
        session.execute(update(OmsPackagePush).where(OmsPackagePush.id == push_id, OmsPackagePush.state == "pending")
                        .values(attempted_at=when).execution_options(synchronize_session=False))


def _plain_push(session: Session, push: OmsPackagePush, platform_type: str) -> _Push:
    """The push with its OMS cargo company mapped through ``oms_carrier`` (``unmapped`` when it has none)."""
    doubt = push.attempted_at is not None
    if not push.carrier:
        return _Push(push.id, push.tracking_number, None, None, in_doubt=doubt)
    mapped = session.scalars(select(OmsCarrier).where(OmsCarrier.platform_type == platform_type,
                                                      OmsCarrier.oms_carrier == push.carrier)).one_or_none()
    if mapped is None or not mapped.isactive:
        return _Push(push.id, push.tracking_number, push.carrier, None, unmapped=True, in_doubt=doubt)
    return _Push(push.id, push.tracking_number, push.carrier, mapped.platform_carrier, in_doubt=doubt)
