"""Order upsert (the binder between canonical orders and ``oms_order``) and order queries.

:func:`upsert_orders` stores a batch of canonical orders for one channel in the caller's
transaction. Why it is built this way (DESIGN principles 1 and 2):

- **Keyed by the database.** New orders go in with ``INSERT … ON CONFLICT (oms_channel_id,
  external_id) DO NOTHING``; a conflict means another process stored it first, and the order takes
  the update path. There is no check-then-insert window in which two runs could both insert.
- **Unchanged re-read is a no-op.** ``payload_hash`` is the SHA-256 of the canonical content
  (not the raw payload, whose volatile fields would make every re-read look new). Equal hash →
  nothing is written, no version bump, no delivery re-armed.
- **Changes re-notify.** A changed order updates the row and its lines (in place, by line number: a line's
  OMS items keep their ids), bumps ``version``,
  appends ``oms_order_status`` when the status changed, and re-arms its ``erp`` and ``oms``
  delivery rows in the same transaction (an order never exists without its delivery rows). A new
  order's lines get their OMS items (:mod:`oms_bridge.store.order_items`) in the same transaction.
  Action: ``cancel`` for a destination that already received the order when it becomes cancelled,
  otherwise ``create`` (a destination that never had it receives the current state, cancelled or
  not, and decides itself - the choice is documented for the ERP/OMS sinks).
- **One bad order never stops the rest.** An :class:`~platforms.base.UnmappableOrder` is stored
  with its raw payload, ``is_held='Y'`` and ``held_reason``; no delivery is armed for it. Without an
  external id it is keyed ``unmappable-<sha256 of the raw payload>`` so a re-read is still a no-op.
  When a later read maps, the row is released (held cleared, deliveries armed).
- **Cancellation requests** (:attr:`~platforms.base.Order.cancel_request`) are kept in ``oms_cancel_request``
  by :func:`oms_bridge.store.cancel_requests.sync`, in the same transaction. An order the platform listed only for
  its request (``request_only``: momo's stop list has no prices or address) changes nothing but the request on a
  stored order (its version is bumped so the OMS reads it again); one the store has never seen is stored held
  (no content to deliver) with its request, which is still answered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from oms_bridge.model.orders import Order as CanonicalOrder
from oms_bridge.model.orders import UnmappableOrder
from oms_bridge.store import bulk, cancel_requests, order_items, outbox, transitions
from oms_bridge.store.models import Channel, Delivery, Order, OrderCancelRequest, OrderLine, OrderStatus, utcnow
from oms_bridge.store.uuids import new_uuids

__all__ = ["UpsertCounts", "upsert_orders", "payload_hash", "unmappable_key", "list_orders", "order_detail",
           "OrderNotFound", "DESTINATIONS"]

DESTINATIONS = transitions.DESTINATIONS
REQUEST_ONLY_HELD = ("{platform} listed order {number} only in its cancellation / stop-shipping requests (no prices, "
                     "address or times), and the bridge never read the order itself: it is not sent to the ERP or the "
                     "OMS; its request is answered (see `oms-bridge orders show {number}`)")


class OrderNotFound(LookupError):
    """No stored order matches (or the number is ambiguous across channels)."""


@dataclass
class UpsertCounts:
    """What a batch did to the store."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    held: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.held += other.held


# ------------------------------------------------------------------------------------ canonical form
def _dataclass_dict(value: Any) -> dict[str, Any]:
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return {name: getattr(value, name) for name in names}


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")  # 610 and 610.00 are the same amount


#: Field names per dataclass type (``dataclasses.fields`` builds a new tuple on every call).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
#: Converter per exact type, looked up before the general rules (the hash of every order passes here).
_CONVERTERS: dict[type, Any] = {Decimal: _decimal_text, datetime: datetime.isoformat}


