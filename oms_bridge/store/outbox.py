"""The delivery outbox: one mechanism for every destination (ERP, OMS, logistics push-back).

GetOrder arms rows (:func:`arm`) when an order is new or changed; a destination worker leases due
rows (:func:`lease_due`), tries them with no store transaction open, and records the outcome on the
row it gets back from :func:`leased_row` with exactly one of :func:`mark_sent`, :func:`mark_held`,
:func:`mark_waiting`, :func:`mark_deferred` (try again at a given time; not a failure, no attempt counted),
:func:`mark_retry` (which turns into ``dead`` after ``max_attempts``). A fix
(e.g. a new SKU mapping) re-arms the held rows it cures with :func:`rearm_held`.

Leases, the one claim mechanism of every destination (ERP, logistics push-back): a worker never
talks to the outside world inside a store transaction (on SQLite that would hold the file's write
lock, and every other writer's 30 s busy timeout, for as long as a slow ERP or marketplace takes; on
PostgreSQL it would hold row locks during I/O). So a short transaction takes the due rows and marks
them leased: ``leased_until`` = the lease's end (and state ``retry`` with ``next_attempt_at`` = the
same time, so a dead worker's rows read as "retrying"), which makes them invisible to other workers
until then. If the worker dies, its rows simply fall due again when the lease ends (the destination
makes the repeat safe: the ERP looks the order up by POReference first; logistics records each
accepted push and only repeats the one in flight when the worker died).

A lease is never stolen: an admin retry (:func:`rearm`, :func:`rearm_held`) leaves a leased row
alone (the caller can say so with :func:`count_leased`), and a newer order version (:func:`arm`)
resets the row but keeps the lease, so nobody sends the row again while the first send may still
be running (two ERP sales orders for one order). The outcome is recorded only while the lease still
holds and the row still asks for the version that was sent (:func:`leased_row`); every ``mark_*``
ends the lease.

States: ``pending`` (due now), ``retry`` (due at ``next_attempt_at``), ``sent``, ``held``
(waits for the admin or a fix), ``waiting`` (nothing is wrong: the order is not ready for this
destination yet, e.g. unpaid; the marketplace change that makes it ready re-arms it through
:func:`arm`), ``dead`` (gave up; ``oms-bridge erp retry`` re-arms it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from oms_bridge.store.causes import DEFERRED, FAILED, GAVE_UP, Cause, cause_of_hold
from oms_bridge.store.lists import one_of
from oms_bridge.store.models import Delivery, Order, utcnow
from oms_bridge.store.telemetry import count_delivery

__all__ = ["arm", "Lease", "lease_due", "leased_row", "leased_rows", "mark_sent", "mark_held", "mark_waiting",
           "mark_waiting_rows", "mark_deferred", "mark_retry", "rearm_held", "rearm", "backoff_delay", "count_leased",
           "not_leased",
           "release", "record_exchange", "set_cause"]


def arm(session: Session, order: Order, destinations: Iterable[str], *, action: str = "create") -> list[Delivery]:
    """Make each destination (re)deliver the order's current version.

    Creates the row if missing (unique on order + destination), otherwise sets it back to
    ``pending`` for the new ``order.version`` and resets the attempt counter. Callers run this in
    the same transaction as the order upsert, so an order never exists without its rows. A row a
    worker holds keeps its lease (``leased_until``): it is due again once that worker is done.
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
        set_cause(row, None)
        row.last_error = None
        row.order_version = order.version
        row.armed_at = utcnow()
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Lease:
    """One leased row, and what identifies the lease when the outcome is recorded.

    ``row`` is the :class:`Delivery` as leased (attached to the leasing session, plain data after it
    closes: sessions do not expire on commit). ``deadline`` is a ``time.monotonic()`` value a little
    before the lease ends: past it, the worker must not start another outside call for this row,
    because another worker may own it by now.
    """

    row: Delivery = field(compare=False)
    delivery_id: int
    order_version: int
    attempts: int
    until: datetime
    deadline: float = field(compare=False)

    def expired(self) -> bool:
        """True once the lease is (nearly) over: start no more outside calls for this row."""
        return time.monotonic() >= self.deadline


