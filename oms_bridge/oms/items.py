"""Order items as the OMS sees them, on the OMS's reads: one ``oms_order_item`` per unit of an order line
(:mod:`oms_bridge.store.order_items` says why per unit, and that GetOrder makes the items of new orders).

:func:`ensure_items_of` makes sure a page's orders have their items when the OMS reads them: units the store lacks
(orders stored before items were made at ingest, a line added or a quantity raised later) are inserted, and when a
marketplace change lowers a line's quantity the surplus units are deactivated (``isactive='N'``), never renumbered.

:func:`apply_item_updates` is the body of ``order_item_bulk_update``: idempotent (the same update
twice changes nothing the second time) and all-or-nothing (validated before anything is written).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from oms_bridge.store.lists import one_of
from oms_bridge.store.models import Order, OrderLine, utcnow
from oms_bridge.store.models.oms import OmsOrderItem
from oms_bridge.store.order_items import Unit, insert_units, units_of
from oms_bridge.store.rows import columns_of, plain, record_type, records

__all__ = ["NOT_HELD", "item_rows", "ensure_items", "ensure_items_of", "ensure_missing_items",
           "ItemUpdate", "apply_item_updates"]

# Servable orders.
NOT_HELD = Order.is_held.is_(False)


_UNSERVED = ("uu", "created", "createdby", "updatedby", "oms_updated_at", "ad_client_id", "ad_org_id")


def item_rows(session: Session, order_ids: Iterable[int]) -> list[Any]:
    """The item rows of these orders as plain rows (:mod:`oms_bridge.store.rows`): read to be served, not changed
    (columns the OMS is never shown are left out: each UUID and time costs a conversion per row)."""
    return records(plain(session, _ITEM_ROWS, {"ids": list(order_ids)}))


#: built once, the page's orders as a parameter (see oms_bridge.oms.orders)
_ITEM_ROWS = select(*columns_of(OmsOrderItem, without=_UNSERVED)).where(
    one_of(OmsOrderItem.oms_order_id, "ids"))
#: the keys of the items of these orders, to learn the ids of units just inserted (three integers a row: reading
#: whole rows back cost more than the insert; a multi-row ``INSERT … RETURNING`` cost SQLite twice an executemany)
_ITEM_KEYS = select(OmsOrderItem.id, OmsOrderItem.oms_orderline_id, OmsOrderItem.unit_no).where(
    one_of(OmsOrderItem.oms_order_id, "ids"))


def ensure_items(session: Session, order: Order, lines: Sequence[OrderLine] | None = None,
                 existing: Sequence[OmsOrderItem] | None = None) -> list[Any]:
    """The order's active items (plain rows), creating missing units and deactivating surplus ones.

    ``existing``: the order's item rows when the caller loaded them in bulk (saves a query per order).
    """
    lines = list(order.lines if lines is None else lines)
    if existing is None:
        existing = item_rows(session, [order.id])
    return ensure_items_of(session, [(order, lines, existing)])[order.id]


def ensure_items_of(session: Session, orders: Sequence[tuple[Order, Sequence[OrderLine], Sequence[OmsOrderItem]]],
                    *, now: datetime | None = None) -> dict[int, list[Any]]:
    """:func:`ensure_items` for a page of orders (order, its lines, its loaded items) → order id → active items.

    Items come in and go out as plain rows (:func:`item_rows`): they are read to be served. Missing units of every
    order go in with one ``INSERT … ON CONFLICT DO NOTHING`` (a concurrent reader's row wins, ours is skipped),
    units to (de)activate with one ``UPDATE`` each way, and the orders touched are read back with one query, so a
    first read costs a few statements per page instead of three per unit. When every new unit went in (the
    driver's count says so), only their ids are read back and they are served as inserted; when a concurrent
    reader's rows won some keys, the orders' items are read back whole and theirs are served. A page with nothing
    to change writes nothing.
    """
    now = now or utcnow()
    keyed: dict[int, dict[tuple[int, int], Any]] = {}
    wanted: dict[int, list[tuple[int, int]]] = {}
    missing: list[Unit] = []
    flips: dict[bool, list[int]] = {True: [], False: []}
    touched: set[int] = set()  # orders to read back: those with new units ...
    flipped: set[int] = set()  # ... and those with units (de)activated
    for order, lines, existing in orders:
        by_key = keyed[order.id] = {(i.oms_orderline_id, i.unit_no): i for i in existing}
        keys = wanted[order.id] = [(line.id, unit) for line in lines for unit in range(1, units_of(line.qty) + 1)]
        for key in keys:
            item = by_key.get(key)
            if item is None:
                missing.append((order.id, *key, order.ad_client_id, order.ad_org_id))
                touched.add(order.id)
            elif not item.isactive:
                flips[True].append(item.id)
                flipped.add(order.id)
        for key in set(by_key) - set(keys):
            if by_key[key].isactive:
                flips[False].append(by_key[key].id)
                flipped.add(order.id)
    touched |= flipped
    if missing:
        went_in = insert_units(session, missing, now)
        if went_in == len(missing):  # all ours: their ids are all a page lacks to serve them as inserted
            keys = plain(session, _ITEM_KEYS, {"ids": sorted({m[0] for m in missing})}).tuples().all()
            made = {(line_id, unit): item_id for item_id, line_id, unit in keys}
            for order_id, line_id, unit, *_rest in missing:
                keyed[order_id][(line_id, unit)] = _new_item(order_id, line_id, unit, made[(line_id, unit)], now)
            touched = flipped
    for active, ids in flips.items():
        if ids:
            session.execute(update(OmsOrderItem).where(OmsOrderItem.id.in_(ids)).values(isactive=active, updated=now))
    if touched:
        for item in item_rows(session, touched):
            keyed[item.oms_order_id][(item.oms_orderline_id, item.unit_no)] = item
    out = {}
    for order_id, keys in wanted.items():
        by_key = keyed[order_id]
        out[order_id] = sorted((by_key[k] for k in set(keys)), key=lambda i: i.id)
    return out


_ITEM_FIELDS = tuple(column.key for column in columns_of(OmsOrderItem, without=_UNSERVED))
_ITEM_RECORD = record_type(_ITEM_FIELDS)
_ITEM_EMPTY = _ITEM_RECORD(*([None] * len(_ITEM_FIELDS)))


def _new_item(order_id: int, line_id: int, unit: int, item_id: int, now: datetime) -> Any:
    """The plain row :func:`item_rows` reads for an item just made with these values (every other column empty)."""
    return _ITEM_EMPTY._replace(oms_order_id=order_id, oms_orderline_id=line_id, unit_no=unit, id=item_id,
                                updated=now, isactive=True)


def ensure_missing_items(session: Session, limit: int = 1000) -> int:
    """Make items for orders that have none yet (before listing ``orderitem_set``); returns how many orders."""
    orders = session.scalars(
        select(Order).where(NOT_HELD)
        .where(~exists().where(OmsOrderItem.oms_order_id == Order.id)).order_by(Order.id).limit(limit)
    ).all()
    if not orders:
        return 0
    lines: dict[int, list[OrderLine]] = {}
    for line in session.execute(select(OrderLine.id, OrderLine.oms_order_id, OrderLine.qty).where(
            OrderLine.oms_order_id.in_([o.id for o in orders])).order_by(OrderLine.line_no)):
        lines.setdefault(line.oms_order_id, []).append(line)
    ensure_items_of(session, [(order, lines.get(order.id, []), []) for order in orders])
    return len(orders)


@dataclass(frozen=True)
class ItemUpdate:
    """One entry of an ``order_item_bulk_update`` body (None: leave the field as it is)."""

    id: int
    status: str | None = None
    tracking_number: str | None = None
    invoice_number: str | None = None
    invoice_date: datetime | None = None


def apply_item_updates(session: Session, updates: Iterable[ItemUpdate], *,
                       now: datetime | None = None) -> tuple[list[OmsOrderItem], list[int], list[int]]:
    """Apply the updates; returns (items, changed ids, unchanged ids). Unknown ids raise LookupError."""
    updates = list(updates)
    ids = [u.id for u in updates]
    items = {i.id: i for i in session.scalars(select(OmsOrderItem).where(OmsOrderItem.id.in_(ids)))}
    missing = [i for i in ids if i not in items]
    if missing:
        raise LookupError(missing)
    now = now or utcnow()
    changed: list[int] = []
    unchanged: list[int] = []
    for upd in updates:
        item = items[upd.id]
        dirty = False
        for name in ("status", "tracking_number", "invoice_number", "invoice_date"):
            value = getattr(upd, name)
            if value is not None and getattr(item, name) != value:
                setattr(item, name, value)
                dirty = True
        if dirty:
            item.oms_updated_at = now
            changed.append(item.id)
        else:
            unchanged.append(item.id)
    return list(items.values()), changed, unchanged