def _json_default(value: Any) -> Any:
    """What the C JSON encoder cannot write itself (it calls this only for those, so it stays fast)."""
    convert = _CONVERTERS.get(type(value))
    if convert is not None:
        return convert(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _CONVERTERS[type(value)] = _dataclass_dict
        return _dataclass_dict(value)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _dumps(value: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, default=_json_default)


def _raw_text(raw: Any) -> str:
    """The payload as stored: verbatim text, or JSON in the platform's own key order."""
    return raw if isinstance(raw, str) else _dumps(raw)


def payload_hash(item: CanonicalOrder | UnmappableOrder) -> str:
    """SHA-256 of the canonical content (raw payload excluded for mapped orders)."""
    if isinstance(item, UnmappableOrder):
        raw = item.raw if isinstance(item.raw, str) else _dumps(item.raw, sort_keys=True)
        content: Any = {"unmappable": raw, "reason": item.reason}
    else:
        # Field by field, not dataclasses.asdict: that would deep-copy the raw payload only to drop it.
        content = _dataclass_dict(item)
        del content["raw"], content["channel"]
    return hashlib.sha256(_dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def unmappable_key(item: UnmappableOrder) -> str:
    """The external id a held order is stored under (its own, or a hash of its raw payload)."""
    if item.external_id:
        return item.external_id[:64]
    raw = item.raw if isinstance(item.raw, str) else _dumps(item.raw, sort_keys=True)
    return "unmappable-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


def _order_values(item: CanonicalOrder) -> dict[str, Any]:
    a, b = item.shipping_address, item.buyer
    return {
        "status": item.status, "platform_status": item.platform_status,
        "order_created": item.created_at, "order_updated": item.updated_at, "paid_at": item.paid_at,
        "currency": item.currency, "total_amount": item.total, "shipping_fee": item.shipping_fee,
        "discount_amount": item.discount, "payment_method": item.payment_method,
        "buyer_id": b.id, "buyer_name": b.name, "buyer_email": b.email, "buyer_phone": b.phone,
        "ship_name": a.name, "ship_phone": a.phone, "ship_country": a.country, "ship_state": a.state,
        "ship_city": a.city, "ship_district": a.district, "ship_zip": a.zip,
        "ship_address1": a.line1 or a.full, "ship_address2": a.line2 if a.line1 else None,
        "note": item.note, "raw_payload": _raw_text(item.raw), "is_held": False, "held_reason": None,
        "tracking_number": item.tracking_number,
    }


def _held_values(item: UnmappableOrder) -> dict[str, Any]:
    return {"raw_payload": _raw_text(item.raw), "is_held": True, "held_reason": item.reason}


def _new_values(item: CanonicalOrder | UnmappableOrder) -> dict[str, Any]:
    """Column values of a new order; one known only from its request is stored held (module doc)."""
    if isinstance(item, UnmappableOrder):
        return _held_values(item)
    values = _order_values(item)
    if item.request_only:
        platform = item.platform_status or "the marketplace"
        values.update(is_held=True, held_reason=REQUEST_ONLY_HELD.format(platform=platform, number=item.external_id))
    return values


def _line_no(index: int) -> int:
    """The line number of the marketplace's ``index``-th line (10, 20, …)."""
    return (index + 1) * 10


def _sync_lines(order: Order, item: CanonicalOrder) -> None:
    """Make the stored order's lines those of ``item``, keeping each line's row (and id) by its line number.

    Why in place: a line's id is what its OMS items (``oms_order_item``, one per unit) hang on, and their ids are the
    OMS's ``omnitron_id``s, which come back in package webhooks. Deleting the lines and inserting them again on every
    marketplace change (paid → ready to ship is one) dropped the items with them (the foreign key cascades), and the
    OMS's next read was given new item ids. A line the marketplace no longer lists is deleted, its items with it; a
    line whose quantity changes keeps its row, and the OMS's next read adds or deactivates units
    (:func:`oms_bridge.oms.items.ensure_items_of`).
    """
    wanted = {_line_no(i): {"external_line_id": ln.external_line_id, "sku": ln.sku, "name": ln.name, "qty": ln.qty,
                            "unit_price": ln.unit_price, "discount": ln.discount} for i, ln in enumerate(item.lines)}
    for line in list(order.lines):
        values = wanted.pop(line.line_no, None)
        if values is None:
            order.lines.remove(line)  # delete-orphan
            continue
        for name, value in values.items():
            if getattr(line, name) != value:
                setattr(line, name, value)
    for line_no, values in wanted.items():
        order.lines.append(OrderLine(oms_order_id=order.id, line_no=line_no, ad_client_id=order.ad_client_id,
                                     ad_org_id=order.ad_org_id, **values))


# -------------------------------------------------------------------------------------------- upsert
_ORDER_COLUMNS = tuple(_order_values(CanonicalOrder(
    external_id="x", status="paid", platform_status="x", created_at=utcnow(), updated_at=utcnow(), currency="TWD",
    lines=())).keys())


#: Columns of a new ``oms_order`` row, in the order the bulk insert binds them.
_INSERT_COLUMNS = _ORDER_COLUMNS + ("oms_channel_id", "external_id", "payload_hash", "version", "ad_client_id",
                                    "ad_org_id", "created", "updated", "isactive", "createdby", "updatedby",
                                    "oms_order_uu")
_AD_COLUMNS = ("ad_client_id", "ad_org_id", "created", "updated", "isactive", "createdby", "updatedby")
_LINE_COLUMNS = ("oms_order_id", "line_no", "external_line_id", "sku", "name", "qty", "unit_price", "discount",
                 "oms_orderline_uu") + _AD_COLUMNS
_HISTORY_COLUMNS = ("oms_order_id", "status", "platform_status", "changed_at", "oms_process_run_id",
                    "oms_order_status_uu") + _AD_COLUMNS
_DELIVERY_COLUMNS = ("oms_order_id", "destination", "state", "action", "attempts", "order_version", "armed_at",
                     "oms_delivery_uu") + _AD_COLUMNS
_REQUEST_COLUMNS = ("oms_order_id", "state", "reference", "reason", "isallowed", "requested_at", "seen_at",
                    "order_version", "oms_cancel_request_uu") + _AD_COLUMNS


def _insert_new(session: Session, channel_id: int, keys: list[str], rows: list[tuple]) -> dict[str, int]:
    """Insert new orders with ``INSERT … ON CONFLICT DO NOTHING``; external id → new id of the rows *we* inserted.

    A key that exists already (another process stored it a moment ago) is skipped by the database; the rows
    read back carry the UUID we generated only where our insert won, which is how ours are told apart.
    """
    bulk.insert_rows(session, Order.__table__, _INSERT_COLUMNS, rows, on_conflict=("oms_channel_id", "external_id"))
    ours = {row[-1]: key for key, row in zip(keys, rows, strict=True)}
    found = session.execute(select(Order.id, Order.external_id, Order.uu).where(
        Order.oms_channel_id == channel_id, Order.external_id.in_(keys))).all()
    return {ext: oid for oid, ext, uu in found if ours.get(uu) == ext}


def upsert_orders(session: Session, channel_id: int, orders: Iterable[CanonicalOrder | UnmappableOrder],
                  run_id: int | None = None, *, now: datetime | None = None) -> UpsertCounts:
    """Store a batch for one channel (see module doc); the caller commits. Returns the counts.

    New orders go in with a handful of statements per batch (one bulk insert each for orders, lines,
    status rows, delivery rows and cancellation requests, through :mod:`oms_bridge.store.bulk`), so a
    100,000-order first load is not 600,000 round trips; known orders cost one lookup per batch and,
    when unchanged, nothing more.
    """
    now = now or utcnow()
    counts = UpsertCounts()
    keyed: dict[str, CanonicalOrder | UnmappableOrder] = {}
    for item in orders:  # the same order twice in one batch: the later read wins
        key = unmappable_key(item) if isinstance(item, UnmappableOrder) else item.external_id
        keyed[key] = item
    if not keyed:
        return counts
    client_id, org_id = session.execute(select(Channel.ad_client_id, Channel.ad_org_id)
                                        .where(Channel.id == channel_id)).one_or_none() or (0, 0)
    known = dict(session.execute(
        select(Order.external_id, Order.payload_hash)
        .where(Order.oms_channel_id == channel_id, Order.external_id.in_(list(keyed)))
    ).all())
    digests = {key: payload_hash(item) for key, item in keyed.items()}
    fresh = [key for key in keyed if key not in known]
    inserted: dict[str, int] = {}
    if fresh:
        rows = []
        for key, uu in zip(fresh, new_uuids(len(fresh)), strict=True):
            values = _new_values(keyed[key])
            values.update(oms_channel_id=channel_id, external_id=key, payload_hash=digests[key], version=1,
                          ad_client_id=client_id, ad_org_id=org_id, created=now, updated=now, isactive=True,
                          createdby=0, updatedby=0, oms_order_uu=uu)
            rows.append(tuple(values.get(name) for name in _INSERT_COLUMNS))
        inserted = _insert_new(session, channel_id, fresh, rows)
        _children_of_new(session, {k: (inserted[k], keyed[k]) for k in inserted}, run_id, now, client_id, org_id)
        for key in inserted:
            item = keyed[key]
            counts.new += 1
            counts.held += isinstance(item, UnmappableOrder) or bool(getattr(item, "request_only", False))
    for key, item in keyed.items():
        if key in inserted:
            continue
        if isinstance(item, CanonicalOrder) and item.request_only:
            if _apply_request(session, channel_id, key, item, now):
                counts.changed += 1
            else:
                counts.unchanged += 1
            continue
        if known.get(key) == digests[key]:
            counts.unchanged += 1
            continue
        # Known and changed, or inserted by someone else a moment ago: the update path, under a row lock.
        if _update(session, channel_id, key, item, digests[key], run_id, now) == "unchanged":
            counts.unchanged += 1
        else:
            counts.changed += 1
            counts.held += isinstance(item, UnmappableOrder)
    session.flush()
    return counts


def _children_of_new(session: Session, new: dict[str, tuple[int, CanonicalOrder | UnmappableOrder]],
                     run_id: int | None, now: datetime, client_id: int, org_id: int) -> None:
    """Lines, their OMS items (:mod:`oms_bridge.store.order_items`), first status row, delivery rows and cancellation
    requests of newly inserted orders, one bulk insert per table.

    The delivery rows carry exactly what :func:`oms_bridge.store.outbox.arm` sets for a new row
    (pending, action create, attempts 0, order version 1): a brand-new order has no rows to re-arm.
    Held (unmappable, request-only) orders get none of these. A new order listed with a cancellation request
    gets what :func:`oms_bridge.store.cancel_requests.sync` makes for an order without request rows: an open
    request for version 1 and its ``cancel_answer`` row armed with action ``answer`` (held request-only orders
    too: their request is still answered).
    """
    ad = (client_id, org_id, now, now, True, 0, 0)
    lines, history, deliveries, requests = [], [], [], []
    for order_id, item in new.values():
        if isinstance(item, UnmappableOrder):
            continue
        request = item.cancel_request
        if request is not None:
            requests.append([order_id, "open", request.reference, request.reason, request.allowed,
                             request.requested_at, now, 1])
            deliveries.append([order_id, cancel_requests.DESTINATION, "pending", "answer", 0, 1, now])
        if item.request_only:
            continue
        for i, ln in enumerate(item.lines):
            lines.append([order_id, _line_no(i), ln.external_line_id, ln.sku, ln.name, ln.qty, ln.unit_price,
                          ln.discount])
        history.append([order_id, item.status, item.platform_status, now, run_id])
        for dest in DESTINATIONS:
            deliveries.append([order_id, dest, "pending", "create", 0, 1, None])
    for table, columns, rows in ((OrderLine.__table__, _LINE_COLUMNS, lines),
                                 (OrderStatus.__table__, _HISTORY_COLUMNS, history),
                                 (Delivery.__table__, _DELIVERY_COLUMNS, deliveries),
                                 (OrderCancelRequest.__table__, _REQUEST_COLUMNS, requests)):
        bulk.insert_rows(session, table, columns, [(*row, uu, *ad) for row, uu in zip(rows, new_uuids(len(rows)),
                                                                                          strict=True)])
    order_items.make_items_of(session, sorted({row[0] for row in lines}), now)


def _locked(session: Session, channel_id: int, key: str) -> Order:
    stmt = (select(Order).where(Order.oms_channel_id == channel_id, Order.external_id == key)
            .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one()


def _apply_request(session: Session, channel_id: int, key: str, item: CanonicalOrder, now: datetime) -> bool:
    """A request-only listing of a stored order: only its request changes (module doc). True when it did."""
    order = _locked(session, channel_id, key)
    synced = cancel_requests.sync(session, order, item, now=now)
    if not synced:
        return False
    transitions.bump(order, now)
    if synced.change == "opened":
        synced.row.order_version = order.version  # the version the OMS must read to know of the request
    session.flush()
    outbox.arm(session, order, ("oms",))  # the OMS reads the order again (now on hold)
    return True


def _update(session: Session, channel_id: int, key: str, item: CanonicalOrder | UnmappableOrder, digest: str,
            run_id: int | None, now: datetime) -> str:
    order = _locked(session, channel_id, key)
    if order.payload_hash == digest:
        return "unchanged"
    order.payload_hash = digest
    order.version += 1
    order.updated = now
    if isinstance(item, UnmappableOrder):
        for name, value in _held_values(item).items():
            setattr(order, name, value)
        return "changed"
    old_status = order.status
    values = _order_values(item)
    if values["tracking_number"] is None:
        del values["tracking_number"]  # a tracking number once known is kept (a later read may not carry it)
    for name, value in values.items():
        setattr(order, name, value)
    _sync_lines(order, item)
    if old_status != item.status:
        order.history.append(OrderStatus(status=item.status, platform_status=item.platform_status, changed_at=now,
                                         oms_process_run_id=run_id, ad_client_id=order.ad_client_id,
                                         ad_org_id=order.ad_org_id))
    session.flush()
    transitions.rearm(session, order, item.status)
    cancel_requests.sync(session, order, item, now=now)
    return "changed"


# ------------------------------------------------------------------------------------------ queries
def list_orders(session: Session, *, channel: str | None = None, status: str | None = None,
                held: bool | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest orders first, as plain dicts for CLI and web."""
    stmt = (select(Order, Channel.value).join(Channel, Channel.id == Order.oms_channel_id)
            .order_by(Order.order_created.desc().nulls_last(), Order.id.desc()).limit(limit))
    if channel:
        stmt = stmt.where(Channel.value == channel)
    if status:
        stmt = stmt.where(Order.status == status)
    if held is not None:
        stmt = stmt.where(Order.is_held == held)
    rows = session.execute(stmt).all()
    requested = cancel_requests.open_requests(session, [order.id for order, _chan in rows])
    return [{**_summary(order, chan), "cancel_request": order.id in requested} for order, chan in rows]


def count_orders(session: Session, channel_id: int) -> int:
    """How many orders a channel has in the store."""
    return session.scalar(select(func.count()).select_from(Order).where(Order.oms_channel_id == channel_id)) or 0


def _summary(order: Order, channel: str) -> dict[str, Any]:
    return {"channel": channel, "number": order.external_id, "status": order.status,
            "platform_status": order.platform_status, "created": order.order_created,
            "updated": order.order_updated, "currency": order.currency, "total": order.total_amount,
            "buyer": order.buyer_name, "version": order.version, "held": bool(order.is_held),
            "held_reason": order.held_reason}


def order_detail(session: Session, number: str, *, channel: str | None = None) -> dict[str, Any]:
    """One order with lines, status history and delivery states; :class:`OrderNotFound` otherwise."""
    stmt = (select(Order, Channel.value).join(Channel, Channel.id == Order.oms_channel_id)
            .where(Order.external_id == number)
            .options(selectinload(Order.lines), selectinload(Order.history)))
    if channel:
        stmt = stmt.where(Channel.value == channel)
    rows: Sequence[Any] = session.execute(stmt).all()
    if not rows:
        where = f" in channel {channel}" if channel else ""
        raise OrderNotFound(f"no order {number!r}{where}")
    if len(rows) > 1:
        chans = ", ".join(sorted(r[1] for r in rows))
        raise OrderNotFound(f"order number {number!r} exists in several channels ({chans}); add --channel")
    order, chan = rows[0]
    detail = _summary(order, chan)
    detail.update({
        "paid_at": order.paid_at, "payment_method": order.payment_method, "shipping_fee": order.shipping_fee,
        "discount": order.discount_amount, "buyer_email": order.buyer_email, "buyer_phone": order.buyer_phone,
        "ship_to": {"name": order.ship_name, "phone": order.ship_phone, "country": order.ship_country,
                    "city": order.ship_city, "district": order.ship_district, "zip": order.ship_zip,
                    "address1": order.ship_address1, "address2": order.ship_address2},
        "lines": [{"line": ln.line_no, "sku": ln.sku, "name": ln.name, "qty": ln.qty, "unit_price": ln.unit_price,
                   "discount": ln.discount} for ln in order.lines],
        "history": [{"status": h.status, "platform_status": h.platform_status, "at": h.changed_at,
                     "run": h.oms_process_run_id} for h in order.history],
        "cancel_requests": cancel_requests.views(session, order.id),
        "deliveries": [{"destination": d.destination, "state": d.state, "action": d.action,
                        "attempts": d.attempts, "version": d.order_version, "delivered_version": d.delivered_version,
                        "last_error": d.last_error, "erp_document_no": d.erp_document_no, "cause": d.cause_code,
                        "subject": d.cause_subject, "since": d.updated, "request": d.last_request,
                        "answer": d.last_answer, "sent_at": d.sent_at}
                       for d in session.scalars(select(Delivery).where(Delivery.oms_order_id == order.id)
                                                .order_by(Delivery.destination))],
    })
    return detail