def lease_due(session: Session, destination: str, *, lease_seconds: float, now: datetime | None = None,
              limit: int = 100, exclude: Collection[int] = (), where: ColumnElement[bool] | None = None) -> list[Lease]:
    """Claim up to ``limit`` due rows of ``destination`` and lease them for ``lease_seconds``.

    Why: the caller then closes this (short) transaction and does its I/O with no store transaction
    open; a worker that dies leaves leased rows that fall due again when the lease ends (see the
    module doc). Claiming is race-free: PostgreSQL ``FOR UPDATE SKIP LOCKED``; on SQLite call it
    inside ``session_scope(settings, immediate=True)`` (BEGIN IMMEDIATE). ``exclude`` skips rows
    this run already worked on; ``where`` narrows the rows further (e.g. not the orders of a channel whose
    destination refused this run). The lease is written with the caller's ``now`` (default: the current
    UTC time); the returned :class:`Lease` names the row's version, attempts and lease end, which
    :func:`leased_row` checks before the outcome is recorded.
    """
    now = now or utcnow()
    started = time.monotonic()
    until = now + timedelta(seconds=lease_seconds)
    stmt = _due(destination, now).limit(limit)
    if exclude:
        stmt = stmt.where(Delivery.id.notin_(list(exclude)))
    if where is not None:
        stmt = stmt.where(where)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    leases = []
    for row in session.scalars(stmt).all():
        row.state, row.next_attempt_at, row.leased_until = "retry", until, until
        leases.append(Lease(row, row.id, row.order_version, row.attempts, until,
                            started + lease_seconds * 0.9))
    session.flush()
    return leases


def leased_row(session: Session, lease: Lease) -> Delivery | None:
    """The stored row, locked (PostgreSQL), if ``lease`` still holds it for the leased version; else ``None``.

    ``None`` means: the lease ended and the row was leased again by another worker (or re-armed after
    the lease ended), or GetOrder re-armed the row for a newer order version meanwhile. Its outcome
    belongs to that newer claim, so the caller drops its own (and counts it as superseded); in the
    second case this call ends the lease, so the new version is due at once.
    """
    return leased_rows(session, [lease])[0]


#: rows read per statement by :func:`leased_rows` (well under SQLite's bound-parameter limit)
_READ_CHUNK = 500


def leased_rows(session: Session, leases: Sequence[Lease]) -> list[Delivery | None]:
    """:func:`leased_row` for each lease, in order, with one SELECT per 500 rows instead of one per row
    (a batch's outcomes are recorded together); PostgreSQL locks the rows in id order."""
    lock = session.get_bind().dialect.name == "postgresql"
    ids = sorted({lease.delivery_id for lease in leases})
    found: dict[int, Delivery] = {}
    for start in range(0, len(ids), _READ_CHUNK):
        stmt = (select(Delivery).where(Delivery.id.in_(ids[start:start + _READ_CHUNK])).order_by(Delivery.id)
                .execution_options(populate_existing=True))
        if lock:
            stmt = stmt.with_for_update()
        found.update((row.id, row) for row in session.scalars(stmt))
    return [_still_leased(found.get(lease.delivery_id), lease) for lease in leases]


def _still_leased(row: Delivery | None, lease: Lease) -> Delivery | None:
    if row is None or row.leased_until is None or abs((row.leased_until - lease.until).total_seconds()) > 0.001:
        return None
    if row.order_version != lease.order_version or row.attempts != lease.attempts:
        row.leased_until = None
        return None
    return row


def not_leased(now: datetime | None = None):
    """SQL condition: no worker holds the row now (never leased, or the lease is over)."""
    now = now or utcnow()
    return or_(Delivery.leased_until.is_(None), Delivery.leased_until <= now)


def count_leased(session: Session, destination: str, *, order_ids: Iterable[int] | None = None,
                 now: datetime | None = None) -> int:
    """How many rows of ``destination`` (optionally of these orders) a worker holds right now."""
    now = now or utcnow()
    stmt = select(func.count()).select_from(Delivery).where(Delivery.destination == destination,
                                                            Delivery.leased_until > now)
    if order_ids is not None:
        stmt = stmt.where(Delivery.oms_order_id.in_(list(order_ids)))
    return int(session.scalar(stmt) or 0)


