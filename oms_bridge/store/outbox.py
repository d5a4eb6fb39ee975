"""The delivery outbox: one mechanism for every destination (ERP, OMS, logistics push-back).

GetOrder arms rows (:func:`arm`) when an order is new or changed; a destination worker claims due
rows (:func:`claim_due`), tries them, and records the outcome with exactly one of
:func:`mark_sent`, :func:`mark_held`, :func:`mark_retry` (which turns into ``dead`` after
``max_attempts``). A fix (e.g. a new SKU mapping) re-arms the held rows it cures with
:func:`rearm_held`.

States: ``pending`` (due now), ``retry`` (due at ``next_attempt_at``), ``sent``, ``held``
(waits for the admin or a fix), ``waiting`` (nothing is wrong: the order is not ready for this
destination yet, e.g. unpaid; the marketplace change that makes it ready re-arms it through
:func:`arm`), ``dead`` (gave up; ``oms-bridge erp retry`` re-arms it).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from oms_bridge.store.models import Delivery, Order, utcnow

__all__ = ["arm", "claim_due", "mark_sent", "mark_held", "mark_waiting", "mark_retry", "rearm_held", "rearm",
           "backoff_delay"]


def arm(session: Session, order: Order, destinations: Iterable[str], *, action: str = "create") -> list[Delivery]:
    """Make each destination (re)deliver the order's current version.

    Creates the row if missing (unique on order + destination), otherwise sets it back to
    ``pending`` for the new ``order.version`` and resets the attempt counter. Callers run this in
    the same transaction as the order upsert, so an order never exists without its rows.
    """
    rows = []
    existing = {d.destination: d for d in session.scalars(select(Delivery).where(Delivery.oms_order_id == order.id))}
    for dest in destinations:
        row = existing.get(dest)
        if row is None:
            row = Delivery(oms_order_id=order.id, destination=dest, ad_client_id=order.ad_client_id,
                           ad_org_id=order.ad_org_id)
            session.add(row)
        row.state = "pending"
        row.action = action
        row.attempts = 0
        row.next_attempt_at = None
        row.hold_code = None
        row.last_error = None
        row.order_version = order.version
        rows.append(row)
    return rows


def claim_due(session: Session, destination: str, *, now: datetime | None = None, limit: int = 100,
              lock: bool = True) -> Sequence[Delivery]:
    """Rows of ``destination`` due now (pending, or retry whose time has come), oldest first.

    On PostgreSQL ``lock=True`` uses ``FOR UPDATE SKIP LOCKED`` so two workers never take the same
    row; on SQLite, begin the session with ``session_scope(immediate=True)`` for the same effect.
    """
    now = now or utcnow()
    stmt = (
        select(Delivery)
        .where(Delivery.destination == destination)
        .where(or_(Delivery.state == "pending",
                   and_(Delivery.state == "retry", Delivery.next_attempt_at <= now)))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalars(stmt).all()


def mark_sent(row: Delivery, *, now: datetime | None = None, erp_record_id: int | None = None,
              erp_document_no: str | None = None, external_ref: str | None = None) -> None:
    """The destination has the order's version ``row.order_version``."""
    row.state = "sent"
    row.sent_at = now or utcnow()
    row.delivered_version = row.order_version
    row.last_error = None
    row.hold_code = None
    row.next_attempt_at = None
    if erp_record_id is not None:
        row.erp_record_id = erp_record_id
    if erp_document_no is not None:
        row.erp_document_no = erp_document_no
    if external_ref is not None:
        row.external_ref = external_ref


def mark_held(row: Delivery, reason: str, *, code: str | None = None) -> None:
    """Stop trying until the cause is fixed. ``reason`` is the sentence the admin reads;
    ``code`` (e.g. ``missing_sku:ABC-1``) lets the fix find and re-arm exactly these rows."""
    row.state = "held"
    row.last_error = reason
    row.hold_code = code
    row.next_attempt_at = None


def mark_waiting(row: Delivery, reason: str, *, code: str | None = None) -> None:
    """Not for this destination yet, and nobody has to act (e.g. an unpaid order for the ERP).

    Unlike ``held`` this is no alarm: dashboards do not count it as a problem. GetOrder re-arms
    the row when the marketplace reports the change that makes the order ready.
    """
    row.state = "waiting"
    row.last_error = reason
    row.hold_code = code
    row.next_attempt_at = None


def backoff_delay(attempts: int, *, base_seconds: float = 60.0, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential backoff with jitter: ~1, 2, 4 … minutes, capped at an hour."""
    delay = min(cap_seconds, base_seconds * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


def mark_retry(row: Delivery, error: str, *, max_attempts: int, now: datetime | None = None,
               retry_after: float | None = None) -> None:
    """A transient failure: try again later, or give up (``dead``) after ``max_attempts``."""
    now = now or utcnow()
    row.attempts += 1
    row.last_error = error
    if row.attempts >= max_attempts:
        row.state = "dead"
        row.next_attempt_at = None
        row.last_error = f"gave up after {row.attempts} attempts: {error}"
        return
    row.state = "retry"
    delay = timedelta(seconds=retry_after) if retry_after is not None else backoff_delay(row.attempts)
    row.next_attempt_at = now + delay


def rearm_held(session: Session, destination: str, *, code: str | None = None,
               code_prefix: str | None = None) -> int:
    """Put held rows back to pending (all, one hold code, or a code prefix). Returns how many."""
    conditions = [Delivery.destination == destination, Delivery.state == "held"]
    if code is not None:
        conditions.append(Delivery.hold_code == code)
    if code_prefix is not None:
        conditions.append(Delivery.hold_code.startswith(code_prefix))
    result = session.execute(
        update(Delivery).where(*conditions)
        .values(state="pending", next_attempt_at=None, attempts=0, updated=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def rearm(session: Session, destination: str, *, order_ids: Iterable[int] | None = None,
          states: Sequence[str] = ("held", "dead", "retry")) -> int:
    """Admin retry: rows in ``states`` (optionally only these orders) become pending again."""
    conditions = [Delivery.destination == destination, Delivery.state.in_(states)]
    if order_ids is not None:
        conditions.append(Delivery.oms_order_id.in_(list(order_ids)))
    result = session.execute(
        update(Delivery).where(*conditions)
        .values(state="pending", next_attempt_at=None, attempts=0, updated=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
