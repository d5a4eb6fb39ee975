"""When an order counts as delivered to the OMS: offered, then acknowledged (``oms_order_event``).

The ``oms`` outbox row of an order (destination ``oms``) goes through the same states as every
destination (:mod:`oms_bridge.store.outbox`). What moves it:

- **offered**: the OMS may have this version. Pull mode: the OMS read it through ``orders/``
  (:func:`record_served`; the row becomes ``waiting``: nothing is wrong, the OMS has not acted yet).
  Push mode: an ``order.created`` / ``order.updated`` event was sent and may have arrived
  (an answer came back, or it was lost).
- **acknowledged** (:func:`acknowledge`): the OMS answered the push with a 2xx, or acted on the
  order: a package webhook linked to it, an ``order_item_bulk_update`` of its items, or the explicit
  ``POST orders/<pk>/ack/``. Only then is the row ``sent``, for the version the OMS was offered
  (a row re-armed for a newer version the OMS has not seen stays open).

Reading alone no longer counts (it was a guess): an OMS that reads an order and then rejects it
leaves the order ``waiting``, where the admin sees it, instead of ``sent``.

Push events follow dj-whisperer: the body is ``{"event": {"type", "uuid"}, "payload"}`` written by
:func:`envelope_body` (``json.dumps`` defaults: ASCII escapes, ``", "`` / ``": "`` separators, as
whisperer/client.py serializes), and a version keeps its uuid and exact body for every resend.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from oms_bridge.store import bulk
from oms_bridge.store.lists import one_of
from oms_bridge.store.models import Delivery, Order, utcnow
from oms_bridge.store.models.oms_notify import OmsOrderEvent
from oms_bridge.store.outbox import mark_sent, mark_waiting_rows
from oms_bridge.store.rows import named, plain
from oms_bridge.store.uuids import new_uuids, random_uuids

__all__ = ["envelope_body", "event_for", "events_for", "record_served", "served_already", "acknowledge",
           "UNACKNOWLEDGED"]

DESTINATION = "oms"
#: hold code of a ``waiting`` row: offered (read), not acknowledged yet
UNACKNOWLEDGED = "oms_unacknowledged"


def envelope_body(event_type: str, event_uuid: str, payload: Mapping[str, Any]) -> str:
    """The event as dj-whisperer writes it: ``json.dumps`` with its defaults (see module doc). Pure."""
    return json.dumps({"event": {"type": event_type, "uuid": event_uuid}, "payload": payload})


def events_for(session: Session, orders: Sequence[Order], channel: str, *,
               versions: Mapping[int, int] | None = None) -> dict[int, OmsOrderEvent]:
    """The event row of each order's version (``versions``: order id → version, default the current one),
    made on first use: ``order.created`` unless an earlier version was already offered to the OMS,
    then ``order.updated``. One query for the whole batch once the rows exist; three more (offered versions, one
    insert, one read-back) when some are made.

    Unique on (order, version): a concurrent maker's row is used instead of a second one.
    """
    wanted = {o.id: (versions or {}).get(o.id, o.version) for o in orders}
    if not wanted:
        return {}
    found = {e.oms_order_id: e for e in session.scalars(select(OmsOrderEvent).where(
        OmsOrderEvent.oms_order_id.in_(list(wanted)))) if wanted[e.oms_order_id] == e.order_version}
    missing = [o for o in orders if o.id not in found]
    if not missing:
        return found
    _make_events(session, missing, wanted, channel)
    for event in session.scalars(select(OmsOrderEvent).where(OmsOrderEvent.oms_order_id.in_([o.id for o in missing]))):
        if wanted[event.oms_order_id] == event.order_version:
            found[event.oms_order_id] = event
    return found


def _make_events(session: Session, orders: Sequence[Order], wanted: Mapping[int, int], channel: str, *,
                 offered_at: datetime | None = None, offered: set[tuple[int, int]] | None = None) -> int:
    """Insert the event rows of these orders' ``wanted`` versions (kind: see :func:`events_for`) with one statement;
    a row a concurrent reader or worker made first wins (unique on order + version). ``offered_at``: made offered.
    ``offered``: the (order, version) pairs already offered when the caller has read them. Returns how many rows
    went in (-1: the driver could not tell)."""
    if offered is None:
        offered = set(session.execute(select(OmsOrderEvent.oms_order_id, OmsOrderEvent.order_version).where(
            OmsOrderEvent.oms_order_id.in_([o.id for o in orders]), OmsOrderEvent.offered_at.is_not(None))).tuples())
    earlier: dict[int, int] = {}
    for oid, v in offered:
        earlier[oid] = min(v, earlier.get(oid, v))
    now = utcnow()
    rows = []
    uuids, event_uuids = iter(new_uuids(len(orders))), iter(random_uuids(len(orders)))
    for order in orders:
        version = wanted[order.id]
        kind = "order.updated" if earlier.get(order.id, version) < version else "order.created"
        rows.append((order.id, version, channel, kind, next(event_uuids).hex, 0, order.ad_client_id,
                     order.ad_org_id, now, now, True, 0, 0, next(uuids), offered_at, offered_at))
    return bulk.insert_rows(session, OmsOrderEvent.__table__, _EVENT_COLUMNS, rows,
                            on_conflict=("oms_order_id", "order_version"))


def _offer(session: Session, state: _Unrecorded, now: datetime) -> None:
    """Pull mode: these orders' current versions are offered now. Missing rows go in offered; rows that existed
    unoffered (made by the push worker), or that a concurrent maker inserted first, are marked with one UPDATE.
    A first read loads no event objects and, with nobody else making rows, runs one statement."""
    wanted = {o.id: o.version for o in state.unoffered}
    new = [o for o in state.unoffered if (o.id, o.version) not in state.unoffered_rows]
    inserted = _make_events(session, new, wanted, "pull", offered_at=now, offered=state.offered) if new else 0
    keys = set(state.unoffered_rows)
    if inserted != len(new):  # some skipped: a concurrent maker's rows, which may be unoffered
        keys |= {(o.id, o.version) for o in new}
    if not keys:
        return
    key = tuple_(OmsOrderEvent.oms_order_id, OmsOrderEvent.order_version)
    session.execute(update(OmsOrderEvent).where(key.in_(sorted(keys)), OmsOrderEvent.offered_at.is_(None))
                    .values(offered_at=now, last_attempt_at=now, updated=now)
                    .execution_options(synchronize_session="fetch"))


_EVENT_COLUMNS = ("oms_order_id", "order_version", "channel", "event_type", "event_uuid", "attempts", "ad_client_id",
                  "ad_org_id", "created", "updated", "isactive", "createdby", "updatedby", "oms_order_event_uu",
                  "offered_at", "last_attempt_at")


def event_for(session: Session, order: Order, channel: str, *, version: int | None = None) -> OmsOrderEvent:
    """The event row of one order version (see :func:`events_for`)."""
    versions = {order.id: order.version if version is None else version}
    return events_for(session, [order], channel, versions=versions)[order.id]


def _rows(session: Session, order_ids: Iterable[int]) -> dict[int, Delivery]:
    ids = list(set(order_ids))
    if not ids:
        return {}
    return {r.oms_order_id: r for r in session.scalars(select(Delivery).where(
        Delivery.destination == DESTINATION, Delivery.oms_order_id.in_(ids)).order_by(Delivery.id))}


@dataclass
class _Unrecorded:
    """What reading a page of orders in pull mode has left to record (see :func:`_unrecorded`)."""

    unoffered: list[Order] = field(default_factory=list)  # current version never offered
    unoffered_rows: set[tuple[int, int]] = field(default_factory=set)  # ... of which the event row exists
    offered: set[tuple[int, int]] = field(default_factory=set)  # (order, version) offered before, any version
    rows: dict[tuple[int, int], int] = field(default_factory=dict)  # (oms row id, its version) → order id


def _unrecorded(session: Session, orders: Sequence[Order]) -> _Unrecorded:
    """What reading these orders in pull mode has left to record: versions never offered, and ``oms`` rows not yet
    ``waiting``/``sent`` for their version. Two small queries reading plain rows; what they found is reused to
    record it (no query is repeated)."""
    state = _Unrecorded()
    ids = [o.id for o in orders]
    if not ids:
        return state
    unoffered_rows = set()
    for oid, version, offered_at in plain(session, _EVENT_STATES, {"ids": ids}).tuples().all():
        (state.offered if offered_at is not None else unoffered_rows).add((oid, version))
    state.unoffered = [o for o in orders if (o.id, o.version) not in state.offered]
    state.unoffered_rows = {(o.id, o.version) for o in state.unoffered} & unoffered_rows
    versions = {o.id: o.version for o in orders}
    for r in plain(session, _OPEN_ROWS, {"ids": ids}).all():
        if r.order_version <= versions[r.oms_order_id]:
            state.rows[(r.id, r.order_version)] = r.oms_order_id
    return state


#: an ``oms`` row that records its version as offered (waiting for the OMS to act) or acknowledged
_SETTLED = or_(and_(Delivery.state == "sent", func.coalesce(Delivery.delivered_version, -1) == Delivery.order_version),
               and_(Delivery.state == "waiting", func.coalesce(Delivery.hold_code, "") == UNACKNOWLEDGED))
# Built once with the page's order ids as a parameter: every read of ``orders/`` runs them (issue 18).
_EVENT_STATES = select(OmsOrderEvent.oms_order_id, OmsOrderEvent.order_version, OmsOrderEvent.offered_at).where(
    one_of(OmsOrderEvent.oms_order_id, "ids"))
_OPEN_ROWS = select(named(Delivery.id), Delivery.oms_order_id, Delivery.order_version).where(
    Delivery.destination == DESTINATION, one_of(Delivery.oms_order_id, "ids"), ~_SETTLED)
_LEFT_TO_RECORD = select(func.count()).select_from(Order).where(one_of(Order.id, "ids"), ~exists().where(
    OmsOrderEvent.oms_order_id == Order.id, OmsOrderEvent.order_version == Order.version,
    OmsOrderEvent.offered_at.is_not(None)) | exists().where(
    Delivery.oms_order_id == Order.id, Delivery.destination == DESTINATION, Delivery.order_version <= Order.version,
    ~_SETTLED))


def served_already(session: Session, orders: Sequence[Order]) -> bool:
    """True when reading these orders (their current versions) leaves nothing to record: each was offered and its
    ``oms`` row says so. Lets a read of ``orders/`` that changes nothing stay a read-only transaction.

    One query for the page (the same conditions as :func:`_unrecorded`, counted in SQL): this runs on every poll.
    """
    ids = [o.id for o in orders]
    return not ids or not plain(session, _LEFT_TO_RECORD, {"ids": ids}).scalar()


def record_served(session: Session, orders: Sequence[Order], *, now: datetime | None = None) -> int:
    """Pull mode: the OMS read these orders (current versions). Returns how many of them had something to record
    (a version offered for the first time, an ``oms`` row made ``waiting``): 0 when the read changed nothing.

    Two small queries decide what is left to record (versions never offered, rows not yet ``waiting`` or
    ``sent`` for their version); then one insert of the event rows and one UPDATE of the ``oms`` rows per
    distinct reason and version (one for a page). A re-read of orders already recorded loads nothing more and
    writes nothing.
    """
    now = now or utcnow()
    state = _unrecorded(session, orders)
    if state.unoffered:
        _offer(session, state, now)
    versions = {o.id: o.version for o in orders}
    reasons = {key: f"read by the OMS (version {versions[oid]}); it counts as delivered once the OMS acts on it (a "
                    "package webhook, an item update or POST orders/<pk>/ack/)" for key, oid in state.rows.items()}
    mark_waiting_rows(session, reasons, destination=DESTINATION, code=UNACKNOWLEDGED)
    return len({o.id for o in state.unoffered} | set(state.rows.values()))


def _latest_offered(session: Session, order_ids: Sequence[int]) -> dict[int, OmsOrderEvent]:
    latest: dict[int, OmsOrderEvent] = {}
    for event in session.scalars(select(OmsOrderEvent).where(
            OmsOrderEvent.oms_order_id.in_(order_ids), OmsOrderEvent.offered_at.is_not(None))
            .order_by(OmsOrderEvent.order_version)):
        latest[event.oms_order_id] = event
    return latest


def acknowledge(session: Session, order_ids: Iterable[int], how: str, *, now: datetime | None = None) -> int:
    """The OMS acted on these orders (or answered 2xx): mark their rows ``sent`` for the version it was
    offered. A row re-armed for a version the OMS has not been offered stays as it is (the
    acknowledgement is still recorded on the event). Returns how many rows became ``sent``.

    Rows first, then events: the push worker records in the same order, so the two never deadlock.
    """
    now = now or utcnow()
    rows = _rows(session, order_ids)
    events = _latest_offered(session, list(rows))
    marked = 0
    for order_id, row in rows.items():
        event = events.get(order_id)
        if event is None:
            continue
        if row.state != "sent" and event.order_version >= row.order_version:
            mark_sent(row, now=now, external_ref=f"acknowledged v{event.order_version}: {how}"[:255])
            marked += 1
    for event in events.values():
        if event.acknowledged_at is None:
            event.acknowledged_at, event.acknowledged_by = now, how[:120]
    return marked