def _due(destination: str, now: datetime):
    """Rows of ``destination`` due at ``now`` (pending, or retry whose time has come), oldest first."""
    return (
        select(Delivery)
        .where(Delivery.destination == destination)
        .where(or_(Delivery.state == "pending",
                   and_(Delivery.state == "retry", Delivery.next_attempt_at <= now)))
        .where(not_leased(now))
        .order_by(Delivery.id)
    )


def mark_sent(row: Delivery, *, now: datetime | None = None, erp_record_id: int | None = None,
              erp_document_no: str | None = None, external_ref: str | None = None) -> None:
    """The destination has the order's version ``row.order_version``."""
    row.state = "sent"
    row.leased_until = None
    count_delivery(row.destination, "sent")
    row.sent_at = now or utcnow()
    row.delivered_version = row.order_version
    row.last_error = None
    row.hold_code = None
    set_cause(row, None)
    row.next_attempt_at = None
    if erp_record_id is not None:
        row.erp_record_id = erp_record_id
    if erp_document_no is not None:
        row.erp_document_no = erp_document_no
    if external_ref is not None:
        row.external_ref = external_ref


def set_cause(row: Delivery, cause: Cause | None) -> None:
    """Record why the row is not delivered (``None``: nothing is wrong), see :mod:`oms_bridge.store.causes`."""
    row.cause_code = cause.code if cause else None
    row.cause_subject = cause.subject if cause else None


def record_exchange(row: Delivery, request: str | None, answer: str | None) -> None:
    """Keep the last attempt's request and answer for the admin (callers pass texts without personal data)."""
    row.last_request = request[:20_000] if request else None
    row.last_answer = answer[:20_000] if answer else None


def mark_held(row: Delivery, reason: str, *, code: str | None = None) -> None:
    """Stop trying until the cause is fixed. ``reason`` is the sentence the admin reads;
    ``code`` (e.g. ``missing_sku:ABC-1``) lets the fix find and re-arm exactly these rows; the cause the
    pages group by is derived from it."""
    row.state = "held"
    row.leased_until = None
    count_delivery(row.destination, "held")
    row.last_error = reason
    row.hold_code = code
    set_cause(row, cause_of_hold(code))
    row.next_attempt_at = None


def _waiting(reason: str, code: str | None) -> dict[str, Any]:
    """The columns of a ``waiting`` row (see :func:`mark_waiting`)."""
    cause = cause_of_hold(code)
    return {"state": "waiting", "leased_until": None, "last_error": reason, "hold_code": code,
            "cause_code": cause.code if cause else None, "cause_subject": cause.subject if cause else None,
            "next_attempt_at": None}


def mark_waiting(row: Delivery, reason: str, *, code: str | None = None) -> None:
    """Not for this destination yet, and nobody has to act (e.g. an unpaid order for the ERP).

    Unlike ``held`` this is no alarm: dashboards do not count it as a problem. GetOrder re-arms
    the row when the marketplace reports the change that makes the order ready.
    """
    for name, value in _waiting(reason, code).items():
        setattr(row, name, value)
    count_delivery(row.destination, "waiting")



_ROW = Delivery.__table__.c
#: built once (a first read of ``orders/`` runs it on every page): the rows by id, while at the version seen
_MARK_WAITING = (update(Delivery.__table__)
                 .where(one_of(_ROW.oms_delivery_id, "ids"),
                        _ROW.order_version == bindparam("seen"))
                 .values({name: bindparam(name) for name in _waiting("", None)}))


def mark_waiting_rows(session: Session, rows: Mapping[tuple[int, int], str], *, destination: str,
                      code: str | None = None) -> int:
    """:func:`mark_waiting` for many rows not loaded as objects: ``rows`` maps (row id, the order version the
    caller saw on it) to its reason. One UPDATE per distinct (reason, version), usually one for a whole page (the
    OMS's first read of ``orders/`` marks 100 rows; as objects they cost more than the rest of recording it). A
    row whose version moved on since the caller read it (GetOrder re-armed it) is left as it is. Returns how many
    rows changed."""
    groups: dict[tuple[str, int], list[int]] = {}
    for (row_id, version), reason in rows.items():
        groups.setdefault((reason, version), []).append(row_id)
    changed = 0
    session.flush()
    for (reason, version), ids in groups.items():
        changed += session.execute(_MARK_WAITING, {"ids": ids, "seen": version, **_waiting(reason, code)}).rowcount
    count_delivery(destination, "waiting", changed)
    return changed


