"""Cancellation requests in the store: opened and closed by what the marketplace lists, answered by the bridge.

Platform-independent (Shopee ``IN_CANCEL``, momo 攔貨, any adapter that sets :attr:`Order.cancel_request`). The
rows are :class:`~oms_bridge.store.models.OrderCancelRequest` (states and outcomes in its module doc). Who calls:

- the order upsert (:mod:`oms_bridge.store.orders`) calls :func:`sync` for every order it stores: a request the
  marketplace lists opens a row (or updates the open one), a request it no longer lists closes it;
- the answer worker (``channels/cancel_answers.py``) records the decision (:func:`record_decision`), a lost reply
  (:func:`record_unknown`) and the marketplace's acceptance of the answer (:func:`record_answer`);
- the ERP worker, the OMS API, the CLI and the web pages read :func:`open_requests` / :func:`views`.

Every change arms the order's ``cancel_answer`` outbox row (the one mechanism that answers the marketplace, with
leases, retries and held/dead states like every destination); closing a request re-arms the ``erp`` and ``oms``
rows (:func:`oms_bridge.store.transitions.rearm`) so the ERP delivery that waited goes on (or cancels) and the OMS
reads the order again. An accepted answer makes the order ``cancelled`` (:func:`~oms_bridge.store.transitions.
set_status`); a refused one ("too late": the goods had left) leaves it a sale and records ``return_expected``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oms_bridge.model.orders import CancelRequest
from oms_bridge.model.orders import Order as CanonicalOrder
from oms_bridge.store import outbox, transitions
from oms_bridge.store.lists import one_of
from oms_bridge.store.models import Order, OrderCancelRequest

__all__ = ["DESTINATION", "sync", "open_request", "open_requests", "latest_requests", "canonical_request",
           "record_decision", "record_unknown", "record_answer", "close", "views", "count_open", "RELIST_GRACE",
           "Synced"]

DESTINATION = "cancel_answer"
#: the marketplace still listing a request it has just taken an answer for is the same request, not a new one
RELIST_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class Synced:
    """What :func:`sync` did: ``opened``, ``updated``, ``closed`` or ``""`` (nothing)."""

    change: str
    row: OrderCancelRequest | None = None

    def __bool__(self) -> bool:
        return bool(self.change)


def open_request(session: Session, order_id: int) -> OrderCancelRequest | None:
    """The order's open request, if any."""
    return session.scalars(select(OrderCancelRequest).where(OrderCancelRequest.oms_order_id == order_id,
                                                            OrderCancelRequest.state == "open")
                           .order_by(OrderCancelRequest.id.desc()).limit(1)).first()


def open_requests(session: Session, order_ids: Iterable[int]) -> dict[int, OrderCancelRequest]:
    """Order id → its open request, for the orders that have one."""
    ids = list(order_ids)
    if not ids:
        return {}
    return {row.oms_order_id: row for row in session.scalars(_OPEN_REQUESTS, {"ids": ids}).all()}


#: built once with the orders as one parameter (every page of the OMS's ``orders/`` asks: issue 18)
_OPEN_REQUESTS = select(OrderCancelRequest).where(one_of(OrderCancelRequest.oms_order_id, "ids"),
                                                  OrderCancelRequest.state == "open").order_by(OrderCancelRequest.id)


def latest_requests(session: Session, order_ids: Iterable[int]) -> dict[int, OrderCancelRequest]:
    """Order id → its most recent request (open or not)."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = session.scalars(select(OrderCancelRequest).where(OrderCancelRequest.oms_order_id.in_(ids))
                           .order_by(OrderCancelRequest.id))
    return {row.oms_order_id: row for row in rows}


def canonical_request(row: OrderCancelRequest) -> CancelRequest:
    """The stored request as the platform contract's :class:`CancelRequest` (what the adapter answers)."""
    return CancelRequest(requested_at=row.requested_at, reason=row.reason, reference=row.reference,
                         allowed=row.isallowed)


def _latest(session: Session, order_id: int) -> OrderCancelRequest | None:
    return session.scalars(select(OrderCancelRequest).where(OrderCancelRequest.oms_order_id == order_id)
                           .order_by(OrderCancelRequest.id.desc()).limit(1)).first()


