"""Cancellation answers: due ``cancel_answer`` rows → the seller's answer to the marketplace's request, once.

A marketplace that lets the seller refuse a cancellation (Shopee ``IN_CANCEL``, momo 攔貨) lists the request on
the order (:attr:`platforms.base.Order.cancel_request`); GetOrder stores it (``oms_cancel_request``, see
:mod:`oms_bridge.store.cancel_requests`) and arms the order's ``cancel_answer`` row. While the request is open the
ERP delivery waits (when the ERP does not have the order yet) and the OMS is served the order as "cancellation
waiting" (Omnitron code 50), so it is not shipped meanwhile. One run (:func:`run_cancel_answers`, the same runner
as the logistics push-back: :mod:`channels.calls`) works the due rows:

1. **Decide**, once (the decision is stored and never changes, so an answer sent again after a lost reply is the
   same answer), from what the OMS reported:

   - the marketplace does not let the seller answer yet (momo ``allowExecuteYN`` N): the row waits with the
     marketplace's reason; GetOrder re-arms it when the request changes;
   - refuse ("too late") when the goods left: an OMS package of the order is in a departed state
     (``cancel_departed_states``, default shipped, attempted_delivery, delivery_failed, delivered,
     ready_for_customer_pickup), a shipped package's tracking push exists, or the marketplace reports the order
     shipped or later;
   - accept (intercept) otherwise. When the OMS already had the order before the request opened and has not read
     it since (so it does not know it must stop), the decision waits for its next read, at most
     ``cancel_answer_oms_wait_minutes`` (default 30) after the request was seen; after that the packages it
     reported decide.

2. **Answer** with ``Adapter.answer_cancel_request(order, accept)`` (momo ``stopSendingConfirm``, ``stopAct`` 1 or 0).
   It is state-changing: a lost reply (:class:`~platforms.base.OutcomeUnknown`) marks the request ``unknown`` and
   the next attempt first re-reads the order (``Adapter.get_orders``): a request the marketplace no longer lists
   was answered, and nothing is sent again. An adapter without the call (``NotSupported``): the marketplace
   decides; the row waits and the request closes when GetOrder sees the marketplace close it.

3. **Record**, whatever became of the lease: accepted → the order becomes ``cancelled`` (the ERP voids/closes the
   sales order it has, or never gets it; the OMS sees it cancelled and gets a cancellation plan); refused → the
   order stays a sale and ``return_expected`` is recorded (momo then returns it as 銷退); the ERP delivery that
   waited goes on. A refusal by the marketplace holds the row (``answer_rejected:<order>``) with its reason;
   ``oms-bridge orders retry-answers`` re-arms held/dead rows.

Settings (config.toml ``[oms_bridge]``): ``cancel_departed_states``, ``cancel_answer_oms_wait_minutes``,
``cancel_answer_lease_seconds`` (default 300).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.calls import CallDestination, CallJob, CallRun, failed, must_stop, run_destination
from oms_bridge.settings import Settings
from oms_bridge.store import cancel_requests, outbox
from oms_bridge.store.models import Order, OrderCancelRequest, Package, utcnow
from oms_bridge.store.models.oms import OmsPackagePush, OmsPackageState
from oms_bridge.store.models.oms_notify import OmsOrderEvent
from oms_bridge.store.runs import RunStats
from platforms.base import CancelAnswer, NotSupported, PlatformError

__all__ = ["run_cancel_answers", "decide", "PROCESS", "DESTINATION", "DEPARTED_STATES"]

log = logging.getLogger(__name__)
PROCESS = "cancel_answers"
DESTINATION = cancel_requests.DESTINATION
DEPARTED_STATES = ("shipped", "attempted_delivery", "delivery_failed", "delivered", "ready_for_customer_pickup")
#: canonical statuses that say the goods have left
LEFT_STATUSES = ("shipped", "delivered", "completed", "returned")
DEFAULT_OMS_WAIT_MINUTES = 30.0


@dataclass
class _Job(CallJob):
    """A cancel_answer row: the request, the decision (and whether it is new), what the marketplace answered."""

    request_id: int = 0
    accept: bool = True
    new_decision: str = ""
    after_unknown: bool = False
    answer: CancelAnswer | None = None
    resolved_note: str = ""


def _settings_list(settings: Settings, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = settings.extra.get(key, default)
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _current_slug(session: Session, package_id: int) -> str | None:
    return session.scalars(select(OmsPackageState.state_slug).where(OmsPackageState.oms_package_id == package_id,
                                                                    OmsPackageState.is_applied.is_(True))
                           .order_by(OmsPackageState.state_at.desc(), OmsPackageState.id.desc()).limit(1)).first()


def decide(session: Session, order: Order, request: OrderCancelRequest, settings: Settings, now: datetime
           ) -> tuple[bool | None, str]:
    """(accept, why) from the package state the OMS reported (module doc); accept None: not yet (wait)."""
    if order.status in LEFT_STATUSES:
        return False, f"the marketplace reports the order {order.status}"
    departed = _settings_list(settings, "cancel_departed_states", DEPARTED_STATES)
    packages = session.scalars(select(Package).where(Package.oms_order_id == order.id).order_by(Package.id)).all()
    states = [(pkg, _current_slug(session, pkg.id)) for pkg in packages]
    for pkg, slug in states:
        if slug in departed:
            return False, f"OMS package {pkg.external_id} is {slug} (tracking {pkg.tracking_number or '-'})"
    push = session.scalars(select(OmsPackagePush).where(OmsPackagePush.oms_order_id == order.id).limit(1)).first()
    if push is not None:
        return False, f"the OMS reported a shipped package (tracking {push.tracking_number or '-'})"
    # The newest order version the OMS was offered (read in pull mode, pushed in push mode): see oms_order_event.
    offered = session.scalar(select(func.max(OmsOrderEvent.order_version)).where(
        OmsOrderEvent.oms_order_id == order.id, OmsOrderEvent.offered_at.is_not(None)))
    known = ", ".join(f"{pkg.external_id} {slug or pkg.state_code or '?'}" for pkg, slug in states) or "none"
    if offered is not None and offered < (request.order_version or 0):
        wait = float(settings.extra.get("cancel_answer_oms_wait_minutes", DEFAULT_OMS_WAIT_MINUTES))
        if now < request.seen_at + timedelta(minutes=wait):
            return None, ("the OMS has had the order since before the request and has not read it since; waiting for "
                          f"it to see the hold (at most {wait:g} min after the request, until "
                          f"{request.seen_at + timedelta(minutes=wait):%Y-%m-%d %H:%M} UTC)")
        return True, (f"no OMS package has left (packages: {known}); the OMS did not read the order within {wait:g} "
                      "min of the request")
    return True, f"no OMS package has left (packages: {known})"


class _CancelAnswers(CallDestination):
    destination = DESTINATION
    process = PROCESS
    lease_setting = "cancel_answer_lease_seconds"

    def load(self, session: Session, lease: outbox.Lease, run: CallRun) -> _Job | None:
        """Phase 1: the open request and its decision; rows with nothing to send are decided here."""
        row = lease.row
        now = run.now or utcnow()
        order = session.get(Order, row.oms_order_id)
        request = cancel_requests.open_request(session, order.id)
        if request is None:
            latest = cancel_requests.latest_requests(session, [order.id]).get(order.id)
            note = f"request {latest.state}: {latest.outcome}" if latest is not None else "no request"
            outbox.mark_sent(row, now=run.now, external_ref=note[:255])
            run.stats.sent += 1
            return None
        if request.isallowed is False:
            outbox.mark_waiting(row, f"the marketplace does not let the seller answer the cancellation request of "
                                     f"order {order.external_id} yet: {request.reason or 'no reason given'}",
                                code="cancel_request:not_allowed")
            return None
        accept, note, new = request.decision == "accept", request.decision_note or "", ""
        if not request.decision:
            decided, note = decide(session, order, request, run.settings, now)
            if decided is None:
                outbox.mark_deferred(row, note, until=now + timedelta(minutes=1), code="cancel_request:deciding")
                return None
            accept, new = decided, note
        job = self.bind(session, lease, run, _Job, request_id=request.id, accept=accept, new_decision=new,
                        after_unknown=request.answer_state == "unknown")
        if job is not None:
            asked = cancel_requests.canonical_request(request)
            job.canonical = dataclasses.replace(job.canonical, cancel_request=asked)
        return job

    def call(self, job: _Job, run: CallRun) -> None:  # type: ignore[override]
        """Phase 2: after a lost reply read the order first; then answer (no store access)."""
        adapter = run.adapters[job.channel_id]
        if must_stop(job, run):
            return
        if job.after_unknown or job.after_lost_answer:
            try:
                again = adapter.get_orders([job.external_id])
            except PlatformError as exc:
                failed(job, run, exc, refused=f"{job.platform_type} refused to re-read order {job.external_id}",
                       code=f"answer_rejected:{job.order_id}")
                if job.outcome == "retry":
                    job.outcome = "unknown"
                return
            still = [o for o in again if getattr(o, "external_id", None) == job.external_id
                     and getattr(o, "cancel_request", None) is not None]
            if not still:
                job.outcome, job.external_ref = "sent", "answered (read back: the request is no longer listed)"
                job.resolved_note = "the reply was lost; the marketplace no longer lists the request (read back)"
                return
            if must_stop(job, run):
                return
        try:
            job.answer = adapter.answer_cancel_request(job.canonical, job.accept)
        except NotSupported as exc:
            job.new_decision = ""  # nothing was answered: the marketplace decides
            job.outcome, job.code = "waiting", "cancel_request:marketplace_decides"
            job.message = f"{job.platform_type} decides the cancellation request itself ({exc}); the bridge waits"
            return
        except PlatformError as exc:
            failed(job, run, exc, refused=f"{job.platform_type} refused the answer to the cancellation request of "
                                          f"order {job.external_id}", code=f"answer_rejected:{job.order_id}")
            return
        job.outcome = "sent"
        job.external_ref = ("intercepted" if job.accept else "too late") + (" (repeat)" if job.answer.repeated else "")

    def record(self, session: Session, job: _Job, run: CallRun) -> None:  # type: ignore[override]
        """Phase 3: the decision, a lost reply, an answer taken: recorded whatever became of the lease."""
        now = run.now or utcnow()
        lock = session.get_bind().dialect.name == "postgresql"
        order = session.get(Order, job.order_id, with_for_update=lock, populate_existing=True)
        request = session.get(OrderCancelRequest, job.request_id, with_for_update=lock, populate_existing=True)
        if order is None or request is None or request.state != "open":
            return  # GetOrder saw the marketplace close it meanwhile: that record stands
        if job.new_decision and job.outcome != "waiting":
            cancel_requests.record_decision(request, job.accept, job.new_decision, now=now)
        if job.outcome == "unknown":
            cancel_requests.record_unknown(request, job.message)
        elif job.outcome == "sent":
            note = job.resolved_note or f"{job.platform_type} took the answer ({job.external_ref})"
            cancel_requests.record_answer(session, order, request, accepted=job.accept, now=now, note=note)
            log.info("order %s: cancellation request answered: %s", job.external_id, job.external_ref)


CANCEL_ANSWERS = _CancelAnswers()


def run_cancel_answers(*, settings: Settings | None = None, now: datetime | None = None, policy: Any = None,
                       clock: Callable[[], datetime] | None = None, batch_size: int = 10,
                       lease_seconds: float | None = None) -> RunStats:
    """Answer every due cancellation request (module doc); counts also in ``oms_process_run``."""
    return run_destination(CANCEL_ANSWERS, settings=settings, now=now, policy=policy, clock=clock,
                           batch_size=batch_size, lease_seconds=lease_seconds)