def mark_deferred(row: Delivery, reason: str, *, until: datetime, code: str | None = None) -> None:
    """Not yet, and nothing failed: look again at ``until`` (e.g. waiting for the OMS to read an order on hold
    before a cancellation request is decided). Unlike :func:`mark_retry` no attempt is counted, so waiting
    never ends as ``dead``."""
    row.state = "retry"
    row.last_error = reason
    row.hold_code = code
    set_cause(row, cause_of_hold(code) if code else Cause(DEFERRED))
    row.next_attempt_at = until
    row.leased_until = None


def release(row: Delivery) -> None:
    """The worker did not try this row (e.g. its destination refused the login): due again now, attempts
    unchanged, lease over. The run that released it leaves it alone; the next run takes it."""
    row.state = "pending"
    row.next_attempt_at = None
    row.leased_until = None


def backoff_delay(attempts: int, *, base_seconds: float = 60.0, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential backoff with jitter: ~1, 2, 4 … minutes, capped at an hour."""
    delay = min(cap_seconds, base_seconds * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


def mark_retry(row: Delivery, error: str, *, max_attempts: int, now: datetime | None = None,
               retry_after: float | None = None, failure: str | None = None) -> None:
    """A transient failure: try again later, or give up (``dead``) after ``max_attempts``.

    ``failure`` is the failure's kind without the order in it (``the ERP did not answer``, ``HTTP 503``): the
    cause's subject, so retrying and dead rows group by what failed."""
    now = now or utcnow()
    row.leased_until = None
    row.attempts += 1
    row.last_error = error
    set_cause(row, Cause(FAILED, failure))
    if row.attempts >= max_attempts:
        count_delivery(row.destination, "dead")
        set_cause(row, Cause(GAVE_UP, failure))
        row.state = "dead"
        row.next_attempt_at = None
        row.last_error = f"gave up after {row.attempts} attempts: {error}"
        return
    row.state = "retry"
    count_delivery(row.destination, "retry")
    delay = timedelta(seconds=retry_after) if retry_after is not None else backoff_delay(row.attempts)
    row.next_attempt_at = now + delay


def rearm_held(session: Session, destination: str, *, code: str | None = None,
               code_prefix: str | None = None) -> int:
    """Put held rows back to pending (all, one hold code, or a code prefix). Returns how many.

    A held row is never leased; the condition only keeps the one rule of :func:`rearm` explicit."""
    conditions = [Delivery.destination == destination, Delivery.state == "held", not_leased()]
    if code is not None:
        conditions.append(Delivery.hold_code == code)
    if code_prefix is not None:
        conditions.append(Delivery.hold_code.startswith(code_prefix))
    result = session.execute(
        update(Delivery).where(*conditions)
        .values(state="pending", next_attempt_at=None, attempts=0, leased_until=None, updated=utcnow(),
                armed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def rearm(session: Session, destination: str, *, order_ids: Iterable[int] | None = None,
          states: Sequence[str] = ("held", "dead", "retry")) -> int:
    """Admin retry: rows in ``states`` (optionally only these orders) become pending again.

    A row a worker holds is left alone (its state is ``retry`` during the lease): re-arming it would let a
    second worker send it while the first may still be sending (two ERP sales orders for one order).
    :func:`count_leased` tells the caller how many were skipped that way.
    """
    conditions = [Delivery.destination == destination, Delivery.state.in_(states), not_leased()]
    if order_ids is not None:
        conditions.append(Delivery.oms_order_id.in_(list(order_ids)))
    result = session.execute(
        update(Delivery).where(*conditions)
        .values(state="pending", next_attempt_at=None, attempts=0, leased_until=None, updated=utcnow(),
                armed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