def sync(session: Session, order: Order, item: CanonicalOrder, *, now: datetime) -> Synced:
    """Bring the order's request rows in line with what the marketplace lists now (see the module doc).

    The caller holds the order row (upsert) and commits. ``item.request_only`` orders only ever open or update
    (the listing that carries them says nothing about the rest of the order).
    """
    wanted = item.cancel_request
    current = open_request(session, order.id)
    if wanted is None:
        if current is None or item.request_only:
            return Synced("")
        outcome = "cancelled_by_marketplace" if item.status == "cancelled" else "withdrawn"
        accepted = current.decision == "accept"
        if current.decision and accepted == (item.status == "cancelled"):
            # our answer was on its way and the order shows its effect: the marketplace took it
            record_answer(session, order, current, accepted=accepted, now=now,
                          note=f"the marketplace no longer lists the request and shows the order {item.status} "
                               "(read back by GetOrder)")
            return Synced("closed", current)
        close(session, order, current, outcome, now=now,
              note=f"the marketplace no longer lists the request; the order is {item.status}")
        return Synced("closed", current)
    if current is None:
        latest = _latest(session, order.id)
        if latest is not None and latest.reference == wanted.reference and latest.state == "answered" and \
                latest.answered_at is not None and now - latest.answered_at < RELIST_GRACE:
            return Synced("")  # still listed right after it took our answer: the same request
        row = OrderCancelRequest(oms_order_id=order.id, state="open", reference=wanted.reference,
                                 reason=wanted.reason, isallowed=wanted.allowed, requested_at=wanted.requested_at,
                                 seen_at=now, order_version=order.version, ad_client_id=order.ad_client_id,
                                 ad_org_id=order.ad_org_id)
        session.add(row)
        session.flush()
        outbox.arm(session, order, (DESTINATION,), action="answer")
        return Synced("opened", row)
    changed = False
    for attr, value in (("reference", wanted.reference), ("reason", wanted.reason), ("isallowed", wanted.allowed),
                        ("requested_at", wanted.requested_at)):
        if getattr(current, attr) != value:
            setattr(current, attr, value)
            changed = True
    if changed:
        outbox.arm(session, order, (DESTINATION,), action="answer")  # e.g. momo now allows the answer
        return Synced("updated", current)
    return Synced("")


def record_decision(row: OrderCancelRequest, accept: bool, note: str, *, now: datetime) -> None:
    """Take the decision once; a later call keeps the first (an answer sent again must be the same answer)."""
    if row.decision:
        return
    row.decision = "accept" if accept else "refuse"
    row.decided_at = now
    row.decision_note = note[:2000]


def record_unknown(row: OrderCancelRequest, note: str) -> None:
    """The answer's reply was lost: the next attempt reads the marketplace before sending anything."""
    row.answer_state = "unknown"
    row.outcome_note = note[:2000]


def record_answer(session: Session, order: Order, row: OrderCancelRequest, *, accepted: bool, now: datetime,
                  note: str) -> None:
    """The marketplace has the answer: intercepted → the order is cancelled; too late → a return is expected."""
    row.state = "answered"
    row.answer_state = None
    row.answered_at = now
    row.closed_at = now
    row.outcome = "intercepted" if accepted else "return_expected"
    row.outcome_note = note[:2000]
    session.flush()
    if accepted:
        if not transitions.set_status(session, order, "cancelled", now=now):
            transitions.rearm(session, order, order.status)
    else:
        transitions.bump(order, now)
        transitions.rearm(session, order, order.status)  # the ERP delivery that waited goes on


def close(session: Session, order: Order, row: OrderCancelRequest, outcome: str, *, now: datetime,
          note: str) -> None:
    """The marketplace ended the request without our answer (cancelled the order itself, or withdrew it)."""
    row.state = "closed"
    row.closed_at = now
    row.outcome = outcome
    row.outcome_note = note[:2000]
    session.flush()
    outbox.arm(session, order, (DESTINATION,), action="answer")  # the answer row finds nothing left to answer
    transitions.rearm(session, order, order.status)


def view(row: OrderCancelRequest) -> dict[str, Any]:
    """One request as plain data for the CLI, the web pages and JSON."""
    return {"state": row.state, "reference": row.reference, "reason": row.reason, "allowed": row.isallowed,
            "requested_at": row.requested_at, "seen_at": row.seen_at, "decision": row.decision,
            "decided_at": row.decided_at, "decision_note": row.decision_note,
            "answer_unknown": row.answer_state == "unknown", "answered_at": row.answered_at,
            "outcome": row.outcome, "outcome_note": row.outcome_note, "closed_at": row.closed_at}


def views(session: Session, order_id: int) -> list[dict[str, Any]]:
    """Every request of the order, oldest first."""
    return [view(row) for row in session.scalars(select(OrderCancelRequest)
                                                 .where(OrderCancelRequest.oms_order_id == order_id)
                                                 .order_by(OrderCancelRequest.id))]


def count_open(session: Session) -> int:
    """How many requests wait for an answer (the dashboard's count)."""
    return session.scalar(select(func.count()).select_from(OrderCancelRequest)
                          .where(OrderCancelRequest.state == "open")) or 0
